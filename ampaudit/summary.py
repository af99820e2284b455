"""The per-arm terminal table: each headline metric with its CI over replicates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ampaudit.audit import ARMS, AuditResult, amplification_basis
from ampaudit.stats import mean_ci

__all__ = ["COSTS", "HEADLINE", "cost_table", "summary_table", "text_table"]

#: (metric key, column title) of the benefit/cost table: paired differences of each
#: intervention arm minus the recommender alone, same replicate.
COSTS: tuple[tuple[str, str], ...] = (
    ("rec_share.extreme", "Δ extreme rec"),
    ("cons_share.extreme", "Δ extreme cons"),
    ("drift", "Δ drift"),
    ("radicalised", "Δ radicalised"),
    ("ctr", "Δ CTR"),
    ("utility", "Δ utility"),
    ("rec_share.news", "Δ news rec"),
    ("rec_share.counter", "Δ counter rec"),
)
COLLATERAL = ("news", "counter", "mainstream")

#: (metric key, column title) of the terminal table.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("rec_share.extreme", "extreme rec share"),
    ("cons_share.extreme", "extreme cons share"),
    ("drift", "drift"),
    ("radicalised", "radicalised"),
    ("amplification.extreme", "amplification"),
    ("ctr", "CTR"),
)


def text_table(rows: list[list[str]], *, rule: bool = True) -> list[str]:
    """Left-aligned columns two spaces apart; ``rule`` puts dashes under the header row.

    Examples
    --------
    >>> for line in text_table([["arm", "CTR"], ["control", "0.1"]]):
    ...     print(line)
    arm      CTR
    -------  ---
    control  0.1
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


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
    for arm in result.arms:
        row = [f"{arm} ({result.labels[arm]})" if arm in ARMS else arm]
        for key, _ in HEADLINE:
            row.append(_cell(*mean_ci(result.values(arm, key), confidence=confidence)))
        rows.append(row)
    lines = text_table(rows)
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


def _paired(result: AuditResult, arm: str, key: str, confidence: float) -> str:
    diffs = result.paired(arm, "treatment", key)
    return _cell(*mean_ci(diffs, confidence=confidence))


def cost_table(result: AuditResult, *, confidence: float = 0.95) -> str:
    """Benefit and cost of each intervention arm against the recommender alone.

    Each cell is the mean paired difference (intervention arm minus treatment, same
    replicate and common random numbers) with its confidence interval. Collateral
    counts the news, counter-narrative and mainstream items the arm's interventions
    demoted, capped, removed or put behind an interstitial (by true category), per
    replicate; wrongful removals are lawful items removed by moderation, with how
    many were restored on appeal within the horizon.
    """
    arms = [a for a in result.arms if a.startswith("+")]
    if not arms:
        return ""
    header = [
        "arm",
        *(title for _, title in COSTS),
        "collateral (news/counter/mainstream)",
        "wrongful removals (restored)",
    ]
    rows = [header]
    for arm in arms:
        row = [arm, *(_paired(result, arm, key, confidence) for key, _ in COSTS)]
        touched = [result.values(arm, f"collateral.{cat}").mean() for cat in COLLATERAL]
        row.append("/".join(f"{t:.0f}" for t in touched))
        wrongful = result.values(arm, "wrongful_removals").mean()
        restored = result.values(arm, "restored").mean()
        row.append(f"{wrongful:.0f} ({restored:.0f})")
        rows.append(row)
    lines = text_table(rows)
    lines.append("")
    lines.append(
        "Paired differences vs. the recommender alone (same replicate, common random "
        f"numbers), mean [{confidence:.0%} t-CI]; negative Δ extreme is harm reduced, negative "
        "Δ CTR/utility is engagement lost; collateral = legitimate items acted on per replicate."
    )
    return "\n".join(lines)


def crisis_table(result: AuditResult, *, confidence: float = 0.95) -> str:
    """Impressions of a crisis burst per arm (empty when the world has no crisis)."""
    if not any("crisis.impressions" in r.final for r in result.runs):
        return ""
    rows = [["arm", "recommended (impressions)", "consumed (all channels)"]]
    for arm in result.arms:
        rows.append(
            [
                arm,
                *(
                    _cell(*mean_ci(result.values(arm, key), confidence=confidence))
                    for key in ("crisis.impressions", "crisis.consumed")
                ),
            ]
        )
    lines = text_table(rows, rule=False)
    lines.append(
        "\nExposure to the attack video and its re-uploads over the horizon; all of it "
        "happened before containment (removed items are neither shown nor consumed)."
    )
    return "\n".join(lines)


def paired_vs_unpaired(
    result: AuditResult, key: str = "radicalised", *, confidence: float = 0.95
) -> str:
    """One line: the CI width of treatment − control, paired by replicate vs. unpaired.

    Common random numbers make paired differences of world-driven outcomes (opinions,
    radicalisation) far less noisy; the ratio's square is roughly how many times more
    replicates an unpaired comparison would need for the same width. Outcomes that the
    two algorithms drive in different ways (recommendation shares) gain little.
    """
    trt, ctl = result.by_replicate("treatment", key), result.by_replicate("control", key)
    reps = sorted(trt.keys() & ctl.keys())
    if len(reps) < 2:
        return ""
    t, c = np.array([trt[r] for r in reps]), np.array([ctl[r] for r in reps])
    _, lo, hi = mean_ci(t - c, confidence=confidence)
    paired = hi - lo
    from scipy import stats

    se = np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
    unpaired = 2 * float(stats.t.ppf(0.5 + confidence / 2, df=2 * len(reps) - 2)) * se
    ratio = unpaired / paired if paired > 0 else float("inf")
    return (
        f"{key}, treatment - control: CI width {paired:.4f} paired by replicate (common "
        f"random numbers) vs. {unpaired:.4f} unpaired (unpaired/paired = {ratio:.1f})"
    )


def target_line(result: AuditResult, a: Any) -> str:
    """Whether ``audit.target_ci`` was reached, and the replicates it needs."""
    from ampaudit.stats import replicates_for_width

    diffs = result.paired("treatment", "control", a.target_metric)
    _, lo, hi = mean_ci(diffs, confidence=a.confidence)
    half = (hi - lo) / 2
    needed = replicates_for_width(diffs, a.target_ci, confidence=a.confidence)
    status = "reached" if half <= a.target_ci else f"not reached (cap {a.max_replicates})"
    return (
        f"Target CI half-width {a.target_ci:g} on treatment - control {a.target_metric}: "
        f"{status} with {len(diffs)} replicates (half-width {half:.4g}); "
        f"about {needed} replicates are needed by the t rule."
    )
