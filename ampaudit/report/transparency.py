"""The transparency-report export: a report's figures and definitions as JSON.

The document follows ``transparency.schema.json`` (JSON Schema 2020-12, shipped
with the package and printed by ``ampaudit report --schema``), so a platform or a
panel can publish it and others can check it mechanically. Undefined numbers
(an interval from one replicate) are ``null``, never NaN, which JSON lacks.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from ampaudit.estimands import Verdict
from ampaudit.report.analysis import COLUMNS, COST_FLOOR, Estimate
from ampaudit.report.build import Report
from ampaudit.report.definitions import CITATIONS, LIMITATIONS, METRICS

__all__ = ["SCHEMA_ID", "schema", "transparency_report"]

SCHEMA_ID = "https://ampaudit.org/schemas/transparency-report/2.json"


def schema() -> dict[str, Any]:
    """The JSON Schema of :func:`transparency_report`'s output."""
    text = resources.files("ampaudit.report").joinpath("transparency.schema.json").read_text()
    return dict(json.loads(text))


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _estimate(est: Estimate | None) -> dict[str, Any] | None:
    if est is None:
        return None
    return {
        "mean": _num(est.mean),
        "ci_low": _num(est.low),
        "ci_high": _num(est.high),
        "n": est.n,
        "scale": est.scale,
        "method": est.method,
        "note": est.note,
    }


def _verdict(said: Verdict | None) -> dict[str, Any] | None:
    if said is None:
        return None
    return {"kind": said.kind, "text": str(said), "replicates_needed": said.needed}


def transparency_report(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict (see :func:`schema`)."""
    data = report.data
    return {
        "$schema": SCHEMA_ID,
        "schema_version": 2,
        "generated": report.generated,
        "generator": report.generator,
        "audit": {
            "source": data.source,
            "run_id": data.run_id,
            "status": data.status,
            "recommender": report.recommender,
            "system": data.tags.get("system"),
            "evidence": [
                {"what": e.what, "run_id": e.run_id, "runs": list(e.runs)} for e in data.evidence
            ],
            "baseline": report.baseline,
            "interventions": report.interventions,
            "horizon_steps": report.n_steps,
            "replicates": report.n_replicates,
            "confidence": report.confidence,
        },
        "summary": {
            "headline": report.headline,
            "ranking": (
                "harm reduced / max(engagement cost, "
                f"{COST_FLOOR}%), ties by fewer wrongful removals, then less collateral"
            ),
            "findings": [
                {
                    "arm": f.arm,
                    "label": data.labels.get(f.arm, f.arm),
                    "text": f.sentence(report.confidence),
                    "harm_reduced_pct": _estimate(f.harm_reduced),
                    "engagement_cost_pct": _estimate(f.engagement_cost),
                    "wrongful_removals": f.wrongful_removals,
                    "collateral": f.collateral,
                    "comparable": f.comparable,
                    "score": _num(f.score),
                    "verdict": _verdict(f.verdict),
                }
                for f in report.findings
            ],
            "verdicts": [
                {
                    "arm": v.arm,
                    "label": data.labels.get(v.arm, v.arm),
                    "text": v.sentence,
                    "quantities": {
                        key: {"estimate": _estimate(j.estimate), "verdict": _verdict(j.verdict)}
                        for key, j in v.judged.items()
                    },
                }
                for v in report.verdicts
            ],
        },
        "comparison": [
            {
                "arm": arm,
                "label": data.labels.get(arm, arm),
                "metrics": {
                    c.key: {
                        "value": _estimate(report.cells[arm, c.key].value),
                        "paired_vs_recommender": _estimate(report.cells[arm, c.key].paired),
                    }
                    for c in COLUMNS
                },
            }
            for arm in data.arms
        ],
        "definitions": {
            key: {
                "title": d.title,
                "definition": d.definition,
                "citation": CITATIONS[d.citation],
            }
            for key, d in METRICS.items()
        },
        "methodology": [
            {
                "title": s.title,
                "text": s.text,
                "parameters": [{"name": n, "value": v, "meaning": m} for n, v, m in s.parameters],
            }
            for s in report.methodology
        ],
        "limitations": list(LIMITATIONS),
        "notes": list(report.notes),
        "reproducibility": {
            "ampaudit_version": data.tags.get("ampaudit_version"),
            "git_commit": data.tags.get("git_commit"),
            "seed_entropy": data.tags.get("seed_entropy"),
            "command": report.command,
        },
    }
