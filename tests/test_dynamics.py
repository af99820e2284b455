"""``audit.mode=dynamics``: opinion dynamics alone, against the papers (REFERENCES §2)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from ampaudit.recommenders.people import PeopleRecommenderConf
from ampaudit.simulations.opinion import OpinionConf
from scipy import stats

from ampaudit.config import validate
from ampaudit.core.errors import ConfigError
from ampaudit.core.seeding import replicate_streams
from ampaudit.dynamics import DynamicsConf, dynamics_table, run_dynamics, simulate
from ampaudit.estimands import ratio_of_means
from ampaudit.polarization import cluster_sizes
from ampaudit.tracking import MlflowTracker
from tests.helpers import ampaudit

from .conftest import small_run_conf

N_RUNS = 10


def _runs(conf: DynamicsConf, *, n_agents=1000, n_steps=1000, entropy=2026, n_runs=N_RUNS):
    """``final`` and opinions of ``n_runs`` replicates from a uniform start."""
    out = []
    for r in range(n_runs):
        streams = replicate_streams(entropy, r)
        x0 = np.random.default_rng(streams["world"]).random(n_agents)
        _, final, x = simulate(
            x0, conf=conf, n_steps=n_steps, rng=np.random.default_rng(streams["behavior"])
        )
        out.append((final, x0, x))
    return out


def _deffuant(eps, **kw):
    return DynamicsConf(
        opinion=OpinionConf(epsilon=eps, mu=0.5, symmetric=True, schedule="pairwise"), **kw
    )


# -- Deffuant et al. (2000) ----------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.10, 0.15, 0.20, 0.25, 0.30, 0.35])
def test_deffuant_effective_clusters_fall_in_the_reference_band(eps):
    # REFERENCES §2: N = 1,000, 10 runs, uniform start, symmetric pairwise meetings;
    # measured 4.31, 2.85, 2.01, 1.98 for eps = 0.10 ... 0.25
    runs = _runs(_deffuant(eps))
    assert all(final["converged"] for final, _, _ in runs)
    mean = np.mean([final["effective_clusters"] for final, _, _ in runs])
    if eps < 0.3:
        assert abs(mean - math.floor(1 / (2 * eps) + 1e-9)) <= 1
    else:
        assert mean < 1.1


def test_settled_deffuant_conserves_the_mean_and_its_clusters_are_at_least_eps_apart():
    eps = 0.15
    conf = replace(_deffuant(eps), stop="settled")
    for final, x0, x in _runs(conf, n_agents=300, n_runs=3, n_steps=5000):
        assert final["converged"]
        assert final["settled"]
        assert abs(x.mean() - x0.mean()) < 1e-12
        assert x.var() <= x0.var()
        assert x.min() >= x0.min()
        assert x.max() <= x0.max()
        # settled: clusters are points, and distinct ones are at least eps apart
        sizes = cluster_sizes(x, resolution=1e-3)
        xs = np.sort(x)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ends = np.cumsum(sizes) - 1
        assert np.all(xs[ends] - xs[starts] < 1e-5)
        assert np.all(xs[starts[1:]] - xs[ends[:-1]] >= eps)
        assert final["n_clusters"] == len(sizes)


def test_a_quiet_step_can_come_before_the_run_settles():
    runs = _runs(_deffuant(0.15), n_runs=10)
    assert all(final["converged"] for final, _, _ in runs)
    # stray pairs still within eps that had not met: quiet, not settled
    assert not all(final["settled"] for final, _, _ in runs)


# -- Hegselmann & Krause (2002) ---------------------------------------------------------------
def _hk(eps):
    return DynamicsConf(opinion=OpinionConf(model="hk", epsilon=eps))


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
def test_hk_converges_in_tens_of_steps(eps):
    runs = _runs(_hk(eps), n_steps=100)
    assert all(final["converged"] for final, _, _ in runs)


def test_hk_reaches_consensus_for_large_eps_and_several_clusters_for_small():
    mean = {
        eps: np.mean([f["effective_clusters"] for f, _, _ in _runs(_hk(eps))])
        for eps in (0.05, 0.1, 0.3)
    }
    assert mean[0.3] < 1.1  # consensus
    assert mean[0.1] >= 2.5  # several: roughly floor(1 / (2 eps)) = 5, measured 3.6
    assert mean[0.05] > mean[0.1] + 1  # more for smaller eps (measured 7.4)


# -- partner selection -------------------------------------------------------------------
def _biased(gamma, signal="opinion", n_agents=200):
    return DynamicsConf(
        n_agents=n_agents,
        opinion=OpinionConf(epsilon=0.4, mu=0.5, symmetric=True, schedule="pairwise"),
        people=PeopleRecommenderConf(
            mode="similar", signal=signal, gamma=gamma, n_candidates=n_agents
        ),
    )


def test_similarity_bias_on_true_opinions_slows_convergence_paired_over_seeds():
    # Sîrbu et al. (2019): a similarity-biased partner choice slows consensus. Same
    # seeds for both, so each pair shares its start and its draws (common random numbers)
    times = {}
    for gamma in (0.0, 1.2):
        runs = _runs(_biased(gamma), n_agents=200, n_steps=1000, entropy=7)
        assert all(final["converged"] for final, _, _ in runs)
        assert all(final["effective_clusters"] < 1.1 for final, _, _ in runs)  # consensus
        times[gamma] = {r: final["convergence_time"] for r, (final, _, _) in enumerate(runs)}
    slowdown = ratio_of_means(times[1.2], times[0.0], confidence=0.95)
    assert slowdown.low > 0.5  # measured x2.99 [2.84, 3.13]
    paired = stats.wilcoxon(list(times[1.2].values()), list(times[0.0].values()))
    assert paired.pvalue < 0.01


def test_gamma_has_no_effect_on_the_consumption_signal_without_content():
    def final_opinions(gamma, signal):
        (_, _, x), *_ = _runs(_biased(gamma, signal, n_agents=100), n_agents=100, n_runs=1)
        return x

    assert np.array_equal(final_opinions(0.0, "consumption"), final_opinions(3.0, "consumption"))
    assert not np.array_equal(final_opinions(0.0, "opinion"), final_opinions(3.0, "opinion"))


def test_anchoring_keeps_agents_off_a_common_opinion():
    free, anchored = (
        _runs(replace(_deffuant(0.35), anchoring=rho), n_agents=300, n_runs=1, n_steps=200)[0][0]
        for rho in (0.0, 0.05)
    )
    assert free["converged"]
    assert free["mean_pairwise_distance"] < 1e-5
    assert not anchored["converged"]
    assert anchored["mean_pairwise_distance"] > 0.01


# -- the runner, its config and its command -------------------------------------------------
def _run_conf(**dynamics):
    conf = small_run_conf(n_steps=40, replicates=3)
    conf.audit.mode = "dynamics"
    conf.dynamics = replace(DynamicsConf(n_agents=200), **dynamics)
    return conf


def test_runner_is_reproducible_and_records_every_step():
    conf = _run_conf()
    validate(conf)
    a, b = run_dynamics(conf, entropy=5), run_dynamics(conf, entropy=5)
    assert [r.final for r in a.runs] == [r.final for r in b.runs]
    assert not np.array_equal(a.runs[0].x, a.runs[1].x)  # replicates differ
    run = a.runs[0]
    steps = int(run.final["steps"])
    assert all(len(v) == steps + 1 for v in run.series.values())  # index 0: the start
    assert math.isnan(run.series["max_change"][0])
    assert run.series["effective_clusters"][0] > 50  # a uniform start is many clusters
    text = dynamics_table(a)
    assert "effective clusters (end)" in text
    assert "counts: Student-t interval on the log of the mean" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_world_start_uses_the_world_population_and_graph():
    conf = _run_conf(init="world", opinion=OpinionConf(epsilon=None, mu=0.5, symmetric=True))
    conf.dynamics.people.mode = "graph"
    validate(conf)
    result = run_dynamics(conf, entropy=5)
    assert result.n_agents == conf.world.n_users
    assert len(result.runs[0].x) == conf.world.n_users


def test_runs_are_logged_as_a_parent_with_a_child_per_replicate(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "dyn")
    result = run_dynamics(_run_conf(), entropy=5, tracker=tracker, params={"seed": "5"})
    client = tracker.client
    runs = client.search_runs([tracker.experiment_id])
    assert len(runs) == 1 + 3
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["mode"] for r in runs} == {"dynamics"}
    child = next(r for r in runs if r.info.run_id == result.runs[0].run_id)
    history = client.get_metric_history(child.info.run_id, "dynamics.effective_clusters")
    assert len(history) == int(result.runs[0].final["steps"]) + 1


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("init", "lattice", r"dynamics\.init='lattice'.*uniform, world"),
        ("n_agents", 1, r"dynamics\.n_agents=1.*>= 2"),
        ("tol", 0.0, r"dynamics\.tol=0\.0.*> 0"),
        ("anchoring", 2.0, r"dynamics\.anchoring=2\.0"),
        ("stop", "bored", r"dynamics\.stop='bored'.*quiet, settled"),
    ],
)
def test_bad_dynamics_fields_are_config_errors(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        validate(_run_conf(**{field: value}))


def test_null_epsilon_and_graph_partners_need_a_world():
    with pytest.raises(ConfigError, match=r"dynamics\.opinion\.epsilon=None.*init=uniform"):
        validate(_run_conf(opinion=OpinionConf(epsilon=None)))
    conf = _run_conf()
    conf.dynamics.people.mode = "graph"
    with pytest.raises(ConfigError, match=r"dynamics\.people\.mode='graph'.*init=uniform"):
        validate(conf)


def test_cli_runs_dynamics_without_tracking(tmp_path):
    proc = ampaudit(
        "run",
        "audit.mode=dynamics",
        "tracking=none",
        "seed=1",
        "audit.replicates=2",
        "audit.progress=false",
        "dynamics.n_agents=300",
        "dynamics.opinion.epsilon=0.3",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Opinion dynamics: deffuant (ε=0.3, μ=0.5, symmetric, pairwise)" in proc.stdout
    assert "effective clusters (end)" in proc.stdout
    assert "Converged" in proc.stdout
    assert "add seed=1 to re-run exactly" in proc.stdout
    assert not (tmp_path / "mlflow.db").exists()


def test_cli_bad_dynamics_field_fails_fast_with_one_message(tmp_path):
    proc = ampaudit("run", "audit.mode=dynamics", "dynamics.opinion.model=voter", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "ampaudit: error: dynamics.opinion.model='voter' is not allowed: "
        "expected one of deffuant, hk"
    )
    assert not (tmp_path / "mlflow.db").exists()  # nothing created before validation


def test_a_dynamics_run_is_never_the_audit_a_report_means():
    from ampaudit.report.source import AuditRef, own_audits

    dyn = AuditRef("d", "deffuant", tags={"mode": "dynamics"})
    audit = AuditRef("a", "mf vs chronological", tags={"mode": "compare"})
    assert own_audits([dyn, audit]) == [audit]
    assert own_audits([dyn]) == []
