"""One report across several audits: the points of a sweep, or every audit of a TARGET.

It opens with a comparison table (one row per audit × arm, each audit labelled by
the overrides that differ between the audits), then gives each audit's own summary,
table and figures. Every audit's numbers come from
:func:`~ampaudit.report.build.build_report`, so they are the numbers of that audit's
own report; the terminal table (:func:`comparison_text`) shows the same estimates.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ampaudit import __version__
from ampaudit.report.analysis import (
    COLUMN,
    COLUMNS,
    RELATIVE_MARGIN,
    VERDICT_ROWS,
    Estimate,
    arm_key,
)
from ampaudit.report.build import Report, build_report
from ampaudit.report.definitions import CITATIONS, LIMITATIONS, METRICS
from ampaudit.report.figures import Figure
from ampaudit.report.source import AuditData
from ampaudit.sweep import point_labels

__all__ = [
    "ABOUT",
    "ACROSS",
    "TERMINAL",
    "Comparison",
    "Point",
    "build_comparison",
    "comparison_text",
    "render_comparison_html",
    "write_comparison",
]

#: (metric key, column title) of the terminal table; estimates as ``ampaudit run`` prints.
TERMINAL: tuple[tuple[str, str], ...] = (
    ("rec_share.extreme", "extreme recs %"),
    ("cons_share.extreme", "extreme cons. %"),
    ("reach_gain.extreme", "reach vs base /1000"),
    ("radicalised", "radicalised %"),
)
#: Columns of the page's table across audits (each audit's section shows them all).
ACROSS: tuple[str, ...] = (
    "rec_share.extreme",
    "cons_share.extreme",
    "reach_gain.extreme",
    "amplification.extreme",
    "radicalised",
    "ctr",
)
#: What each verdict is about, in the terminal's words (keys of ``VERDICT_ROWS``).
ABOUT = {
    "reach_gain.extreme": "exposure",
    "cons_share.extreme": "consumption",
    "drift": "drift",
    "radicalised": "radicalised",
}
WIDTH = 100
_ID = re.compile(r'(\bid="|url\(#|href="#)')


@dataclass
class Point:
    """One audit of a comparison.

    Attributes
    ----------
    label : str
        The overrides that set this audit apart (``recommender=mf``).
    report : Report
        The audit's own report.
    anchor : str
        Its section's id on the page (``point-1``).
    """

    label: str
    report: Report
    anchor: str

    @property
    def has_arms(self) -> bool:
        """Whether the audit has arms to compare (a sock-puppet audit has none)."""
        return bool(self.report.data.arms) and self.report.data.tags.get("mode") != "sock_puppet"


@dataclass
class Comparison:
    """Several audits, read and built once for the terminal table and the page.

    Attributes
    ----------
    title : str
        What is compared (``Sweep 3f2ac1d9e0ab``).
    source : str
        Where the audits were read.
    points : list of Point
        In sweep (job) order, or oldest first.
    confidence : float
        Level of every interval (the same for all points).
    notes : list of str
        What is missing, mixed or partial.
    sweep : str or None
        The sweep id, when the audits are one sweep's.
    """

    title: str
    source: str
    points: list[Point]
    confidence: float
    notes: list[str] = field(default_factory=list)
    sweep: str | None = None
    generated: str = ""
    generator: str = f"ampaudit {__version__}"

    @property
    def compared(self) -> list[Point]:
        """The points with arms, the rows of the comparison table."""
        return [p for p in self.points if p.has_arms]

    def footnote(self, marker: str = " (*)") -> str:
        """Baseline, horizon, replicates and interval method of every number, in words.

        ``marker`` follows "baseline": how the table marks the baseline's rows.
        """
        reports = [p.report for p in self.compared]
        if not reports:
            return ""
        steps = sorted({r.n_steps for r in reports if r.n_steps is not None})
        horizon = (
            f"horizon {_range(steps)} steps" + (" (per audit: see each section)" * (len(steps) > 1))
            if steps
            else "horizon not recorded"
        )
        reps = sorted({r.n_replicates for r in reports})
        if reps == [1]:
            over = "Mean of 1 replicate per audit (no interval, no verdict from one replicate)"
        else:
            over = f"Mean [{self.confidence:.0%} CI] over {_range(reps)} replicates per audit"
            over += " (no interval from one)" * (reps[0] == 1)
        baselines = ", ".join(sorted({r.baseline for r in reports}))
        bases = {r.data.tags.get("amplification_basis", "rec_reach") for r in reports}
        reached = " or ".join(
            "exposed to extreme content by any channel (baseline none)"
            if b == "reach"
            else "recommended at least one extreme item"
            for b in sorted(bases, reverse=True)
        )
        return (
            f"{over}, {horizon}; baseline{marker} = each audit's control arm ({baselines}). Shares "
            "of all feed slots (recs) and of everything consumed, and the radicalised "
            "fraction at the end, in percent (intervals on the logit scale stay within "
            f"0-100%); reach vs base: users per 1,000 {reached}, arm minus baseline in the "
            "same replicate (paired Student-t). Verdicts: each arm against the baseline, "
            f"paired; no measurable change = within ±{RELATIVE_MARGIN:.0%} of the baseline's "
            "level (±0.005 for drift), as in each audit's report."
        )


def _range(values: list[int]) -> str:
    """``5`` or ``5-10``."""
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}-{values[-1]}"


def build_comparison(
    audits: list[AuditData],
    overrides: list[list[str]],
    *,
    title: str,
    source: str,
    sweep: str | None = None,
    confidence: float | None = None,
) -> Comparison:
    """Build every audit's report and label each by the overrides that differ.

    Parameters
    ----------
    audits : list of AuditData
    overrides : list of list of str
        Per audit, the overrides that made it (a sweep job's, or its command's).
    title, source : str
        What is compared and where it was read, for the page and the terminal.
    sweep : str, optional
        The sweep id.
    confidence : float, optional
        Level of every interval; default: the audits' own level when they agree,
        else 0.95 (with a note).
    """
    notes = []
    levels = {float(((a.config or {}).get("audit") or {}).get("confidence", 0.95)) for a in audits}
    if confidence is None:
        confidence = levels.pop() if len(levels) == 1 else 0.95
        if levels:
            notes.append(
                "The audits asked for different confidence levels; every interval here "
                f"is at {confidence:.0%}."
            )
    labels = point_labels(overrides, ids=[a.run_id or "" for a in audits])
    points = [
        Point(label, build_report(data, confidence=confidence), f"point-{i + 1}")
        for i, (label, data) in enumerate(zip(labels, audits, strict=True))
    ]
    for point in points:
        point.report.figures = [_own_ids(f, point.anchor) for f in point.report.figures]
    sock = [p.label for p in points if not p.has_arms]
    if sock:
        notes.append(
            f"{len(sock)} of the audits {'has' if len(sock) == 1 else 'have'} no arms to "
            f"compare (sock-puppet audits, or nothing finished): {', '.join(sock)}; their "
            "sections follow the table."
        )
    unfinished = [p.label for p in points if p.report.data.status not in ("FINISHED", "EXPORTED")]
    if unfinished:
        notes.append(
            f"{len(unfinished)} of the audits did not finish ({', '.join(unfinished)}): "
            "their rows show only the replicates that did."
        )
    return Comparison(
        title=title,
        source=source,
        points=points,
        confidence=confidence,
        notes=notes,
        sweep=sweep,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _own_ids(figure: Figure, anchor: str) -> Figure:
    """The figure with its SVG ids prefixed by the point's anchor: unique on the page."""
    svg = _ID.sub(lambda m: f"{m.group(1)}{anchor}-", figure.svg)
    return Figure(figure.key, figure.title, svg, figure.alt)


def _cell(key: str, arm: str, est: Estimate | None) -> str:
    """A terminal cell, formatted as ``ampaudit run`` formats it."""
    from ampaudit.summary import cell

    column = COLUMN[key]
    if column.versus and arm == "control":
        return "0 (itself)"
    return cell(column, est)


def comparison_text(comparison: Comparison) -> str:
    """The comparison as a terminal table: one line per audit, then one row per arm.

    Each audit's line is its label (the overrides that set it apart); under it, one
    row per arm with the metrics of :data:`TERMINAL` (the same estimates as the
    report), then each arm's verdicts against the baseline, then the baseline,
    horizon and interval method of every number.
    """
    header = ["arm", *(title for _, title in TERMINAL)]
    blocks: list[tuple[Point, list[list[str]]]] = []
    for point in comparison.points:
        r = point.report
        rows = []
        if point.has_arms:
            for arm in r.data.arms:
                name = r.data.labels.get(arm, arm) + " *" * (arm == "control")
                cells = [_cell(key, arm, r.cells[arm, key].value) for key, _ in TERMINAL]
                rows.append(["  " + name, *cells])
        blocks.append((point, rows))
    table = [header, *(row for _, rows in blocks for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    n = len(comparison.points)
    out = [f"{comparison.title}: {n} audit{'s' * (n != 1)} ({comparison.source})", ""]
    out += [line(header), line(["-" * w for w in widths])]
    for point, rows in blocks:
        if not rows:
            out.append(f"{point.label}: no arms to compare (see its report section)")
            continue
        out.append(point.label)
        out += [line(row) for row in rows]
        for v in point.report.verdicts:
            said = "; ".join(f"{ABOUT[k]} {v.judged[k].verdict}" for k, _ in VERDICT_ROWS)
            label = point.report.data.labels.get(v.arm, v.arm)
            out += textwrap.wrap(
                f"{label} vs base: {said}",
                WIDTH,
                initial_indent="    ",
                subsequent_indent="      ",
                break_on_hyphens=False,
            )
    out.append("")
    out += textwrap.wrap(comparison.footnote(), WIDTH, break_on_hyphens=False)
    for note in comparison.notes:
        out += textwrap.wrap("Note: " + note, WIDTH, break_on_hyphens=False)
    return "\n".join(out)


def render_comparison_html(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page (no script, nothing fetched)."""
    from ampaudit.report.html import environment

    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            c=comparison,
            columns=COLUMNS,
            across=[COLUMN[k] for k in ACROSS],
            metrics=METRICS,
            citations=CITATIONS,
            limitations=LIMITATIONS,
            arm_key=arm_key,
            finite=lambda e: e is not None and e.has_interval,
            roles={"control": "baseline", "treatment": "recommender alone"},
            verdict_rows=VERDICT_ROWS,
            relative_margin=RELATIVE_MARGIN,
        )
    )


def write_comparison(comparison: Comparison, output: str | Path) -> str:
    """Write the comparison page to ``output`` whole or not at all; return its text."""
    text = render_comparison_html(comparison)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, output)
    return text
