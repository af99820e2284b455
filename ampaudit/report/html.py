"""Render a :class:`~ampaudit.report.build.Report` as one self-contained HTML page.

The page makes no network request: styles are inline, figures are inline SVG and
there is no script. Every string from the audit (recommender and intervention
names, config values, notes) is untrusted and goes through Jinja2's autoescaping;
only matplotlib's SVG, whose text matplotlib's XML writer escapes, is inserted as
markup.
"""

from __future__ import annotations

from typing import Any

from ampaudit.report.analysis import (
    COLUMNS,
    COST_FLOOR,
    RELATIVE_MARGIN,
    VERDICT_ROWS,
    Estimate,
    arm_key,
    number,
)
from ampaudit.report.build import Report, factor_meaning
from ampaudit.report.definitions import CITATIONS, LIMITATIONS, METRICS

__all__ = ["environment", "number", "render_html"]


def environment() -> Any:
    """The Jinja2 environment of ampaudit's pages: autoescaped, templates in the package."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("ampaudit.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    return env


def render_html(report: Report) -> str:
    """The report as an HTML document (a string)."""
    data = report.data
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            data=data,
            columns=COLUMNS,
            metrics=METRICS,
            citations=CITATIONS,
            limitations=LIMITATIONS,
            arm_key=arm_key,
            cost_floor=COST_FLOOR,
            roles={"control": "baseline", "treatment": "recommender alone"},
            finite=_finite,
            interventions=report.interventions,
            verdict_rows=VERDICT_ROWS,
            relative_margin=RELATIVE_MARGIN,
            factor_meaning=factor_meaning,
        )
    )


def _finite(est: Estimate | None) -> bool:
    return est is not None and est.has_interval
