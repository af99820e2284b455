"""Reports for review panels: a self-contained HTML page and a JSON transparency export.

``ampaudit report TARGET -o report.html`` reads an audit (an MLflow parent run, an
experiment's latest audit, or an exported table), computes the comparison and the
findings once (:mod:`~ampaudit.report.build`), and renders them
(:mod:`~ampaudit.report.html`, :mod:`~ampaudit.report.transparency`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ampaudit.report.build import Report, build_report
from ampaudit.report.html import render_html
from ampaudit.report.source import AuditData, ReportSourceError, load_audit
from ampaudit.report.transparency import schema, transparency_report

__all__ = [
    "AuditData",
    "Report",
    "ReportSourceError",
    "build_report",
    "load_audit",
    "render_html",
    "schema",
    "transparency_report",
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
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r} is not allowed: expected one of {', '.join(FORMATS)}")
    data = load_audit(target, uri=uri)
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
