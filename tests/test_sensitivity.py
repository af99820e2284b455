"""``ampaudit sensitivity``: the design, the analysis, the command and its MLflow record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from ampaudit.core.errors import ConfigError
from ampaudit.sensitivity import (
    ConclusionConf,
    FactorConf,
    Robustness,
    SensitivityConf,
    analyse,
)
from ampaudit.sensitivity.analysis import paired_differences
from ampaudit.sensitivity.design import apply_point, sample
from ampaudit.sensitivity.table import robustness_table
from tests.helpers import ampaudit, local_client

FACTORS = {
    "a": FactorConf("behavior.p_follow", 0.05, 0.3),
    "b": FactorConf("behavior.drift_rate", 0.01, 0.1),
    "c": FactorConf("world.classifier_noise", 0.02, 0.25),
    "d": FactorConf("world.activity_mean", 0.1, 0.4),
}
CONCLUSION = {"up": ConclusionConf(claim="{recommender} up", metric="m", direction="increases")}

#: A real analysis, small enough for about a minute: 4 factors, 2 Morris trajectories
#: (10 audits), 4 steps, 1 replicate, on a 200-user world, through the joblib launcher.
COMMAND = [
    "sensitivity",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "world=small",
    "world.n_users=200",
    "audit.n_steps=4",
    "audit.replicates=1",
    "sensitivity.n=2",
    "seed=3",
    *(
        f"~sensitivity.factors.{name}"
        for name in ("outside", "b_appeal", "b_dist", "p_search", "social_rate")
    ),
]


def _conf(method="morris", n=4, **kw):
    return SensitivityConf(
        method=method, n=n, factors=dict(FACTORS), conclusions=dict(CONCLUSION), **kw
    )


def _finals(y_treatment, y_control=0.0, replicates=1, spread=0.0):
    return {
        "treatment": {r: {"m": y_treatment + spread * r} for r in range(replicates)},
        "control": {r: {"m": y_control} for r in range(replicates)},
    }


# -- config and design -------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"factors": {**FACTORS, "a": FactorConf("behavior.p_follow", 0.3, 0.3)}}, "a.high"),
        ({"factors": {"a": FACTORS["a"]}}, "sensitivity.factors"),
        ({"method": "fast"}, "sensitivity.method"),
        ({"method": "sobol", "n": 6}, "sensitivity.n"),
        ({"conclusions": {"up": ConclusionConf(claim="x", metric="m", direction="up")}}, "up."),
        ({"conclusions": {"bad name": CONCLUSION["up"]}}, "conclusions.bad name"),
    ],
)
def test_invalid_sensitivity_configs_name_their_field(change, field):
    settings = {"factors": dict(FACTORS), "conclusions": dict(CONCLUSION), **change}
    with pytest.raises(ConfigError, match="sensitivity") as info:
        SensitivityConf(**settings).validate()
    assert field in info.value.field


@pytest.mark.parametrize(("method", "rows"), [("morris", 4 * 5), ("sobol", 4 * 6)])
def test_design_is_seeded_and_inside_the_box(method, rows):
    conf = _conf(method)
    points = sample(conf, 7)
    assert points.shape == (rows, 4) == (conf.n_points(), 4)
    assert np.array_equal(points, sample(conf, 7))
    assert not np.array_equal(points, sample(conf, 8))
    low = np.array([f.low for f in FACTORS.values()])
    high = np.array([f.high for f in FACTORS.values()])
    assert ((points >= low - 1e-12) & (points <= high + 1e-12)).all()


def test_a_point_sets_its_row_of_the_design():
    conf = _conf(point=3)
    cfg = OmegaConf.create(
        {
            "behavior": {"p_follow": 0.15, "drift_rate": 0.05},
            "world": {"classifier_noise": 0.1, "activity_mean": 0.2},
            "seed": 11,
            "sensitivity": OmegaConf.structured(conf),
        }
    )
    out = apply_point(cfg)
    row = sample(conf, 11)[3]
    assert [out.behavior.p_follow, out.behavior.drift_rate] == pytest.approx(row[:2])
    assert [out.world.classifier_noise, out.world.activity_mean] == pytest.approx(row[2:])
    assert cfg.behavior.p_follow == 0.15  # the original is untouched
    cfg.sensitivity.point = conf.n_points()
    with pytest.raises(ConfigError, match=r"sensitivity\.point"):
        apply_point(cfg)


# -- the analysis on known outcomes --------------------------------------------


@pytest.mark.parametrize("method", ["morris", "sobol"])
def test_the_factor_that_drives_the_outcome_is_found(method):
    # Sobol' estimates need many base samples: at n=8 ST of the only factor can read 0.01
    conf = _conf(method, n=8 if method == "morris" else 64)
    points = sample(conf, 5)
    # the outcome rises with factor a only, and crosses zero inside its range
    finals = [_finals(10 * (row[0] - 0.1), replicates=2, spread=1e-4) for row in points]
    result = analyse(conf, points, finals, entropy=5, labels={"treatment": "mf"})
    (c,) = result.conclusions
    assert c.claim == "mf up"
    expected = float(np.mean(points[:, 0] > 0.1))
    assert c.holds_share.value == pytest.approx(expected)
    assert 0 <= c.holds_share.low <= c.holds_share.value <= c.holds_share.high <= 1
    assert c.holds == round(expected * len(points))
    assert [e.factor for e in c.drivers()] == ["a"]
    assert c.drivers()[0].sign == 1
    assert all(not e.matters for e in c.effects if e.factor != "a")
    assert 0 <= c.noise_share < 1e-3
    if method == "sobol":
        assert c.drivers()[0].first_order.value > 0.8
        assert all(0 <= e.index.low <= e.index.value <= e.index.high <= 1 for e in c.effects)
    again = Robustness.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.to_dict() == result.to_dict()
    table = robustness_table(result)
    assert max(map(len, table.splitlines())) <= 100
    assert "a+" in table


def test_missing_points_and_flat_outcomes_say_why_there_are_no_indices():
    conf = _conf()
    points = sample(conf, 1)
    finals = [_finals(0.5) for _ in points]
    finals[2] = None
    (c,) = analyse(conf, points, finals, entropy=1, labels={}).conclusions
    assert (c.n_points, c.holds, c.effects) == (len(points) - 1, len(points) - 1, [])
    assert "1 of 20 points" in c.note
    (flat,) = analyse(conf, points, [_finals(0.5)] * len(points), entropy=1, labels={}).conclusions
    assert flat.verdict == "held at all 20 points"
    assert "did not vary" in flat.note
    assert flat.confirmed is None  # one replicate per point: no interval of its own


def test_a_conclusion_that_leans_the_other_way_fails():
    conf = _conf()
    points = sample(conf, 2)
    finals = [_finals(-0.1 - row[1], replicates=3, spread=0.01) for row in points]
    (c,) = analyse(conf, points, finals, entropy=2, labels={}).conclusions
    assert c.verdict == "failed at all 20 points"
    assert c.confirmed == 0
    assert c.holds_share.high < 0.5


def test_replicates_that_disagree_mark_the_drivers_as_noise():
    conf = _conf(n=8)
    points = sample(conf, 4)
    rng = np.random.default_rng(0)
    # a small real effect of factor b under replicate noise 100 times larger
    finals = [
        {
            "treatment": {r: {"m": 0.01 * row[1] + rng.normal(0, 1)} for r in range(3)},
            "control": {r: {"m": 0.0} for r in range(3)},
        }
        for row in points
    ]
    (c,) = analyse(conf, points, finals, entropy=4, labels={}).conclusions
    assert c.noise_share > 0.5
    assert c.noisy
    table = robustness_table(analyse(conf, points, finals, entropy=4, labels={}))
    (row,) = [line for line in table.splitlines() if line.startswith("up ")]
    assert "mostly noise" in row
    # the same effect measured without noise is not flagged
    clean = [_finals(0.01 * row[1], replicates=3) for row in points]
    (c,) = analyse(conf, points, clean, entropy=4, labels={}).conclusions
    assert c.noise_share == 0
    assert not c.noisy
    assert [e.factor for e in c.drivers()] == ["b"]


def test_untrusted_results_are_refused():
    with pytest.raises(ValueError, match="not a sensitivity result"):
        Robustness.from_dict({"id": "x"})
    good = analyse(_conf(), sample(_conf(), 1), [_finals(1.0)] * 20, entropy=1, labels={})
    data = good.to_dict()
    data["conclusions"][0]["holds"] = 99
    with pytest.raises(ValueError, match="holds=99"):
        Robustness.from_dict(data)


# -- the command ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("sensitivity.factors.p_follow.low=0.7", "sensitivity.factors.p_follow.high"),
        ("sensitivity.factors.p_follow.path=behavior.nope", "sensitivity.factors.p_follow.path"),
        ("sensitivity.factors.p_follow.high=0.95", "sensitivity.factors.p_follow.high"),
        ("sensitivity.conclusions.radicalises.metric=nope", "radicalises.metric"),
        ("sensitivity.conclusions.downrank_reduces.arm=+redirect", "downrank_reduces.arm"),
        ("recommender=mf,popularity", "recommender"),
    ],
)
def test_a_bad_analysis_fails_before_any_work_in_one_line(tmp_path, override, field):
    proc = ampaudit("sensitivity", "world=small", override, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"ampaudit: error: {field}") or field in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()  # nothing was logged


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """``(folder, stdout, sensitivity run id, first report)`` of a real analysis."""
    cwd = tmp_path_factory.mktemp("sensitivity")
    audit = ampaudit(
        "run",
        "world=small",
        "world.n_users=200",
        "audit.n_steps=4",
        "audit.replicates=2",
        "interventions=[downrank]",
        "audit.progress=false",
        "seed=3",
        cwd=cwd,
    )
    assert audit.returncode == 0, audit.stderr[-2000:]
    before = cwd / "before.html"
    report = ampaudit("report", "ampaudit", "-o", before, "--uri", cwd / "mlflow.db", cwd=cwd)
    assert report.returncode == 0, report.stderr
    proc = ampaudit(*COMMAND, cwd=cwd, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = proc.stdout.split("sensitivity run=")[1].split()[0]
    return cwd, proc.stdout, run_id, before


def test_indices_of_every_conclusion_are_logged_to_mlflow(analysed):
    cwd, stdout, run_id, _ = analysed
    client = local_client(cwd)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mode"] == "sensitivity"
    assert run.data.params["sensitivity.method"] == "morris"
    assert run.data.params["sensitivity.n_points"] == "10"
    metrics = run.data.metrics
    conclusions = ("amplifies_reach", "radicalises", "downrank_reduces")
    factors = ("p_follow", "drift_rate", "classifier_noise", "activity")
    for c in conclusions:
        assert 0 <= metrics[f"sensitivity.{c}.holds_share"] <= 1
        assert (
            0
            <= metrics[f"sensitivity.{c}.holds_share_low"]
            <= metrics[f"sensitivity.{c}.holds_share"]
            <= metrics[f"sensitivity.{c}.holds_share_high"]
            <= 1
        )
    # a conclusion whose outcome varies over the space has μ* for every factor
    varied = [c for c in conclusions if f"sensitivity.{c}.p_follow.mu_star" in metrics]
    assert "amplifies_reach" in varied
    for c in varied:
        for f in factors:
            assert metrics[f"sensitivity.{c}.{f}.mu_star"] >= 0
            assert metrics[f"sensitivity.{c}.{f}.mu_star_low"] >= 0
    path = client.download_artifacts(run_id, "sensitivity.json", str(cwd))
    with open(path) as f:
        result = Robustness.from_dict(json.load(f))
    assert result.run_id == run_id
    assert len(result.points) == 10
    assert all(p["run"] for p in result.points)
    # the shares are what the points' own arm runs hold, recomputed here
    for c in result.conclusions:
        conf = {
            "amplifies_reach": ("treatment", "control", "rec_reach.extreme", 1),
            "radicalises": ("treatment", "control", "radicalised", 1),
            "downrank_reduces": ("+downrank", "treatment", "cons_share.extreme", -1),
        }[c.name]
        holds = 0
        for point in result.points:
            finals = {}
            for child in client.search_runs(
                [run.info.experiment_id], f"tags.mlflow.parentRunId = '{point['run']}'"
            ):
                arm, rep = child.data.tags["arm"], int(child.data.tags["replicate"])
                finals.setdefault(arm, {})[rep] = {
                    k[6:]: v for k, v in child.data.metrics.items() if k.startswith("final.")
                }
            d = paired_differences(finals, conf[0], conf[1], conf[2])
            holds += bool(conf[3] * d.mean() > 0)
        assert c.holds == holds
        assert metrics[f"sensitivity.{c.name}.holds_share"] == pytest.approx(holds / 10)
    assert "How robust is each conclusion?" in stdout
    table = stdout.split("\nMLflow:")[0]  # the re-run command after it is never wrapped
    assert max(len(line) for line in table.splitlines()) <= 100


def test_a_rerun_with_the_same_seed_reuses_the_finished_points(analysed):
    cwd, _stdout, run_id, _ = analysed
    client = local_client(cwd)
    experiment = client.get_run(run_id).info.experiment_id
    before = len(client.search_runs([experiment], max_results=1000))
    proc = ampaudit(*COMMAND, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = proc.stdout.split("sensitivity run=")[1].split()[0]
    assert again != run_id
    # one new run (the analysis), no new audit: same design, same seed, same points
    assert len(client.search_runs([experiment], max_results=1000)) == before + 1
    first, second = client.get_run(run_id).data.metrics, client.get_run(again).data.metrics
    assert first == second


def test_the_report_says_when_there_is_no_sensitivity_analysis(analysed):
    _, _, _, before = analysed
    html = before.read_text()
    assert 'id="no-robustness"' in html
    assert "ampaudit sensitivity recommender=mf" in html


# -- the panel report ----------------------------------------------------------

PAYLOAD = "<script>alert(1)</script>"


def test_the_robustness_section_renders_in_chromium(analysed, chromium, tmp_path):
    from ampaudit.report.browser import visit

    cwd, _, _, _ = analysed
    out = tmp_path / "report.html"
    proc = ampaudit("report", "ampaudit", "-o", out, "--uri", cwd / "mlflow.db", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    seen = visit(out, chromium=chromium)
    assert seen.console == []
    assert seen.requests == [out.resolve().as_uri()]
    assert "How robust is the conclusion?" in seen.text
    assert "Ranges varied" in seen.text
    client = local_client(cwd)
    experiment = client.get_experiment_by_name("ampaudit").experiment_id
    parents = [
        r
        for r in client.search_runs([experiment], max_results=1000)
        if "mlflow.parentRunId" not in r.data.tags
    ]
    (audit,) = [
        r for r in parents if "mode" not in r.data.tags and "sensitivity_id" not in r.data.tags
    ]
    assert audit.info.run_id in seen.text  # the panel's audit, not one of the points
    latest = max(
        (r for r in parents if r.data.tags.get("mode") == "sensitivity"),
        key=lambda r: r.info.start_time,
    )
    assert latest.info.run_id in seen.text
    stored = latest.data.metrics
    keys = {key for key, _, _ in seen.robustness}
    for c in ("amplifies_reach", "radicalises", "downrank_reduces"):
        assert f"sensitivity.{c}.holds_share" in keys
    for key, value, text in seen.robustness:
        assert float(value) == stored[key], key
        if key.endswith("holds_share"):
            assert text == f"{100 * stored[key]:.0f}%"
    assert "behavior.p_follow" in seen.text
    assert "world.activity_mean" in seen.text


def test_untrusted_text_of_an_analysis_stays_text(analysed, chromium, tmp_path):
    from ampaudit.report import build_report, load_audit, render_html
    from ampaudit.report.browser import visit

    cwd, _, _, _ = analysed
    data = load_audit("ampaudit", uri=str(cwd / "mlflow.db"))
    assert data.robustness is not None
    data.robustness.conclusions[0].claim = PAYLOAD
    data.robustness.factors[0]["why"] = PAYLOAD
    data.robustness.factors[0]["path"] = PAYLOAD
    out = tmp_path / "hostile.html"
    out.write_text(render_html(build_report(data)))
    seen = visit(out, chromium=chromium)
    assert seen.dialogs == []
    assert seen.console == []
    assert seen.text.count(PAYLOAD) >= 3
