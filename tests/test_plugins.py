"""Third-party recommenders: import paths, entry points, and the check-recommender command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ampaudit.checks import check_recommender
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
