"""Social graph generators."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from ampaudit.simulations.graphs import GRAPH_KINDS, GraphConf, build_graph

from ampaudit.core.errors import ConfigError


@pytest.mark.parametrize("kind", [k for k in GRAPH_KINDS if k != "file"])
def test_generators_give_symmetric_csr_of_right_size(kind):
    adj, comm = build_graph(GraphConf(kind=kind), 400, rng=np.random.default_rng(0))
    assert adj.shape == (400, 400)
    assert (adj != adj.T).nnz == 0
    assert adj.diagonal().sum() == 0
    assert 5 < adj.nnz / 400 < 15  # mean degree near 10
    assert set(np.unique(comm)) == {0, 1, 2, 3}


def test_sbm_is_homophilous():
    adj, comm = build_graph(GraphConf(homophily=0.8), 2000, rng=np.random.default_rng(1))
    rows, cols = adj.nonzero()
    within = (comm[rows] == comm[cols]).mean()
    assert 0.75 < within < 0.85


def test_same_stream_same_graph():
    a, _ = build_graph(GraphConf(), 300, rng=np.random.default_rng(5))
    b, _ = build_graph(GraphConf(), 300, rng=np.random.default_rng(5))
    assert (a != b).nnz == 0


def test_graph_from_edge_list_and_graphml(tmp_path):
    g = nx.cycle_graph(20)
    edges = tmp_path / "g.edges"
    nx.write_edgelist(g, edges, data=False)
    gml = tmp_path / "g.graphml"
    nx.write_graphml(g, gml)
    for path in (edges, gml):
        conf = GraphConf(kind="file", path=str(path))
        conf.validate(25)
        adj, _ = build_graph(conf, 25, rng=np.random.default_rng(0))
        assert adj.shape == (25, 25)
        assert adj.nnz == 40


def test_file_graph_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"graph\.path"):
        GraphConf(kind="file", path=str(tmp_path / "missing.txt")).validate(10)
    bad = tmp_path / "bad.edges"
    bad.write_text("0 99\n")
    with pytest.raises(ConfigError, match=r"node ids in 0\.\.9"):
        build_graph(GraphConf(kind="file", path=str(bad)), 10, rng=np.random.default_rng(0))


def test_sbm_edge_counts_match_the_block_probabilities():
    from ampaudit.simulations.graphs import _sample_sbm

    sizes = np.array([300, 200])
    p = np.array([[0.05, 0.01], [0.01, 0.08]])
    counts = []
    for seed in range(20):
        adj = _sample_sbm(sizes, p, np.random.default_rng(seed))
        upper = sp.triu(adj, k=1).tocoo()
        block = (upper.row >= 300).astype(int), (upper.col >= 300).astype(int)
        counts.append(
            [((block[0] == a) & (block[1] == b)).sum() for a, b in [(0, 0), (0, 1), (1, 1)]]
        )
    mean = np.mean(counts, axis=0)
    expected = np.array([300 * 299 / 2 * 0.05, 300 * 200 * 0.01, 200 * 199 / 2 * 0.08])
    sd = np.sqrt(expected / 20)  # binomial ≈ Poisson spread of a 20-run mean
    assert np.all(np.abs(mean - expected) < 5 * sd)
