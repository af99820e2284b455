"""The per-arm terminal table: each headline metric with its CI over replicates."""

from __future__ import annotations

import math

from ampaudit.audit import ARMS, AuditResult, amplification_basis
from ampaudit.stats import mean_ci

__all__ = ["HEADLINE", "summary_table"]

#: (metric key, column title) of the terminal table.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("rec_share.extreme", "extreme rec share"),
    ("cons_share.extreme", "extreme cons share"),
    ("drift", "drift"),
    ("radicalised", "radicalised"),
    ("amplification.extreme", "amplification"),
    ("ctr", "CTR"),
)


def _cell(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "n/a"
    if math.isnan(low):
        return f"{mean:.4f}"
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def summary_table(result: AuditResult, *, confidence: float = 0.95, n_steps: int) -> str:
    """Format the per-arm table with ``confidence`` intervals over replicates.

    Shares, CTR are over the whole horizon; drift and radicalised fraction are at
    the last step; amplification is Huszár et al.'s ratio of users recommended at
    least one extreme item, against the control arm, over the horizon.
    """
    n_rep = len({r.replicate for r in result.runs})
    header = ["arm", *(title for _, title in HEADLINE)]
    rows = [header]
    for arm in ARMS:
        row = [f"{arm} ({result.labels[arm]})"]
        for key, _ in HEADLINE:
            row.append(_cell(*mean_ci(result.values(arm, key), confidence=confidence)))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ci = f"{confidence:.0%} Student-t CI over {n_rep} replicate{'s' * (n_rep != 1)}"
    lines.append("")
    reached = (
        "users exposed to extreme content by any channel"
        if amplification_basis(result.labels["control"]) == "reach"
        else "users recommended at least one extreme item"
    )
    lines.append(
        f"Mean [{ci}]. Horizon {n_steps} steps; baseline = control "
        f"({result.labels['control']}); amplification = {reached}, "
        "treatment over control, minus 1 (Huszár et al. 2022); drift = change in mean opinion."
    )
    return "\n".join(lines)
