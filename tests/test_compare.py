"""Several audits on one page and in one terminal table (no MLflow needed)."""

from __future__ import annotations

import re

from ampaudit.report import build_comparison, comparison_text, render_comparison_html
from ampaudit.report.analysis import COLUMN
from ampaudit.report.compare import TERMINAL
from ampaudit.report.source import AuditData
from ampaudit.summary import cell
from ampaudit.sweep import point_labels

PAYLOAD = "<script>alert(1)</script>"


def _audit(rec, shift, n_rep=3, steps=10):
    """An audit in memory: control and treatment, ``n_rep`` replicates."""
    finals = {
        arm: {
            r: {
                "rec_share.extreme": 0.01 + shift * (arm == "treatment") + 0.001 * r,
                "cons_share.extreme": 0.02 + 0.002 * r,
                "amplification.extreme": (0.5 + 0.1 * r) * (arm == "treatment"),
                "radicalised": 0.015,
                "ctr": 0.3,
            }
            for r in range(n_rep)
        }
        for arm in ("control", "treatment")
    }
    return AuditData(
        source="memory",
        finals=finals,
        labels={"control": "chronological", "treatment": rec},
        arms=["control", "treatment"],
        config={"audit": {"n_steps": steps, "confidence": 0.9}},
        tags={"recommender": rec},
        run_id=f"{rec:0<32}"[:32],
    )


def test_terminal_rows_are_the_reports_estimates_with_verdicts():
    audits = [_audit("mf", 0.05), _audit("popularity", 0.02)]
    c = build_comparison(
        audits,
        [["recommender=mf", "seed=1"], ["recommender=popularity", "seed=1"]],
        title="Sweep 0123456789ab",
        source="memory",
    )
    assert c.confidence == 0.9  # the audits' own level
    lines = comparison_text(c).splitlines()
    assert lines[0] == "Sweep 0123456789ab: 2 audits (memory)"
    start = lines.index("recommender=popularity")
    row = re.split(r"\s{2,}", lines[start + 2].strip())
    report = c.points[1].report
    assert row == [
        "popularity",
        *(cell(COLUMN[k], report.cells["treatment", k].value) for k, _ in TERMINAL),
    ]
    control = re.split(r"\s{2,}", lines[start + 1].strip())
    assert control[0] == "chronological *"
    assert (
        control[TERMINAL.index(("reach_gain.extreme", "reach vs base /1000")) + 1] == "0 (itself)"
    )
    verdict = lines[start + 3].strip()
    assert verdict.startswith("popularity vs base: exposure ")
    assert str(report.verdicts[0].judged["reach_gain.extreme"].verdict) in verdict
    footnote = " ".join(lines[lines.index("") + 1 :])
    assert "Mean [90% CI] over 3 replicates per audit, horizon 10 steps" in footnote
    assert "control arm (chronological)" in footnote
    assert all(len(line) <= 100 for line in lines)


def test_one_replicate_prints_means_and_says_there_is_no_interval():
    c = build_comparison([_audit("mf", 0.05, n_rep=1)], [[]], title="t", source="s")
    text = comparison_text(c)
    assert "[" not in text.split("\n\n")[1]  # the table: means only
    assert "(1 rep.)" in text
    assert "no interval, no verdict from one replicate" in text


def test_comparison_page_escapes_untrusted_names_and_labels():
    audits = [_audit(PAYLOAD, 0.05), _audit("mf", 0.01)]
    c = build_comparison(
        audits, [[f"recommender={PAYLOAD}"], ["recommender=mf"]], title=PAYLOAD, source=PAYLOAD
    )
    page = render_comparison_html(c)
    assert PAYLOAD not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"<(script|link|img|iframe)\b", page)


def test_point_labels_name_what_varies_and_stay_unique():
    assert point_labels([["recommender=mf", "+x=1"], ["recommender=mf", "+x=2"]]) == [
        "x=1",
        "x=2",
    ]
    assert point_labels([["a=1"], []]) == ["a=1", "a unset"]
    assert point_labels([[], []]) == ["defaults #0", "defaults #1"]
    # seeds differ between unseeded audits; they name a point only when nothing else does
    assert point_labels([["seed=1", "a=1"], ["seed=2", "a=2"]]) == ["a=1", "a=2"]
    assert point_labels([["seed=1"], ["seed=2"]]) == ["seed=1", "seed=2"]
