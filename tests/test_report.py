"""The panel report: numbers, findings, sources, partial audits and the JSON export."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from ampaudit.recommenders.testing import running_service
from markupsafe import escape

from ampaudit.report import build_report, load_audit, render_html, schema, transparency_report
from ampaudit.report.analysis import COLUMNS, arm_key, comparison, findings, summary_metrics
from ampaudit.report.html import number
from ampaudit.report.source import AuditData
from ampaudit.stats import mean_ci
from ampaudit.tracking import PARENT_TAG
from tests.helpers import AUDIT, ampaudit, local_client, local_runs, parent_run_id

PAYLOAD = "<script>alert(1)</script>"


def _finals(values):
    """arm → replicate → metric from {arm: [per-replicate dicts]}."""
    return {arm: dict(enumerate(reps)) for arm, reps in values.items()}


# --- analysis -------------------------------------------------------------------------


def test_cells_are_means_with_scale_respecting_intervals_and_paired_differences():
    finals = _finals(
        {
            "treatment": [{"ctr": 0.5}, {"ctr": 0.7}, {"ctr": 0.6}],
            "+a": [{"ctr": 0.4}, {"ctr": 0.65}, {"ctr": 0.5}],
        }
    )
    cells = comparison(finals, ["treatment", "+a"], confidence=0.95)
    value = cells["+a", "ctr"].value
    # a share: Student-t on the logit of the mean (delta method), mapped back
    m, _, hi = mean_ci(np.array([0.4, 0.65, 0.5]))
    half = (hi - m) / (m * (1 - m))
    logit = np.log(m / (1 - m))
    assert value.mean == m
    assert value.low == pytest.approx(1 / (1 + np.exp(-(logit - half))), rel=1e-12)
    assert value.high == pytest.approx(1 / (1 + np.exp(-(logit + half))), rel=1e-12)
    paired = cells["+a", "ctr"].paired
    assert paired.mean == pytest.approx(np.mean([-0.1, -0.05, -0.1]))
    assert (paired.low, paired.high) == pytest.approx(
        mean_ci(np.array([-0.1, -0.05, -0.1]))[1:], rel=1e-12
    )
    assert cells["treatment", "ctr"].paired is None
    assert cells["+a", "drift"].value is None  # not recorded: n/a, not an error
    metrics = summary_metrics(cells)
    assert metrics["summary.with_a.ctr.mean"] == value.mean
    assert metrics["paired.with_a.ctr.low"] == paired.low


def test_findings_rank_harm_reduced_per_unit_of_cost():
    base = {"cons_share.extreme": 0.10, "ctr": 0.50}

    def arm(extreme, ctr, wrongful=0.0):
        return [
            {"cons_share.extreme": extreme + e, "ctr": ctr + e, "wrongful_removals": wrongful}
            for e in (0.0, 0.001, -0.001)
        ]

    finals = _finals(
        {
            "treatment": [{k: v + e for k, v in base.items()} for e in (0.0, 0.001, -0.001)],
            "+cheap": arm(0.08, 0.50),  # ~20% less harm for free
            "+costly": arm(0.05, 0.40),  # ~50% less harm for ~20% engagement
            "+harmful": arm(0.12, 0.50),  # more harm
            "+removes": arm(0.08, 0.50, wrongful=5.0),  # as cheap, but wrongful removals
        }
    )
    ranked = findings(finals, list(finals), confidence=0.95)
    assert [f.arm for f in ranked] == ["+cheap", "+removes", "+costly", "+harmful"]
    cheap = ranked[0]
    assert cheap.harm_reduced.mean == pytest.approx(20.0, abs=0.5)
    assert cheap.sentence(0.95).startswith("reduced extreme consumption by 20.")
    assert ranked[-1].sentence(0.95).startswith("increased extreme consumption by 20.")
    assert ranked[-1].score == -math.inf


def test_arm_keys_are_valid_mlflow_metric_names():
    from mlflow.utils.validation import _validate_metric_name

    for arm in ("control", "treatment", "+redirect", "+redirect+hash_removal"):
        _validate_metric_name(f"summary.{arm_key(arm)}.cons_share.extreme.mean")


# --- a real audit, read back from MLflow ------------------------------------------------


def test_audit_logs_the_comparison_on_its_parent_run(audited):
    cwd, parent = audited
    client = local_client(cwd)
    run = client.get_run(parent)
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    by_arm = {}
    for child in children:
        by_arm.setdefault(child.data.tags["arm"], []).append(child.data.metrics)
    assert set(by_arm) == {"control", "treatment", "+redirect", "+downrank", "+redirect+downrank"}
    for arm, runs in by_arm.items():
        for column in COLUMNS:
            stored = run.data.metrics.get(f"summary.{arm_key(arm)}.{column.key}.mean")
            if column.scale == "change":  # geometric mean of per-replicate reach ratios
                reach = {m["final.rec_reach.extreme"] for m in runs}
                ratios = [
                    float(t.data.metrics["final.amplification.extreme"]) + 1
                    for t in children
                    if t.data.tags["arm"] == arm
                ]
                expected = np.exp(np.mean(np.log(ratios))) - 1 if min(ratios) > 0 else None
                if expected is None or not reach:
                    continue
                assert stored is None or stored == pytest.approx(expected, rel=1e-9), arm
                continue
            values = [m[f"final.{column.key}"] for m in runs]
            assert stored == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12), column.key
    assert run.data.tags["command"] == (
        "ampaudit run " + " ".join(a if "[" not in a else f"'{a}'" for a in AUDIT)
    )


def test_report_command_writes_the_page_and_logs_it_as_an_artifact(audited, tmp_path):
    cwd, parent = audited
    out = tmp_path / "report.html"
    proc = ampaudit("report", parent, "-o", str(out), "--uri", str(cwd / "mlflow.db"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    # self-contained: nothing to fetch, no script at all
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"(src|href)\s*=\s*\"(?!#)", page)  # SVG's own #refs only
    assert page.count("<svg") >= 4
    assert "mathdefault" not in page  # tick labels are plain text (mathtext is off)
    for section in ("Summary", "Comparison of arms", "Methodology", "Reproducibility"):
        assert section in page
    assert "ampaudit run world=small" in page
    assert "seed=11" in page
    artifacts = {a.path for a in local_client(cwd).list_artifacts(parent)}
    assert "report.html" in artifacts


def test_experiment_name_reports_its_latest_audit(audited, tmp_path):
    cwd, parent = audited
    data = load_audit("ampaudit", uri=str(cwd / "mlflow.db"))
    assert data.run_id == parent
    assert data.arms == ["control", "treatment", "+redirect", "+downrank", "+redirect+downrank"]
    report = build_report(data)
    # findings are ordered by the documented score
    scores = [f.score for f in report.findings]
    assert scores == sorted(scores, reverse=True)
    assert {f.arm for f in report.findings} == {"+redirect", "+downrank", "+redirect+downrank"}
    assert report.n_replicates == 3
    assert report.n_steps == 12


def test_json_export_follows_its_schema_and_matches_the_page(audited, tmp_path):
    cwd, parent = audited
    out = tmp_path / "transparency.json"
    proc = ampaudit("report", parent, "-o", str(out), "--uri", str(cwd / "mlflow.db"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(document, schema())
    stored = local_client(cwd).get_run(parent).data.metrics
    for row in document["comparison"]:
        for key, cell in row["metrics"].items():
            if cell["value"] is not None and cell["value"]["mean"] is not None:
                assert cell["value"]["mean"] == stored[f"summary.{arm_key(row['arm'])}.{key}.mean"]
    assert set(document["definitions"]) >= {c.key for c in COLUMNS}
    assert document["reproducibility"]["seed_entropy"] == "11"
    printed = ampaudit("report", "--schema", cwd=cwd)
    assert json.loads(printed.stdout) == schema()


def test_exported_table_reports_with_its_methodology(audited, tmp_path):
    cwd, parent = audited
    table = tmp_path / "all.parquet"
    proc = ampaudit("export", "ampaudit", "-o", str(table), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    from_table = build_report(load_audit(str(table)))
    from_run = build_report(load_audit(parent, uri=str(cwd / "mlflow.db")))
    assert from_table.cells == from_run.cells
    assert from_table.data.config == from_run.data.config
    titles = [s.title for s in from_table.methodology]
    assert "Population" in titles
    assert "Intervention: downrank" in titles


# --- partial and hostile inputs ---------------------------------------------------------


def _table(tmp_path, frame, name="t.parquet"):
    path = tmp_path / name
    frame.to_parquet(path, index=False)
    return str(path)


def _tidy(arms, metrics, n_rep=2, label=None):
    rows = []
    for arm in arms:
        for r in range(n_rep):
            for key, value in metrics.items():
                rows.append((arm, (label or {}).get(arm, arm), r, f"final.{key}", -1, value + r))
            for step in range(3):
                rows.append((arm, (label or {}).get(arm, arm), r, "radicalised", step, 0.01 * step))
    return pd.DataFrame(
        rows, columns=["arm", "recommender", "replicate", "metric", "step", "value"]
    )


@pytest.mark.parametrize(
    ("arms", "metrics", "expected"),
    [
        (["treatment"], {"cons_share.extreme": 0.1}, "Only one arm"),
        (["control", "treatment"], {"cons_share.extreme": 0.1, "ctr": 0.5}, "no interventions"),
        (["control", "treatment", "+x"], {"cons_share.extreme": 0.1}, "was not recorded"),
        ([], {}, "nothing to show"),
    ],
    ids=["one-arm", "no-interventions", "missing-metrics", "empty"],
)
def test_partial_audits_render_with_a_note(tmp_path, arms, metrics, expected):
    frame = _tidy(arms, metrics) if arms else _tidy(["treatment"], {})[:0]
    report = build_report(load_audit(_table(tmp_path, frame)))
    page = render_html(report)
    assert expected in page
    assert "carries no configuration" in page
    jsonschema.validate(transparency_report(report), schema())


def test_running_audit_renders_what_has_finished(tmp_path):
    from ampaudit.tracking import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "live")
    parent = tracker.start_parent("mf vs random", {}, {"recommender": "mf", "control": "random"})
    for arm, value, status in (("control", 0.01, "FINISHED"), ("treatment", 0.03, None)):
        child = tracker.start_child(parent, arm, {}, {"arm": arm, "replicate": "0"})
        tracker.log_series(child, {"radicalised": np.array([0.0, 0.1])}, {"radicalised": value})
        if status:
            tracker.end(child, status)
    report = build_report(load_audit(parent, uri=str(tmp_path / "mlflow.db")))
    assert report.data.status == "RUNNING"
    assert report.data.arms == ["control"]
    page = render_html(report)
    assert "parent run is RUNNING: 1 of 2" in page
    assert "Only one arm" in page


def test_a_failed_audit_says_why_in_its_runs_and_its_report(tmp_path):
    faulty = Path(__file__).parent / "plugins" / "hostile_service.py"
    with running_service([sys.executable, str(faulty), "garbage"]) as url:
        run = ampaudit(
            "run",
            "recommender=remote",
            f"recommender.url={url}",
            "recommender.timeout_s=1",
            "recommender.retries=0",
            "world=small",
            "audit.n_steps=3",
            "audit.replicates=1",
            "audit.progress=false",
            cwd=tmp_path,
            timeout=120,
        )
    assert run.returncode == 1, run.stderr
    message = re.search(r"^ampaudit: error: (.*)$", run.stderr, re.MULTILINE).group(1)
    assert "sent invalid JSON" in message
    runs = local_runs(tmp_path)
    assert {r.info.status for r in runs} == {"FAILED"}
    reason = f"RemoteRecommenderError: {message}"
    assert {r.data.tags.get("error") for r in runs} == {reason}
    [parent] = [r.info.run_id for r in runs if PARENT_TAG not in r.data.tags]
    proc = ampaudit("report", parent, "-o", "r.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"parent run is FAILED ({escape(reason)})" in (tmp_path / "r.html").read_text()
    document = transparency_report(
        build_report(load_audit(parent, uri=str(tmp_path / "mlflow.db")))
    )
    jsonschema.validate(document, schema())
    assert document["audit"]["status"] == "FAILED"
    assert any(f"FAILED ({reason})" in note for note in document["notes"])


def test_missing_target_is_one_clear_error(tmp_path, audited):
    cwd, _ = audited
    proc = ampaudit("report", "no-such-audit", "-o", "r.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ampaudit: error: TARGET 'no-such-audit': no MLflow store at "
        f"sqlite:///{tmp_path / 'mlflow.db'} (pass --uri, or a table file)"
    ]
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "r.html").exists()
    proc = ampaudit("report", "nope", "-o", "r.html", "--uri", str(cwd / "mlflow.db"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "TARGET 'nope' is not a run id or an experiment" in proc.stderr
    assert "(experiments: Default, ampaudit)" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = ampaudit("report", "gone.parquet", "-o", "r.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such table file" in proc.stderr


def test_untrusted_names_render_as_text(tmp_path):
    frame = _tidy(
        ["control", "treatment", f"+{PAYLOAD}"],
        {"cons_share.extreme": 0.1, "ctr": 0.5},
        label={"treatment": PAYLOAD, f"+{PAYLOAD}": f"mf+{PAYLOAD}"},
    )
    frame.attrs["ampaudit"] = {}
    report = build_report(load_audit(_table(tmp_path, frame)))
    report.data.config = {
        "recommender": {"_target_": PAYLOAD, "name": PAYLOAD},
        "interventions": {PAYLOAD: {"_target_": PAYLOAD}},
        "audit": {"n_steps": 3},
    }
    report = build_report(report.data)
    page = render_html(report)
    assert PAYLOAD not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_numbers_are_shown_to_the_columns_digits():
    assert number(0.123456, 4) == "0.1235"
    assert number(-1e-9, 4) == "0.0000"
    assert number(float("inf"), 2) == "n/a"


def test_report_of_an_audit_data_needs_no_mlflow():
    data = AuditData(
        source="memory",
        finals=_finals({"control": [{"ctr": 0.5}], "treatment": [{"ctr": 0.6}]}),
        labels={"control": "random", "treatment": "mf"},
        arms=["control", "treatment"],
    )
    report = build_report(data)
    assert "one replicate" not in render_html(report)  # no finding sentences without arms
    assert report.cells["control", "ctr"].paired.mean == pytest.approx(-0.1)


def test_sock_puppet_curves_join_the_report_of_the_same_recommender(audited, tmp_path):
    import shutil

    cwd, parent = audited
    shutil.copy(cwd / "mlflow.db", tmp_path / "mlflow.db")
    proc = ampaudit(
        "run",
        "audit.mode=sock_puppet",
        "world=small",
        "audit.replicates=1",
        "audit.progress=false",
        "audit.sock_puppet.depth=4",
        "audit.sock_puppet.warmup_steps=2",
        "audit.sock_puppet.puppets_per_cell=2",
        "seed=5",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    uri = str(tmp_path / "mlflow.db")
    latest = load_audit("ampaudit", uri=uri)
    assert latest.run_id == parent  # the latest compare audit, not the sock puppets
    assert latest.sock is not None
    assert {p for p, _ in latest.sock} == {"random", "top1", "seeded", "utility"}
    assert next(iter(latest.sock.values())).shape == (1, 4)
    assert latest.sock_rank is not None
    assert latest.sock_rank.keys() == latest.sock.keys()
    page = render_html(build_report(latest))
    assert 'id="fig-sock"' in page
    assert "Mean rank of the puppets" in page  # the picks' utility rank, in the caption
    assert "No sock-puppet audit" not in page
    sock_run = parent_run_id(proc.stdout)
    alone = build_report(load_audit(sock_run, uri=uri))
    assert any("sock-puppet audit" in n for n in alone.notes)
    assert [f.key for f in alone.figures] == ["sock"]


def test_names_are_never_parsed_as_math_or_hidden():
    from ampaudit.report.figures import frontier, groups

    labels = {"treatment": "mf$\\foo$x", "+a": "_hidden", "+b": "a$x^$b"}
    finals = _finals(
        {
            arm: [
                {
                    "cons_share.extreme": 0.1 - 0.01 * i - e,
                    "ctr": 0.5,
                    "group.at_risk.radicalised": e,
                }
                for e in (0.0, 0.002)
            ]
            for i, arm in enumerate(["treatment", "+a", "+b"])
        }
    )
    ranked = findings(finals, list(finals), confidence=0.95)
    svg = frontier(ranked, labels).svg
    assert "_hidden" in svg
    assert "a$x^$b" in svg
    assert "mf$\\foo$x" in groups(finals, list(finals), labels).svg


def test_methodology_never_imports_modules_an_untrusted_config_names(monkeypatch):
    import importlib

    from ampaudit.report.methodology import methodology

    imported = []
    real = importlib.import_module
    monkeypatch.setattr(
        importlib, "import_module", lambda name, *a: imported.append(name) or real(name, *a)
    )
    sections = methodology(
        {
            "world": None,
            "recommender": {"_target_": "antigravity.Fly"},
            "interventions": {"x": {"_target_": "this.Zen"}, "y": None},
            "audit": {"n_steps": 3},
        },
        {},
    )
    assert imported
    assert all(name.startswith("ampaudit.") for name in imported)
    assert "Intervention: x" in [s.title for s in sections]


def test_report_notes_table_values_that_differ_from_the_stored_summary(audited):
    cwd, parent = audited
    data = load_audit(parent, uri=str(cwd / "mlflow.db"))
    assert data.stored_summary
    assert not any("differ from the summary" in n for n in build_report(data).notes)
    key = next(iter(data.stored_summary))
    data.stored_summary[key] += 1.0
    assert any("differ from the summary" in n for n in build_report(data).notes)


def test_unreadable_sources_are_one_clear_error(tmp_path):
    import socket

    (tmp_path / "broken.parquet").write_text("not parquet")
    proc = ampaudit("report", "broken.parquet", "-o", "r.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("ampaudit: error: TARGET 'broken.parquet' is not a readable")
    assert len(proc.stderr.strip().splitlines()) == 1
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = ampaudit(
        "report", "x", "-o", "r.html", "--uri", f"http://127.0.0.1:{port}", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"ampaudit: error: cannot read TARGET 'x' from http://127.0.0.1:{port}"
    )
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
