"""What ``ampaudit run`` prints: levels per arm, verdicts against the baseline, costs.

The numbers are the report's (:mod:`ampaudit.report.analysis` on
:mod:`ampaudit.estimands`), so the terminal, MLflow and the panel report agree.
Tables fit 100 columns; ``wide=True`` (``ampaudit run --wide``) shows every column.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace
from typing import Any

import numpy as np

from ampaudit.audit import ARMS, AuditResult, amplification_basis
from ampaudit.estimands import (
    MAX_QUOTED_REPLICATES,
    Estimate,
    Verdict,
    difference,
    level,
    replicates_needed,
)
from ampaudit.report.analysis import (
    COLUMN,
    COLUMNS,
    VERDICT_ROWS,
    Audit,
    Column,
    compare,
    comparison,
    findings,
    judge,
    sentence,
)

__all__ = [
    "WIDTH",
    "cost_table",
    "crisis_table",
    "paired_vs_unpaired",
    "summary_table",
    "target_line",
    "text_table",
]

#: Terminal width the default tables fit.
WIDTH = 100

#: Legitimate categories whose items interventions acted on, in display order.
COLLATERAL = ("news", "counter", "mainstream")

#: Columns of the default per-arm table (``wide`` shows :data:`COLUMNS`).
LEVELS = ("rec_share.extreme", "cons_share.extreme", "radicalised", "ctr")


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
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def cell(column: Column, est: Estimate | None, *, paired: bool = False) -> str:
    """An estimate as a table cell: ``value [low, high]``, or why there is none.

    Examples
    --------
    >>> cell(COLUMN["cons_share.extreme"], Estimate(0.0123, 0.01, 0.015, 3, "share"))
    '1.23 [1.00, 1.50]'
    >>> cell(COLUMN["drift"], Estimate(0.001, -0.002, 0.004, 3), paired=True)
    '+0.0010 [-0.0020, +0.0040]'
    """
    if est is None:
        return "n/a"
    if est.refused:
        return "not reported"
    if column.unit == "change" and max(est.mean, est.high) >= 99:
        return _times(est)  # +10,500% reads better as x106
    # one precision per cell, three significant figures: 12.3 [0.4, 45.6], +72 [+40, +104]
    largest = max(abs(v) for v in (est.mean, est.low, est.high) if math.isfinite(v))
    if column.unit == "%" and largest >= 0.1:
        column = replace(column, digits=1)
    elif column.unit == "per 1,000" and largest >= 10:
        column = replace(column, digits=0)
    text = column.format(est.mean, paired=paired)
    if column.unit == "%" and not paired:  # the header says %
        text = text.removesuffix("%")
    if not est.has_interval:
        return text + (" (no CI)" if est.n > 1 else " (1 rep.)")
    low, high = (column.format(v, paired=paired) for v in (est.low, est.high))
    if column.unit == "%":  # the unit is on the estimate already
        low, high = (b.removesuffix(" pp").removesuffix("%") for b in (low, high))
    text, low, high = (_cap(t, v) for t, v in ((text, est.mean), (low, est.low), (high, est.high)))
    if low == high and not low.startswith(("> ", "< ")):  # narrower than the digits shown
        return f"{text} (±0 shown)"
    return f"{text} [{low}, {high}]"


def _times(est: Estimate) -> str:
    """A large ratio minus 1 as the ratio itself: ``x106 [x80, x140]``.

    Examples
    --------
    >>> _times(Estimate(105.0, 79.0, 139.0, 8, "change"))
    'x106 [x80, x140]'
    """
    ratios = [_cap(f"{1 + v:,.0f}", 1 + v) for v in (est.mean, est.low, est.high)]
    if not est.has_interval:
        return f"x{ratios[0]} (no CI)"
    return f"x{ratios[0]} [x{ratios[1]}, x{ratios[2]}]"


def _cap(text: str, value: float) -> str:
    """Beyond four digits a number says no more than "huge" (a ratio over a near-0 mean).

    Examples
    --------
    >>> _cap("+123,456.7%", 1234.567), _cap("-0.5", -0.5), _cap("+2,679%", 26.79)
    ('> 9,999', '-0.5', '+2,679%')
    """
    digits = text.lstrip("+-").split(".")[0].removesuffix("%").replace(",", "")
    if len(digits) <= 4:
        return text
    return "> 9,999" if value > 0 else "< -9,999"


def _audit(result: AuditResult) -> Audit:
    return Audit(result.finals(), amplification_basis(result.labels["control"]), result.labels)


#: Longest arm label the default tables show in full.
LABEL = 24


def _arm_label(result: AuditResult, arm: str, *, wide: bool = True) -> str:
    label = f"{arm} ({result.labels[arm]})" if arm in ARMS else arm
    return label if wide or len(label) <= LABEL else label[: LABEL - 1] + "…"


def summary_table(
    result: AuditResult, *, confidence: float = 0.95, n_steps: int, wide: bool = False
) -> str:
    """Per-arm levels, then each arm against the baseline with its verdict.

    Shares and CTR are over the whole horizon; drift and the radicalised fraction
    at the last step; reach and amplification compare users recommended at least
    one extreme item with the control arm, over the horizon (Huszár et al. 2022).
    """
    audit = _audit(result)
    cells = comparison(
        audit.finals, result.arms, confidence=confidence, basis=audit.basis, labels=audit.labels
    )
    shown = COLUMNS if wide else tuple(COLUMN[k] for k in LEVELS)
    header = ["arm", *(_title(c) for c in shown)]
    rows = [header]
    for arm in result.arms:
        label = _arm_label(result, arm, wide=wide)
        rows.append([label, *(cell(c, cells[arm, c.key].value) for c in shown)])
    n_rep = len({r.replicate for r in result.runs})
    lines = text_table(rows)
    lines += ["", *_wrap(_levels_note(confidence, n_rep, n_steps, wide))]
    for arm in result.arms:
        if arm == "treatment" or (wide and arm.startswith("+")):
            lines += ["", *_versus(result, audit, arm, confidence)]
    return "\n".join(lines)


def _title(column: Column) -> str:
    short = {
        "rec_share.extreme": "extreme recs",
        "cons_share.extreme": "extreme cons.",
        "reach_gain.extreme": "reach vs base /1000",
        "amplification.extreme": "amplification",
        "drift": "drift",
        "radicalised": "radicalised",
        "ctr": "CTR",
        "collateral": "collateral",
    }[column.key]
    return short + (" %" if column.unit == "%" else "")


def _levels_note(confidence: float, n_rep: int, n_steps: int, wide: bool) -> str:
    more = "" if wide else " (--wide for every column)"
    return (
        f"Mean [{confidence:.0%} CI] over {n_rep} replicate{'s' * (n_rep != 1)}, horizon "
        f"{n_steps} steps{more}. Shares of all feed slots (recs) and of everything consumed "
        "by any channel, in percent; intervals on the logit scale stay within 0-100%."
    )


#: Row titles of the arm-against-baseline table, one per ``VERDICT_ROWS`` quantity.
VERSUS_ROWS = {
    "reach_gain.extreme": "extreme reach /1,000 users",
    "cons_share.extreme": "extreme consumption share",
    "drift": "opinion drift",
    "radicalised": "radicalised fraction",
}
assert set(VERSUS_ROWS) == {key for key, _ in VERDICT_ROWS}


def _versus(result: AuditResult, audit: Audit, arm: str, confidence: float) -> list[str]:
    base = result.labels["control"]
    judged = judge(audit, arm, "control", confidence=confidence)
    name = _arm_label(result, arm, wide=False) if arm.startswith("+") else result.labels[arm]
    rows = [[f"{name} vs {base}", f"paired, {confidence:.0%} CI", "verdict"]]
    for key, j in judged.items():
        row = f"  {VERSUS_ROWS[key]}"
        rows.append([row, cell(j.column, j.estimate, paired=True), str(j.verdict)])
    amp = COLUMN["amplification.extreme"]
    ratio = compare(audit, arm, "control", amp, confidence=confidence)
    rows.insert(2, ["  amplification (ratio-1)", cell(amp, ratio), _ratio_role(ratio)])
    lines = text_table(rows)
    lines += _wrap("Verdict: " + sentence(judged, result.labels[arm], base))
    return lines


def _ratio_role(est: Estimate | None) -> str:
    if est is None:
        return ""
    if est.refused:
        small = "fewer than" in est.note
        return "refused: baseline reached < 10 users" if small else "refused: baseline is 0"
    return "beside the headline reach"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False)


def cost_table(result: AuditResult, *, confidence: float = 0.95, wide: bool = False) -> str:
    """Benefit and cost of each intervention arm against the recommender alone.

    Harm is the relative change of the extreme consumption share and engagement
    that of the click-through rate (paired ratios of means, same replicate, common
    random numbers). Collateral counts the news, counter-narrative and mainstream
    items the arm's interventions demoted, capped, removed or put behind an
    interstitial, per replicate; wrongful removals are lawful items removed by
    moderation, with how many were restored on appeal within the horizon.
    """
    arms = [a for a in result.arms if a.startswith("+")]
    if not arms:
        return ""
    finals = result.finals()
    ranked = {f.arm: f for f in findings(finals, arms, confidence=confidence)}
    pct = Column("pct", "", "difference", "", 1)
    rows = [["intervention", "harm reduced %", "engagement cost %", "verdict on harm"]]
    spent = [["intervention", "news/counter/mainstream acted on", "wrongful removals (restored)"]]
    for arm in arms:
        f = ranked[arm]
        label = _arm_label(result, arm, wide=wide)
        harm, cost = (_percent(pct, e) for e in (f.harm_reduced, f.engagement_cost))
        rows.append([label, harm, cost, _harm_verdict(f.verdict)])
        touched = "/".join(_mean(result, arm, f"collateral.{cat}") for cat in COLLATERAL)
        wrongful = _mean(result, arm, "wrongful_removals")
        spent.append([label, touched, f"{wrongful} ({_mean(result, arm, 'restored')})"])
    lines = [*text_table(rows), "", *text_table(spent), ""]
    lines += _wrap(
        f"Against the recommender alone (same replicate), {confidence:.0%} CI. Harm reduced: "
        "relative drop in the extreme share of consumption (at most 100%); engagement cost: "
        "relative drop in CTR. Legitimate items acted on and wrongful removals (restored on "
        "appeal) are means per replicate."
    )
    if wide:
        lines += ["", *_wide_costs(result, arms, confidence)]
    return "\n".join(lines)


def _percent(column: Column, est: Estimate | None) -> str:
    """A percentage cell with one decimal below 10 and none above (it fits 100 columns)."""
    if est is None or est.refused or not est.has_interval or abs(est.mean) < 10:
        return cell(column, est)
    return cell(replace(column, digits=0), est)


def _mean(result: AuditResult, arm: str, key: str) -> str:
    """The mean of a count over replicates, or ``n/a`` when the arm did not record it."""
    values = result.values(arm, key)
    values = values[np.isfinite(values)]
    return f"{values.mean():.0f}" if len(values) else "n/a"


def _harm_verdict(said: Verdict | None) -> str:
    """A short verdict on extreme consumption for the cost table."""
    if said is None or said.kind == "not estimated":
        return "not estimated"
    words = {"decreases": "reduces harm", "increases": "increases harm"}
    if said.kind in words:
        return words[said.kind]
    if said.needed is None:
        return said.kind
    if said.needed > MAX_QUOTED_REPLICATES:
        return f"inconclusive (n > {MAX_QUOTED_REPLICATES:,})"
    return f"inconclusive (n ≈ {said.needed})"


def _wide_costs(result: AuditResult, arms: list[str], confidence: float) -> list[str]:
    audit = _audit(result)
    shown = [c for c in COLUMNS if not c.versus or c.key == "reach_gain.extreme"]
    rows = [["Δ vs recommender alone", *(_title(c) for c in shown)]]
    for arm in arms:
        rows.append(
            [
                arm,
                *(
                    cell(c, compare(audit, arm, "treatment", c, confidence=confidence), paired=True)
                    for c in shown
                ),
            ]
        )
    return text_table(rows)


def crisis_table(result: AuditResult, *, confidence: float = 0.95) -> str:
    """Impressions of a crisis burst per arm (empty when the world has no crisis)."""
    if not any("crisis.impressions" in r.final for r in result.runs):
        return ""
    count = Column("count", "", "count", "", 1)
    rows = [["arm", "recommended (impressions)", "consumed (all channels)"]]
    for arm in result.arms:
        rows.append(
            [
                arm,
                *(
                    cell(count, level(result.values(arm, key), "count", confidence=confidence))
                    for key in ("crisis.impressions", "crisis.consumed")
                ),
            ]
        )
    lines = text_table(rows, rule=False)
    lines.append("")
    lines += _wrap(
        f"Mean [{confidence:.0%} CI on the log scale, so never below 0] exposure to the attack "
        "video and its re-uploads over the horizon; all of it happened before containment "
        "(removed items are neither shown nor consumed)."
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
    from scipy import stats

    t, c = np.array([trt[r] for r in reps]), np.array([ctl[r] for r in reps])
    sd = float(np.std(t - c, ddof=1))
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df=len(reps) - 1))
    paired = 2 * quantile * sd / math.sqrt(len(reps))
    se = math.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
    unpaired = 2 * float(stats.t.ppf(0.5 + confidence / 2, df=2 * len(reps) - 2)) * se
    if paired > 0:
        ratio = f"unpaired/paired = {unpaired / paired:.1f}"
    else:
        ratio = "no variation when paired" if unpaired > 0 else "no variation either way"
    return "\n".join(
        _wrap(
            f"{key}, treatment - control: CI width {paired:.4f} paired by replicate (common "
            f"random numbers) vs. {unpaired:.4f} unpaired ({ratio})"
        )
    )


def target_line(result: AuditResult, a: Any) -> str:
    """Whether ``audit.target_ci`` was reached, and the replicates it needs."""
    diffs = difference(
        result.by_replicate("treatment", a.target_metric),
        result.by_replicate("control", a.target_metric),
        confidence=a.confidence,
    )
    head = f"Target CI half-width {a.target_ci:g} on treatment - control {a.target_metric}: "
    if diffs is None:
        return head + "no replicate has both arms."
    if not diffs.has_interval:
        return head + f"not reached with {diffs.n} replicates ({diffs.note})."
    half = (diffs.high - diffs.low) / 2
    status = "reached" if half <= a.target_ci else f"not reached (cap {a.max_replicates})"
    needed = replicates_needed(a.target_ci, diffs.spread, confidence=a.confidence, power=0.5)
    return (
        head + f"{status} with {diffs.n} replicates (half-width {half:.4g}); about {needed} "
        "replicates give that half-width by the t rule."
    )
