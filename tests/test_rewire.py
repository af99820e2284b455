"""Watch-next rewiring: segregation identities and the greedy algorithm (Fabbri et al. 2022)."""

from __future__ import annotations

import numpy as np
from ampaudit.interventions.rewire import fundamental_matrix, rewire, segregation


def _graph(n=60, d=6, harmful_share=0.4, seed=0):
    rng = np.random.default_rng(seed)
    harmful = np.arange(n) < int(harmful_share * n)
    # harmful items link mostly to harmful ones (a rabbit hole), others at random
    links = np.empty((n, d), dtype=np.int64)
    for u in range(n):
        pool = np.flatnonzero(harmful) if harmful[u] and rng.random() < 0.8 else np.arange(n)
        pool = pool[pool != u]
        links[u] = rng.choice(pool, size=d, replace=False)
    relevance = rng.random((n, n))
    return links, relevance, harmful


def test_segregation_is_d_over_b():
    # 4 harmful items, each with d = 5 links: b = 2 non-harmful, 3 harmful
    harmful = np.array([True] * 4 + [False] * 4)
    links = np.array(
        [[(u + 1) % 4, (u + 2) % 4, (u + 3) % 4, 4, 5] for u in range(4)] + [[0, 1, 2, 3, 4]] * 4
    )
    np.testing.assert_allclose(segregation(links, harmful), 5 / 2)


def test_rank_one_updates_match_reinversion_and_z_never_rises():
    links, relevance, harmful = _graph()
    result = rewire(links, relevance, harmful, budget=15, tau=0.0)
    assert len(result.moves) == 15
    exact = fundamental_matrix(result.links, harmful).sum(axis=1)
    np.testing.assert_allclose(result.z_history[-1], exact, atol=1e-9)
    for before, after in zip(result.z_history, result.z_history[1:], strict=False):
        assert np.all(after <= before + 1e-12)


def test_every_rewiring_meets_the_relevance_constraint():
    links, relevance, harmful = _graph(seed=3)
    tau = 0.9
    result = rewire(links, relevance, harmful, budget=10, tau=tau)
    for u, v, w in result.moves:
        assert not harmful[w]
        assert relevance[u, w] >= tau * relevance[u, v]


def test_greedy_beats_random_on_the_median_graph():
    gains = []
    for seed in range(10):
        links, relevance, harmful = _graph(seed=seed)
        z0 = segregation(links, harmful).sum()
        greedy = rewire(links, relevance, harmful, budget=10, tau=0.5).z_history[-1].sum()
        rand = (
            rewire(
                links,
                relevance,
                harmful,
                budget=10,
                tau=0.5,
                strategy="random",
                rng=np.random.default_rng(seed),
            )
            .z_history[-1]
            .sum()
        )
        gains.append((z0 - greedy) - (z0 - rand))
    assert np.median(gains) > 0


def test_rewire_intervention_lowers_watch_next_segregation_in_an_audit():
    from ampaudit.interventions import RewireInterventionConf

    from ampaudit.audit import run_audit
    from ampaudit.config import validate

    from .conftest import small_run_conf

    conf = small_run_conf("item_knn", n_steps=12, replicates=1)
    conf.interventions = {
        "rewire": RewireInterventionConf(budget=30, tau=0.0, every=5, threshold=0.5)
    }
    validate(conf)
    run = next(r for r in run_audit(conf).runs if r.arm == "+rewire")
    before = run.final["extra.rewire.z_mean_before"]
    after = run.final["extra.rewire.z_mean_after"]
    assert after < before
    assert np.isfinite(run.final["extra.rewire.relevance_lost"])


def _flagged_watch_next(world, r, interventions):
    """Watch-next consumption of flagged items (classifier score >= 0.6) in one run."""
    from ampaudit.recommenders import REGISTRY
    from ampaudit.simulations import AuditModel, BehaviorConf

    from ampaudit.core.categories import WATCH_NEXT

    model = AuditModel(
        world,
        REGISTRY["item_knn"](),
        behavior=BehaviorConf(p_watch_next=0.5),
        n_steps=30,
        slate_size=10,
        n_candidates=20,
        rng=np.random.default_rng(r),
        recommender_rng=np.random.default_rng(100 + r),
        interventions=interventions,
    )
    model.run()
    log = model.log
    watched = log.items[log.channels == WATCH_NEXT]
    return int((model.catalog.score[watched] >= 0.6).sum())


def test_rewire_lowers_flagged_watch_next_consumption_paired_over_replicates():
    from ampaudit.interventions import RewireIntervention
    from ampaudit.simulations import GraphConf, build_world
    from scipy import stats

    from .conftest import small_world_conf

    diffs = []
    for r in range(6):
        world = build_world(
            small_world_conf(), GraphConf(), n_steps=30, rng=np.random.default_rng(r)
        )
        plain = _flagged_watch_next(world, r, [])
        rewire_ = RewireIntervention(budget=200, tau=0.0, every=3, threshold=0.6, d=5)
        rewire_.seed = r
        diffs.append(_flagged_watch_next(world, r, [rewire_]) - plain)
    diff = np.array(diffs, dtype=float)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    # common random numbers: the same users, draws and lists until rewire acts
    assert diff.mean() + half < 0, diffs
