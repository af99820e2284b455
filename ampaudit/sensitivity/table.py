"""The terminal table of a sensitivity analysis (at most 100 columns)."""

from __future__ import annotations

import textwrap

from ampaudit.sensitivity.analysis import ConclusionResult, FactorEffect, Robustness

__all__ = ["drivers_text", "robustness_table", "share_text"]

WIDTH = 100


def share_text(c: ConclusionResult) -> str:
    """``87% [70%, 95%]``: where the conclusion held, with its Wilson interval.

    Examples
    --------
    >>> from ampaudit.sensitivity.analysis import Interval
    >>> share = Interval(0.875, 0.74, 0.95)
    >>> share_text(ConclusionResult("a", "", "t", "c", "m", "increases", 40, 35, share))
    '88% [74%, 95%]'
    """
    s = c.holds_share
    if s is None:
        return "n/a"
    return f"{s.value:.0%} [{s.low:.0%}, {s.high:.0%}]"


def _effect(e: FactorEffect) -> str:
    return e.factor + {1: "+", -1: "-", 0: ""}[e.sign]


def drivers_text(c: ConclusionResult) -> str:
    """The factors that measurably move the outcome, strongest first, or why there are none."""
    if not c.effects:
        return "not computed"
    top = c.drivers()
    text = ", ".join(_effect(e) for e in top) if top else "none measurable"
    return f"mostly noise: {text}" if c.noisy else text


def robustness_table(r: Robustness) -> str:
    """Conclusion · where it holds · verdict · top drivers, then each claim in words."""
    method = "Morris screening" if r.method == "morris" else "Sobol' indices"
    design = f"{r.n} trajectories" if r.method == "morris" else f"{r.n} base samples"
    head = (
        f"How robust is each conclusion? {r.recommender} vs {r.baseline}: {method} of "
        f"{len(r.factors)} assumptions over {r.n_points} audits ({design}, seed {r.entropy})."
    )
    index = "mu*" if r.method == "morris" else "ST"
    rows = [("conclusion", "holds in [CI]", "confirmed", f"top drivers ({index})")]
    for c in r.conclusions:
        confirmed = "n/a"
        if c.confirmed is not None and c.n_points:
            confirmed = f"{c.confirmed / c.n_points:.0%}"
        rows.append((c.name, share_text(c), confirmed, drivers_text(c)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [*textwrap.wrap(head, WIDTH), ""]
    for i, row in enumerate(rows):
        left = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        room = max(20, WIDTH - len(left) - 2)
        lines.append(f"{left}  {textwrap.shorten(row[3], room, placeholder='...')}".rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * min(room, 30))
    lines.append("")
    for c in r.conclusions:
        sign = ">" if c.direction == "increases" else "<"
        text = (
            f"{c.name}: {c.claim} ({c.metric}, {c.arm} - {c.baseline} {sign} 0) -- {c.verdict}"
            + (f"; {c.note}" if c.note else "")
            + (
                f"; Monte Carlo noise is {_noise(c.noise_share)} of what its indices measure"
                if c.noise_share is not None
                else ""
            )
            + "."
        )
        lines += textwrap.wrap(text, WIDTH, subsequent_indent="  ")
    level = f"{r.confidence:.0%}"
    index = (
        "mu* (mean absolute elementary effect)"
        if r.method == "morris"
        else "ST (total Sobol' index)"
    )
    legend = (
        f"holds in: share of the {r.n_points} points where the paired mean difference "
        f"leans the stated way, {level} Wilson interval treating points as independent "
        f"draws; confirmed: share of points whose own {level} interval over replicates "
        f"excludes no change; drivers: factors whose {index} interval excludes 0, "
        "strongest first; + raising it pushes toward the conclusion, - away; 'mostly "
        "noise' when replicates disagree on the differences the indices are built from "
        "at least as much as the points do: add replicates (audit.replicates)."
    )
    lines += ["", *textwrap.wrap(legend, WIDTH)]
    return "\n".join(lines)


def _noise(share: float) -> str:
    """A noise share as a percentage; an estimate above 1 is shown as ``>= 100%``."""
    return ">= 100%" if share >= 1 else f"{share:.0%}"
