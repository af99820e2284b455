"""Reports for review panels: a self-contained HTML page and a JSON transparency export.

``ampaudit report TARGET -o report.html`` reads an audit (an MLflow parent run, an
experiment's latest audit, or an exported table), computes the comparison and the
findings once (:mod:`~ampaudit.report.build`), and renders them
(:mod:`~ampaudit.report.html`, :mod:`~ampaudit.report.transparency`). Several audits
(a sweep's, or all of a TARGET's) go on one page with a table across them
(:mod:`~ampaudit.report.compare`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ampaudit.report.build import Report, build_report
from ampaudit.report.compare import (
    Comparison,
    build_comparison,
    comparison_text,
    render_comparison_html,
    write_comparison,
)
from ampaudit.report.html import render_html
from ampaudit.report.source import (
    AuditData,
    AuditSet,
    ReportSourceError,
    load_audit,
    load_audits,
    open_source,
)
from ampaudit.report.transparency import schema, transparency_report

__all__ = [
    "AuditData",
    "AuditSet",
    "Comparison",
    "Report",
    "ReportSourceError",
    "build_comparison",
    "build_report",
    "comparison_text",
    "load_audit",
    "load_audits",
    "open_source",
    "render_comparison_html",
    "render_html",
    "schema",
    "transparency_report",
    "write_comparison",
    "write_comparison_report",
    "write_report",
]

FORMATS = ("html", "json")


def write_report(
    target: str,
    output: str | Path,
    *,
    uri: str = "sqlite:///mlflow.db",
    fmt: str = "html",
    log_artifact: bool = True,
    audit: str | None = None,
) -> Report:
    """Write the report of ``target`` to ``output`` and log it to the audit's parent run.

    The file is written whole or not at all (a temporary file renamed into place).

    Parameters
    ----------
    target : str
        See :func:`~ampaudit.report.source.load_audit`.
    output : str or Path
        Where to write.
    uri : str, default="sqlite:///mlflow.db"
        MLflow tracking URI.
    fmt : {"html", "json"}, default="html"
    log_artifact : bool, default=True
        Also store the file as an artifact of the audit's parent run
        (``report.html`` or ``transparency.json``), when the target is a run.
    audit : str, optional
        Which of the audits ``target`` holds (a parent run id or a unique prefix);
        default: the latest (see :func:`~ampaudit.report.source.load_audit`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r} is not allowed: expected one of {', '.join(FORMATS)}")
    data = load_audit(target, uri=uri, audit=audit)
    report = build_report(data)
    if fmt == "html":
        text = render_html(report)
    else:
        text = json.dumps(transparency_report(report), indent=2, ensure_ascii=False) + "\n"
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, output)
    if log_artifact and data.status != "EXPORTED" and data.run_id is not None:
        from mlflow.tracking import MlflowClient

        from ampaudit.tracking import resolve_uri

        name = "report.html" if fmt == "html" else "transparency.json"
        MlflowClient(tracking_uri=resolve_uri(uri)).log_text(data.run_id, text, name)
    return report


def write_comparison_report(
    target: str,
    output: str | Path,
    *,
    uri: str = "sqlite:///mlflow.db",
    sweep: str | None = None,
    log_artifact: bool = True,
) -> Comparison:
    """Write one report comparing the audits ``target`` holds (or one sweep's).

    Parameters
    ----------
    target : str
        An experiment name or an exported table (a run id compares just that audit).
    output : str or Path
        Where to write the HTML page.
    uri : str, default="sqlite:///mlflow.db"
        MLflow tracking URI.
    sweep : str, optional
        Only the audits of this sweep (an id, or a unique prefix of one).
    log_artifact : bool, default=True
        With ``sweep`` and an MLflow target, also store the page as ``report.html``
        of the sweep's run (``sweep <id>``), as the sweep itself did.
    """
    found = load_audits(target, uri=uri, sweep=sweep)
    n = len(found.audits)
    comparison = build_comparison(
        found.audits,
        found.overrides,
        title=f"Sweep {found.sweep}" if found.sweep else f"{n} audit{'s' * (n != 1)}",
        source=found.where,
        sweep=found.sweep,
    )
    text = write_comparison(comparison, output)
    if log_artifact and found.sweep and found.audits[0].status != "EXPORTED":
        from ampaudit.sweep import sweep_run
        from ampaudit.tracking import reading_client

        client = reading_client(uri)
        run = sweep_run(client, found.sweep)
        if run is not None:
            client.log_text(run.info.run_id, text, "report.html")
    return comparison
