"""Third-party plugins: import paths, entry points, and the check-* commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ampaudit.checks import check_intervention, check_recommender
from ampaudit.core.categories import CATEGORIES
from ampaudit.core.errors import ConfigError
from ampaudit.plugins import resolve_recommender
from tests.helpers import cli

PLUGINS = Path(__file__).parent / "plugins"


def test_broken_recommender_fails_named_checks():
    sys.path.insert(0, str(PLUGINS))
    try:
        results = {
            r.name: r
            for r in check_recommender(resolve_recommender("broken_recommender:BrokenRecommender"))
        }
    finally:
        sys.path.remove(str(PLUGINS))
    for name in ("check_fit_returns_self", "check_no_duplicates", "check_no_unavailable"):
        assert results[name].status == "fail", name


def test_check_recommender_command_reports_and_exits_nonzero():
    proc = cli("check-recommender", "broken_recommender:BrokenRecommender", extra_path=[PLUGINS])
    assert proc.returncode == 1
    assert "FAIL  check_no_duplicates" in proc.stdout
    assert "FAIL  check_fit_returns_self" in proc.stdout
    assert "PASS  check_protocol" in proc.stdout


def test_check_recommender_command_passes_a_builtin():
    proc = cli("check-recommender", "item_knn")
    assert proc.returncode == 0, proc.stdout
    assert "FAIL" not in proc.stdout


def test_unknown_target_is_one_clear_error():
    with pytest.raises(ConfigError, match="built-in or plugin name"):
        resolve_recommender("nosuchthing")
    proc = cli("check-recommender", "nosuchmodule:Rec")
    assert proc.returncode == 2
    assert "recommender='nosuchmodule:Rec'" in proc.stderr


def test_entry_point_plugin_is_checked(installed_plugin):
    proc = cli("check-recommender", "freshpop", extra_path=[installed_plugin])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SKIP  check_config_mirrors_constructor" in proc.stdout


def test_observe_that_forgets_the_base_class_fails_only_the_freshness_check():
    sys.path.insert(0, str(PLUGINS))
    try:
        target = resolve_recommender("stale_recommender:StaleObserveRecommender")
        results = {r.name: r for r in check_recommender(target)}
    finally:
        sys.path.remove(str(PLUGINS))
    failed = {name for name, r in results.items() if r.status == "fail"}
    assert failed == {"check_observe_keeps_state_fresh"}, results
    assert "super().observe(batch)" in results["check_observe_keeps_state_fresh"].message


def test_check_summary_counts_skips_apart_from_passes(capsys):
    from ampaudit.cli import check_command

    sys.path.insert(0, str(PLUGINS))
    try:
        code = check_command(["broken_recommender:BrokenRecommender"])
        results = check_recommender(resolve_recommender("broken_recommender:BrokenRecommender"))
    finally:
        sys.path.remove(str(PLUGINS))
    n = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    assert n["skip"] > 0  # the broken plugin has no observe, related or Conf
    summary = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert summary == f"{n['pass']} passed, {n['fail']} failed, {n['skip']} skipped"
    assert code == 1


def test_help_texts_name_service_urls_as_targets(capsys):
    from ampaudit.cli import check_command, main

    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    check_usage = usage.split("check-recommender", 1)[1].split("serve-stub", 1)[0]
    assert "http(s):// URL of a recommender service" in check_usage
    with pytest.raises(SystemExit):
        check_command(["--help"])
    assert "http(s):// URL of a recommender service" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["recommender=plugin", "recommender.name=popularity", "+recommender.params.windw=5"],
            "recommender.params.windw=5 is not allowed: expected a parameter of "
            "PopularityRecommender: window, retrain_every,",
        ),
        (
            [
                "recommender=popularity",
                "recommender._target_=stale_recommender.StaleObserveRecommender",
                "+recommender.foo=1",
            ],
            "recommender.foo=1 is not allowed: expected a parameter of "
            "StaleObserveRecommender: window, retrain_every,",
        ),
    ],
)
def test_misspelt_parameter_is_one_line_naming_its_field(tmp_path, overrides, expected):
    # a tiny audit, so that a regression (the key silently dropped) fails in seconds
    tiny = ["world=small", "audit.n_steps=1", "audit.replicates=1", "audit.progress=false"]
    run = cli("run", *overrides, *tiny, "tracking=none", extra_path=[PLUGINS], cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert run.stderr.startswith(f"ampaudit: error: {expected}")


def test_missing_conf_skip_says_what_the_dataclass_is_for(installed_plugin):
    sys.path.insert(0, str(installed_plugin))
    try:
        results = {r.name: r for r in check_recommender(resolve_recommender("freshpop"))}
    finally:
        sys.path.remove(str(installed_plugin))
    skip = results["check_config_mirrors_constructor"]
    assert skip.status == "skip"
    assert "no FreshPopularityConf dataclass in mypkg (optional: add one" in skip.message
    assert "_target_ and exactly the constructor's parameters and defaults" in skip.message
    assert "Hydra type-checks a configs/recommender/<name>.yaml" in skip.message


# -- interventions -----------------------------------------------------------------

TINY = ["tracking=none", "seed=3", "world=small", "audit.n_steps=6", "audit.replicates=1"]


def _plugin_arm(result, arm):
    return next(r for r in result.runs if r.arm == arm)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        # an installed package, found by its entry point in group ampaudit.interventions
        ("hide_low", ["interventions=[hide_low]", "+interventions.hide_low.params.threshold=0.2"]),
        # the same class by import path, under a config key of the user's choosing
        (
            "mine",
            [
                "+interventions.mine._target_=ivpkg.HideLowScoreIntervention",
                "+interventions.mine.threshold=0.2",
            ],
        ),
    ],
    ids=["entry-point", "target"],
)
def test_third_party_intervention_runs_and_its_restrictive_action_is_collateral(
    installed_intervention, name, overrides
):
    from ampaudit.audit import run_audit
    from ampaudit.config import compose_conf

    result = run_audit(compose_conf([*TINY, "audit.progress=false", *overrides]))
    run = _plugin_arm(result, f"+{name}")
    hidden = {c: run.final[f"action.{name}.hidden.{c}"] for c in CATEGORIES}
    assert hidden["mainstream"] > 0  # low scores are mostly mainstream: pure collateral
    legitimate = hidden["mainstream"] + hidden["news"] + hidden["counter"]
    assert run.final["collateral"] == legitimate
    assert _plugin_arm(result, "treatment").final["collateral"] == 0


def test_undeclared_action_is_a_clear_error(installed_intervention, small_world):
    from ivpkg import ForgetfulIntervention

    from ampaudit.core.intervention import UndeclaredActionError
    from tests.helpers import audit_model

    iv = ForgetfulIntervention()
    iv.name = "forgetful"
    model = audit_model(small_world, "popularity", n_steps=2, n_candidates=20, interventions=[iv])
    with pytest.raises(UndeclaredActionError) as info:
        model.run()
    message = str(info.value)
    assert "'forgetful' recorded action 'zapped', which it does not declare" in message
    assert "(declared: hidden)" in message
    assert "ForgetfulIntervention.actions" in message
    results = {r.name: r for r in check_intervention(ForgetfulIntervention)}
    assert results["check_actions_declared"].status == "fail"
    assert "'zapped'" in results["check_actions_declared"].message


def test_base_class_refuses_an_undeclared_action_before_recording():
    from types import SimpleNamespace

    import numpy as np
    from ampaudit.interventions import DownrankIntervention

    from ampaudit.core.intervention import UndeclaredActionError

    recorded = []
    view = SimpleNamespace(record_action=lambda *args: recorded.append(args))
    iv = DownrankIntervention()
    iv.reset(view, np.random.default_rng(0))
    iv.record("demoted", np.array([1]))
    with pytest.raises(UndeclaredActionError, match="'DownrankIntervention' recorded action"):
        iv.record("removed", np.array([2]))
    assert [a[:2] for a in recorded] == [("DownrankIntervention", "demoted")]


def test_unknown_intervention_lists_builtins_and_plugins(installed_intervention):
    from ampaudit.config import compose_conf
    from ampaudit.plugins import resolve_intervention

    with pytest.raises(ConfigError, match=r"interventions='nosuch'.*downrank.*hide_low"):
        compose_conf([*TINY, "interventions=[nosuch]"])
    with pytest.raises(
        ConfigError, match=r"intervention='nosuch'.*\(redirect, .*hide_low.*\) or an import path"
    ):
        resolve_intervention("nosuch")
    with pytest.raises(ConfigError, match=r"interventions\.hide_low\.params\.thresh=0\.5"):
        compose_conf(
            [*TINY, "interventions=[hide_low]", "+interventions.hide_low.params.thresh=0.5"]
        )
    with pytest.raises(ConfigError, match=r"interventions\.hide_low\.name='nope'.*hide_low"):
        compose_conf([*TINY, "interventions=[hide_low]", "interventions.hide_low.name=nope"])


def test_check_intervention_command_and_run_find_the_plugin(installed_intervention, tmp_path):
    proc = cli("check-intervention", "hide_low", extra_path=[installed_intervention])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  check_actions_declared" in proc.stdout
    assert "SKIP  check_intervention_config" in proc.stdout  # no Conf dataclass: optional
    proc = cli("check-intervention", "forgetful", extra_path=[installed_intervention])
    assert proc.returncode == 1
    assert "FAIL  check_actions_declared" in proc.stdout
    run = cli(
        "run",
        *TINY,
        "audit.progress=false",
        "interventions=[hide_low]",
        extra_path=[installed_intervention],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "+hide_low" in run.stdout
