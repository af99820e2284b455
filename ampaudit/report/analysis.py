"""What a report says: per-arm estimates, paired differences and plain-language findings.

Everything here works on final values keyed arm → replicate → metric, so the same
numbers come out whether they were read from MLflow child runs, from an exported
table or from an :class:`~ampaudit.audit.AuditResult` in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np

from ampaudit.estimands import (
    Estimate,
    Scale,
    Verdict,
    difference,
    level,
    ratio_of_means,
    scaled,
    verdict,
)

__all__ = [
    "COLUMNS",
    "COST_FLOOR",
    "RELATIVE_MARGIN",
    "VERDICT_ROWS",
    "Audit",
    "Column",
    "Estimate",
    "Finals",
    "Finding",
    "arm_key",
    "arm_sentence",
    "by_replicate",
    "compare",
    "comparison",
    "estimate",
    "findings",
    "judge",
    "number",
    "recorded_keys",
    "relative_change",
    "sentence",
    "summary_metrics",
    "value",
]

#: arm → replicate → metric → final value.
Finals = Mapping[str, Mapping[int, Mapping[str, float]]]


def recorded_keys(finals: Finals) -> set[str]:
    """Every metric key recorded by any arm in any replicate."""
    return {k for reps in finals.values() for values in reps.values() for k in values}


#: Engagement costs below this many percent count as this much when ranking
#: interventions, so a free intervention ranks by the harm it removes.
COST_FLOOR = 0.5
REFERENCE = "treatment"
BASELINE = "control"

#: A change smaller than this fraction of the baseline's level does not matter
#: (the margin of "no measurable change"); see :func:`ampaudit.estimands.verdict`.
RELATIVE_MARGIN = 0.10


@dataclass(frozen=True)
class Column:
    """One metric of the comparison table: what it reads, its scale and how it is shown.

    Attributes
    ----------
    key : str
        The metric's key in summaries (``summary.<arm>.<key>.mean``).
    title : str
    scale : str
        Scale of the arm's value (see :data:`ampaudit.estimands.METHODS`).
    unit : str
        ``%`` (a share shown in percent; its differences in percentage points),
        ``change`` (a ratio minus 1, shown as a signed percent), ``per 1,000``
        (users per 1,000) or ``""`` (the number itself).
    digits : int
        Decimals shown.
    versus : bool
        The value is itself a comparison with the baseline arm (computed from each
        arm's reach of extreme content, ``<basis>.extreme``).
    margin : float
        The smallest change that matters, absolute on the paired scale; with
        ``relative``, a fraction of the baseline's level.
    relative : bool
    """

    key: str
    title: str
    scale: str
    unit: str
    digits: int
    versus: bool = False
    margin: float = RELATIVE_MARGIN
    relative: bool = True

    def format(self, value: float, *, paired: bool = False, sign: bool = False) -> str:
        """``value`` as the table shows it (``n/a`` when undefined).

        Examples
        --------
        >>> COLUMNS[1].format(0.01234), COLUMNS[1].format(0.001, paired=True, sign=True)
        ('1.23%', '+0.10 pp')
        >>> COLUMNS[3].format(24.95), COLUMNS[3].format(-0.5)
        ('+2,495%', '-50%')
        """
        if not math.isfinite(value):
            return "n/a"
        sign = sign or self.versus  # a comparison with the baseline always shows its sign
        if self.unit == "change":
            return _signed(100 * value, 0) + "%"
        if self.unit == "%":
            # three significant figures are plenty: 0.42%, 12.3%, 100.0%
            digits = self.digits if abs(value) < 0.1 else min(self.digits, 1)
            text = _signed(100 * value, digits) if sign or paired else None
            text = text or number(100 * value, digits)
            return text + (" pp" if paired else "%")
        return _signed(value, self.digits) if sign or paired else number(value, self.digits)


def _signed(value: float, digits: int) -> str:
    """``value`` with an explicit sign, except for a displayed zero.

    Examples
    --------
    >>> _signed(0.123, 2), _signed(-0.001, 2), _signed(2495.0, 0)
    ('+0.12', '0.00', '+2,495')
    """
    text = f"{value:+,.{digits}f}"
    return text[1:] if float(text.replace(",", "")) == 0 else text


#: The comparison table's metrics, in order (definitions: ``definitions.METRICS``).
COLUMNS: tuple[Column, ...] = (
    Column("rec_share.extreme", "Extreme share of recommendations", "share", "%", 2),
    Column("cons_share.extreme", "Extreme share of consumption", "share", "%", 2),
    Column(
        "reach_gain.extreme",
        "Extreme reach vs. baseline (users per 1,000)",
        "difference",
        "per 1,000",
        1,
        versus=True,
    ),
    Column(
        "amplification.extreme",
        "Amplification of extreme reach vs. baseline",
        "change",
        "change",
        0,
        versus=True,
        margin=RELATIVE_MARGIN,
        relative=False,
    ),
    Column("drift", "Opinion drift", "difference", "", 4, margin=0.005, relative=False),
    Column("radicalised", "Radicalised fraction", "share", "%", 2),
    Column("ctr", "Engagement (click-through rate)", "share", "%", 1),
    Column("collateral", "Collateral: legitimate items acted on", "count", "", 0),
)
COLUMN = {c.key: c for c in COLUMNS}


def estimate(values: np.ndarray | list[float], *, confidence: float) -> Estimate | None:
    """Mean and Student-t interval of the finite ``values`` (an unbounded quantity)."""
    return level(values, "difference", confidence=confidence)


def number(value: float, digits: int) -> str:
    """A table number as displayed: ``digits`` decimals, ``n/a`` when undefined.

    Examples
    --------
    >>> number(0.012345, 4), number(float("nan"), 4), number(-0.0, 2)
    ('0.0123', 'n/a', '0.00')
    """
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:,.{digits}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def arm_key(arm: str) -> str:
    """An arm's name as MLflow accepts it in a metric key (no ``+``).

    Examples
    --------
    >>> arm_key("+redirect+downrank")
    'with_redirect_and_downrank'
    >>> arm_key("control")
    'control'
    """
    if not arm.startswith("+"):
        return arm
    return "with_" + "_and_".join(arm[1:].split("+"))


def by_replicate(finals: Finals, arm: str, metric: str) -> dict[int, float]:
    """Finite values of ``metric`` in replicate order.

    The order is fixed because floating-point sums depend on it: the same runs
    read from memory or from MLflow (which lists them newest first) must give
    bit-identical means and intervals.
    """
    return {
        r: float(values[metric])
        for r, values in sorted(finals.get(arm, {}).items())
        if metric in values and math.isfinite(values[metric])
    }


@dataclass(frozen=True)
class Audit:
    """Final values of an audit with what its comparisons need to know.

    Attributes
    ----------
    finals : Finals
    basis : str
        The reach the baseline comparisons use: ``rec_reach`` (users recommended an
        item of the set, as Huszár et al. compare timelines) or ``reach`` (exposure
        by any channel, against a baseline without a feed).
    labels : dict of str to str
        Arm → label (``control`` → the baseline's name).
    """

    finals: Finals
    basis: str = "rec_reach"
    labels: Mapping[str, str] | None = None

    def name(self, arm: str) -> str:
        """The label of ``arm``."""
        return (self.labels or {}).get(arm, arm)

    def values(self, arm: str, column: Column) -> dict[int, float]:
        """Per-replicate values ``column`` compares (its reach, for a versus column)."""
        key = f"{self.basis}.extreme" if column.versus else column.key
        return by_replicate(self.finals, arm, key)

    def baseline_users(self, arm: str) -> float | None:
        """Users ``arm`` reached per replicate, on average (``None``: size unrecorded)."""
        reach, size = (
            self.values(arm, COLUMN["amplification.extreme"]),
            by_replicate(self.finals, arm, "n_users"),
        )
        shared = reach.keys() & size.keys()
        if not shared:
            return None
        return float(np.mean([reach[r] * size[r] for r in sorted(shared)]))


def compare(
    audit: Audit, arm: str, baseline: str, column: Column, *, confidence: float
) -> Estimate | None:
    """``arm`` against ``baseline`` on ``column``, paired by replicate.

    A difference for shares, counts and drift (cut to the possible range), users
    per 1,000 for reach, and a paired ratio of means for amplification (refused
    when the baseline reached too few users; see
    :func:`ampaudit.estimands.ratio_of_means`).
    """
    a, b = audit.values(arm, column), audit.values(baseline, column)
    if column.scale == "change":
        return ratio_of_means(
            a,
            b,
            confidence=confidence,
            baseline_users=audit.baseline_users(baseline),
            what=f"the {audit.name(baseline)} arm",
        )
    if column.unit == "per 1,000":
        return scaled(difference(a, b, confidence=confidence), 1000.0)
    # drift: arms of a replicate start from the same opinions, so they differ by at most 1
    bound = math.inf if column.scale == "count" else 1.0
    return difference(a, b, confidence=confidence, bound=bound)


def value(audit: Audit, arm: str, column: Column, *, confidence: float) -> Estimate | None:
    """The comparison table's value of ``arm`` on ``column``.

    Its mean over replicates with an interval on the column's scale, or, for a
    versus column, its comparison with the baseline (the baseline's own cell is 0
    by definition, without an interval).
    """
    if not column.versus:
        scale = cast(Scale, column.scale)
        return level(list(audit.values(arm, column).values()), scale, confidence=confidence)
    if arm == BASELINE:
        n = len(audit.values(arm, column))
        if not n:
            return None
        return Estimate(0.0, math.nan, math.nan, n, column.scale, "the baseline itself")
    return compare(audit, arm, BASELINE, column, confidence=confidence)


def margin(audit: Audit, baseline: str, column: Column) -> float:
    """The smallest change of ``column`` that matters, against ``baseline``'s level."""
    if not column.relative:
        return column.margin
    values = list(audit.values(baseline, column).values())
    base = float(np.mean(values)) if values else 0.0
    if column.versus:  # users per 1,000, relative to the baseline's reach, at least 1
        return max(column.margin * 1000 * base, 1.0)
    floor = 1e-3 if column.scale == "share" else 0.5
    return max(column.margin * abs(base), floor)


@dataclass(frozen=True)
class Cell:
    """One arm's value of one metric, and its paired difference vs. the recommender alone."""

    value: Estimate | None
    paired: Estimate | None


def comparison(
    finals: Finals,
    arms: list[str],
    *,
    confidence: float,
    basis: str = "rec_reach",
    labels: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], Cell]:
    """Every (arm, metric) cell of the comparison table.

    Values are estimates on each column's scale (:func:`value`); paired
    differences compare each arm with the recommender alone within each
    replicate (common random numbers, :func:`compare`), so the treatment arm has
    none.
    """
    audit = Audit(finals, basis, labels)
    out = {}
    for arm in arms:
        for column in COLUMNS:
            paired = None
            if arm != REFERENCE:
                paired = compare(audit, arm, REFERENCE, column, confidence=confidence)
            out[arm, column.key] = Cell(value(audit, arm, column, confidence=confidence), paired)
    return out


def summary_metrics(cells: Mapping[tuple[str, str], Cell]) -> dict[str, float]:
    """The comparison table as MLflow metrics of the parent run.

    Keys are ``summary.<arm>.<metric>.{mean,low,high}`` and
    ``paired.<arm>.<metric>.{mean,low,high}`` with :func:`arm_key` names; undefined
    values (no interval, or a refused ratio) are left out, as MLflow stores no NaN.
    """
    out: dict[str, float] = {}
    for (arm, metric), cell in cells.items():
        for kind, est in (("summary", cell.value), ("paired", cell.paired)):
            if est is None:
                continue
            for stat in ("mean", "low", "high"):
                v = getattr(est, stat)
                if math.isfinite(v):
                    out[f"{kind}.{arm_key(arm)}.{metric}.{stat}"] = v
    return out


def relative_change(finals: Finals, arm: str, metric: str, *, confidence: float) -> Estimate | None:
    """``metric`` under ``arm`` over the recommender alone, minus 1 (ratio of means).

    A paired ratio of means with its interval on the log scale (see
    :func:`ampaudit.estimands.ratio_of_means`), so a reduction never exceeds 100%.

    Examples
    --------
    >>> finals = {
    ...     "treatment": {0: {"m": 0.10}, 1: {"m": 0.10}},
    ...     "+a": {0: {"m": 0.08}, 1: {"m": 0.08}},
    ... }
    >>> round(relative_change(finals, "+a", "m", confidence=0.95).mean, 6)
    -0.2
    """
    a, b = by_replicate(finals, arm, metric), by_replicate(finals, REFERENCE, metric)
    return ratio_of_means(a, b, confidence=confidence, what="the recommender alone")


#: What an arm's verdict weighs, against the baseline: (column key, what it is about).
VERDICT_ROWS: tuple[tuple[str, str], ...] = (
    ("reach_gain.extreme", "exposure"),
    ("cons_share.extreme", "consumption"),
    ("drift", "opinion drift"),
    ("radicalised", "radicalised fraction"),
)


@dataclass(frozen=True)
class Judged:
    """One comparison with the baseline and what it means."""

    column: Column
    estimate: Estimate | None
    verdict: Verdict


def judge(audit: Audit, arm: str, baseline: str, *, confidence: float) -> dict[str, Judged]:
    """Each :data:`VERDICT_ROWS` quantity of ``arm`` against ``baseline``, with its verdict."""
    out = {}
    for key, _ in VERDICT_ROWS:
        column = COLUMN[key]
        est = compare(audit, arm, baseline, column, confidence=confidence)
        said = verdict(est, margin=margin(audit, baseline, column), confidence=confidence)
        out[key] = Judged(column, est, said)
    return out


def arm_sentence(audit: Audit, arm: str, baseline: str, *, confidence: float) -> str:
    """The arm against the baseline in plain words, reconciling exposure and consumption.

    Examples
    --------
    >>> finals = {
    ...     "control": {r: {"rec_reach.extreme": 0.01, "cons_share.extreme": 0.01}
    ...                 for r in range(3)},
    ...     "treatment": {0: {"rec_reach.extreme": 0.07, "cons_share.extreme": 0.0101},
    ...                   1: {"rec_reach.extreme": 0.08, "cons_share.extreme": 0.0099},
    ...                   2: {"rec_reach.extreme": 0.075, "cons_share.extreme": 0.0100}},
    ... }
    >>> audit = Audit(finals, labels={"control": "chronological", "treatment": "mf"})
    >>> print(arm_sentence(audit, "treatment", "control", confidence=0.95))
    ... # doctest: +NORMALIZE_WHITESPACE
    Against the chronological baseline, mf recommended extreme items to more users
    (+65.0 per 1,000 [+52.6, +77.4]), but what users consumed did not change measurably
    (extreme share of consumption 0.00 pp [-0.02, +0.02]).
    """
    judged = judge(audit, arm, baseline, confidence=confidence)
    return sentence(judged, audit.name(arm), audit.name(baseline))


def sentence(judged: Mapping[str, Judged], name: str, base: str) -> str:
    """:func:`arm_sentence` from comparisons already judged (see :func:`judge`)."""
    exposure, consumption = judged["reach_gain.extreme"], judged["cons_share.extreme"]
    first = _phrase(_EXPOSURE, exposure, name)
    second = _phrase(_CONSUMPTION, consumption, "", "extreme share of consumption ")
    directed = ("increases", "decreases")
    same = (exposure.verdict.kind in directed) == (consumption.verdict.kind in directed)
    return f"Against the {base} baseline, {first}, {'and' if same else 'but'} {second}."


def _figures(judged: Judged, label: str = "") -> str:
    """``(label value [low, high]; verdict detail)`` of one judged comparison."""
    est, column, said = judged.estimate, judged.column, judged.verdict
    if est is None or est.refused:
        return f"({said.reason or 'not recorded'})"
    per = " per 1,000" if column.unit == "per 1,000" else ""
    text = label + column.format(est.mean, paired=True) + per
    if est.has_interval:
        low, high = (column.format(b, paired=True).removesuffix(" pp") for b in (est.low, est.high))
        text += f" [{low}, {high}]"
    else:
        text += f"; {est.note}"
    if said.needs:
        text += f"; inconclusive, {said.needs}"
    return f"({text})"


#: How a verdict on exposure (reach of extreme recommendations) reads.
_EXPOSURE = {
    "increases": "{name} recommended extreme items to more users",
    "decreases": "{name} recommended extreme items to fewer users",
    "no measurable change": "{name} recommended extreme items to about as many users",
    "not estimated": "{name}'s reach of extreme items could not be compared",
    "inconclusive": "it is unclear whether {name} recommended extreme items to more users",
}
#: How a verdict on consumption (the extreme share of what users consumed) reads.
_CONSUMPTION = {
    "increases": "users consumed more extreme content",
    "decreases": "users consumed less extreme content",
    "no measurable change": "what users consumed did not change measurably",
    "not estimated": "consumption could not be compared",
    "inconclusive": "it is unclear whether what users consumed changed",
}


def _phrase(words: Mapping[str, str], j: Judged, name: str, label: str = "") -> str:
    return words[j.verdict.kind].format(name=name) + " " + _figures(j, label)


def _reduction(change: Estimate | None) -> Estimate | None:
    """A relative change as a reduction in percent (a 20% drop is +20)."""
    if change is None:
        return None
    return Estimate(
        -100 * change.mean,
        -100 * change.high,
        -100 * change.low,
        change.n,
        change.scale,
        change.note,
        change.spread,
    )


@dataclass(frozen=True)
class Finding:
    """What one intervention arm did, against the recommender alone.

    Attributes
    ----------
    arm : str
    harm_reduced : Estimate or None
        Relative reduction of the extreme consumption share, in percent (at most
        100); ``None`` when it cannot be computed (see ``comparable``).
    engagement_cost : Estimate or None
        Relative loss of click-through rate, in percent (negative: a gain).
    wrongful_removals, collateral : float or None
        Means per replicate; ``None`` when the audit did not record them.
    score : float
        Harm reduced per unit of engagement cost (see :data:`COST_FLOOR`);
        ``-inf`` when the arm reduced no harm or its cost is unknown.
    comparable : bool
        Whether the recommender-alone arm ran the same replicates.
    verdict : Verdict or None
        What the interval says about extreme consumption.
    """

    arm: str
    harm_reduced: Estimate | None
    engagement_cost: Estimate | None
    wrongful_removals: float | None
    collateral: float | None
    score: float
    comparable: bool = True
    verdict: Verdict | None = None

    def sentence(self, confidence: float) -> str:
        """The finding in plain language, with its intervals and verdict."""
        h, c = self.harm_reduced, self.engagement_cost
        if not self.comparable:
            return "cannot be compared yet: the recommender alone has no result for its replicates"
        if h is None or h.refused:
            return "no extreme consumption under the recommender alone to reduce"
        verb = "reduced" if h.mean >= 0 else "increased"
        text = f"{verb} extreme consumption by {number(abs(h.mean), 1)}%"
        text += _interval(h, confidence)
        if c is None or c.refused:
            text += " (engagement not recorded)"
        else:
            change = "a cost of" if c.mean >= 0 else "a gain of"
            text += f" at {change} {number(abs(c.mean), 1)}% engagement"
            text += _interval(c, confidence)
        if self.wrongful_removals is None:
            text += " and unrecorded wrongful removals"
        else:
            n = self.wrongful_removals
            text += f" and {n:.0f} wrongful removal{'s' * (round(n) != 1)} per run"
        if self.collateral is not None:
            text += f"; {self.collateral:.0f} actions on legitimate items"
        if self.verdict is not None and not self.verdict.kind.startswith(("in", "de")):
            text += f" — verdict: {self.verdict}"
        elif self.verdict is not None and self.verdict.kind == "inconclusive":
            text += f" — verdict on extreme consumption: {self.verdict}"
        return text


def _interval(est: Estimate, confidence: float) -> str:
    """The interval of ``abs(est.mean)``: flipped when the mean is negative."""
    if not est.has_interval:
        return f" ({est.note or 'no interval'})"
    low, high = (est.low, est.high) if est.mean >= 0 else (-est.high, -est.low)
    return f" [{confidence:.0%} CI {number(low, 1)}% to {number(high, 1)}%]"


def findings(finals: Finals, arms: list[str], *, confidence: float) -> list[Finding]:
    """Findings of the intervention arms, ordered by harm reduced per unit of cost.

    Harm reduced is the relative reduction of the extreme consumption share and
    engagement cost that of the click-through rate, in percent, both paired ratios
    of means (:func:`relative_change`). Arms are ranked by harm reduced over
    ``max(engagement cost, COST_FLOOR)``, fewer wrongful removals and less
    collateral breaking ties; arms that reduced no harm, or whose engagement was
    not recorded, come last, by harm.
    """
    out = []
    for arm in arms:
        if not arm.startswith("+"):
            continue
        change = relative_change(finals, arm, "cons_share.extreme", confidence=confidence)
        harm = _reduction(change)
        cost = _reduction(relative_change(finals, arm, "ctr", confidence=confidence))
        wrongful = _mean(by_replicate(finals, arm, "wrongful_removals"))
        collateral = _mean(by_replicate(finals, arm, "collateral"))
        score = -math.inf
        if harm is not None and cost is not None and harm.mean > 0 and not cost.refused:
            score = harm.mean / max(cost.mean, COST_FLOOR)
        comparable = bool(
            by_replicate(finals, arm, "cons_share.extreme").keys()
            & by_replicate(finals, REFERENCE, "cons_share.extreme").keys()
        )
        said = verdict(change, margin=RELATIVE_MARGIN, confidence=confidence)
        out.append(Finding(arm, harm, cost, wrongful, collateral, score, comparable, said))
    return sorted(
        out,
        key=lambda f: (
            -f.score,
            -(
                f.harm_reduced.mean
                if f.harm_reduced is not None and not f.harm_reduced.refused
                else -math.inf
            ),
            math.inf if f.wrongful_removals is None else f.wrongful_removals,
            math.inf if f.collateral is None else f.collateral,
        ),
    )


def _mean(values: Mapping[int, float]) -> float | None:
    return float(np.mean(list(values.values()))) if values else None
