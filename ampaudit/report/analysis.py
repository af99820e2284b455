"""What a report says: per-arm estimates, paired differences and plain-language findings.

Everything here works on final values keyed arm → replicate → metric, so the same
numbers come out whether they were read from MLflow child runs, from an exported
table or from an :class:`~ampaudit.audit.AuditResult` in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ampaudit.stats import mean_ci

__all__ = [
    "COLUMNS",
    "COST_FLOOR",
    "Column",
    "Estimate",
    "Finals",
    "Finding",
    "arm_key",
    "comparison",
    "estimate",
    "findings",
    "number",
    "recorded_keys",
    "relative_reduction",
    "summary_metrics",
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


@dataclass(frozen=True)
class Column:
    """One metric of the comparison table."""

    key: str
    title: str
    digits: int


#: The comparison table's metrics, in order (definitions: ``definitions.METRICS``).
COLUMNS: tuple[Column, ...] = (
    Column("rec_share.extreme", "Extreme share of recommendations", 4),
    Column("cons_share.extreme", "Extreme share of consumption", 4),
    Column("amplification.extreme", "Amplification of extreme reach vs. baseline", 3),
    Column("drift", "Opinion drift", 4),
    Column("radicalised", "Radicalised fraction", 4),
    Column("ctr", "Engagement (click-through rate)", 4),
    Column("collateral", "Collateral: legitimate items acted on", 0),
)


@dataclass(frozen=True)
class Estimate:
    """A mean over replicates with its confidence interval (NaN bounds with one)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def has_interval(self) -> bool:
        """Whether there is an interval (two or more replicates, so finite bounds)."""
        return math.isfinite(self.low)

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero."""
        return bool(self.low > 0 or self.high < 0)


def estimate(values: np.ndarray | list[float], *, confidence: float) -> Estimate | None:
    """Mean and Student-t interval of the finite ``values``; ``None`` when there are none."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return None
    mean, low, high = mean_ci(finite, confidence=confidence)
    return Estimate(mean, low, high, len(finite))


def number(value: float, digits: int) -> str:
    """A table number as displayed: ``digits`` decimals, ``n/a`` when undefined.

    Examples
    --------
    >>> number(0.012345, 4), number(float("nan"), 4), number(-0.0, 2)
    ('0.0123', 'n/a', '0.00')
    """
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


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


def _by_replicate(finals: Finals, arm: str, metric: str) -> dict[int, float]:
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


def _paired(finals: Finals, arm: str, metric: str) -> list[float]:
    """``arm − treatment`` per replicate both ran."""
    a, b = _by_replicate(finals, arm, metric), _by_replicate(finals, REFERENCE, metric)
    return [a[r] - b[r] for r in sorted(a.keys() & b.keys())]


def relative_reduction(
    finals: Finals, arm: str, metric: str, *, confidence: float
) -> Estimate | None:
    """How much lower ``metric`` is under ``arm`` than under the recommender alone, in %.

    The paired difference and its interval divided by the recommender-alone mean
    over the same replicates (a ratio of means, so its sign always agrees with the
    paired difference in the table); ``None`` when that mean is 0 or nothing pairs.

    Examples
    --------
    >>> finals = {
    ...     "treatment": {0: {"m": 0.10}, 1: {"m": 0.10}},
    ...     "+a": {0: {"m": 0.08}, 1: {"m": 0.08}},
    ... }
    >>> round(relative_reduction(finals, "+a", "m", confidence=0.95).mean, 6)
    20.0
    """
    paired = estimate(_paired(finals, arm, metric), confidence=confidence)
    a, b = _by_replicate(finals, arm, metric), _by_replicate(finals, REFERENCE, metric)
    shared = a.keys() & b.keys()
    base = float(np.mean([b[r] for r in shared])) if shared else 0.0
    if paired is None or base == 0:
        return None
    scale = -100.0 / base
    low, high = sorted((paired.low * scale, paired.high * scale))
    return Estimate(paired.mean * scale, low, high, paired.n)


@dataclass(frozen=True)
class Cell:
    """One arm's value of one metric, and its paired difference vs. the recommender alone."""

    value: Estimate | None
    paired: Estimate | None


def comparison(
    finals: Finals, arms: list[str], *, confidence: float
) -> dict[tuple[str, str], Cell]:
    """Every (arm, metric) cell of the comparison table.

    Values are means over replicates with Student-t intervals; paired differences
    are arm − treatment within each replicate (common random numbers), so the
    treatment arm has none.
    """
    out = {}
    for arm in arms:
        for column in COLUMNS:
            value = estimate(
                list(_by_replicate(finals, arm, column.key).values()), confidence=confidence
            )
            paired = None
            if arm != REFERENCE:
                paired = estimate(_paired(finals, arm, column.key), confidence=confidence)
            out[arm, column.key] = Cell(value, paired)
    return out


def summary_metrics(cells: Mapping[tuple[str, str], Cell]) -> dict[str, float]:
    """The comparison table as MLflow metrics of the parent run.

    Keys are ``summary.<arm>.<metric>.{mean,low,high}`` and
    ``paired.<arm>.<metric>.{mean,low,high}`` with :func:`arm_key` names; undefined
    values (an interval from one replicate) are left out, as MLflow stores no NaN.
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


@dataclass(frozen=True)
class Finding:
    """What one intervention arm did, against the recommender alone.

    Attributes
    ----------
    arm : str
    harm_reduced : Estimate or None
        Relative reduction of the extreme consumption share, in percent;
        ``None`` when it cannot be computed (see ``comparable``).
    engagement_cost : Estimate or None
        Relative loss of click-through rate, in percent (negative: a gain).
    wrongful_removals, collateral : float or None
        Means per replicate; ``None`` when the audit did not record them.
    score : float
        Harm reduced per unit of engagement cost (see :data:`COST_FLOOR`);
        ``-inf`` when the arm reduced no harm or its cost is unknown.
    comparable : bool
        Whether the recommender-alone arm ran the same replicates.
    """

    arm: str
    harm_reduced: Estimate | None
    engagement_cost: Estimate | None
    wrongful_removals: float | None
    collateral: float | None
    score: float
    comparable: bool = True

    def sentence(self, confidence: float) -> str:
        """The finding in plain language, with its intervals."""
        h, c = self.harm_reduced, self.engagement_cost
        if not self.comparable:
            return "cannot be compared yet: the recommender alone has no result for its replicates"
        if h is None:
            return "no extreme consumption under the recommender alone to reduce"
        verb = "reduced" if h.mean >= 0 else "increased"
        text = f"{verb} extreme consumption by {number(abs(h.mean), 1)}%"
        text += _interval(h, confidence)
        if c is None:
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
        if h.n > 1 and not h.excludes_zero:
            text += " (the harm interval includes no change)"
        return text


def _interval(est: Estimate, confidence: float) -> str:
    """The interval of ``abs(est.mean)``: flipped when the mean is negative."""
    if not est.has_interval:
        return " (one replicate, no interval)"
    low, high = (est.low, est.high) if est.mean >= 0 else (-est.high, -est.low)
    return f" [{confidence:.0%} CI {number(low, 1)}% to {number(high, 1)}%]"


def findings(finals: Finals, arms: list[str], *, confidence: float) -> list[Finding]:
    """Findings of the intervention arms, ordered by harm reduced per unit of cost.

    Harm reduced is the :func:`relative_reduction` of the extreme consumption
    share and engagement cost that of the click-through rate, in percent. Arms
    are ranked by harm reduced over ``max(engagement cost, COST_FLOOR)``, fewer
    wrongful removals and less collateral breaking ties; arms that reduced no
    harm, or whose engagement was not recorded, come last, by harm.
    """
    out = []
    for arm in arms:
        if not arm.startswith("+"):
            continue
        harm = relative_reduction(finals, arm, "cons_share.extreme", confidence=confidence)
        cost = relative_reduction(finals, arm, "ctr", confidence=confidence)
        wrongful = _mean(_by_replicate(finals, arm, "wrongful_removals"))
        collateral = _mean(_by_replicate(finals, arm, "collateral"))
        score = -math.inf
        if harm is not None and cost is not None and harm.mean > 0:
            score = harm.mean / max(cost.mean, COST_FLOOR)
        comparable = bool(
            _by_replicate(finals, arm, "cons_share.extreme").keys()
            & _by_replicate(finals, REFERENCE, "cons_share.extreme").keys()
        )
        out.append(Finding(arm, harm, cost, wrongful, collateral, score, comparable))
    return sorted(
        out,
        key=lambda f: (
            -f.score,
            -(f.harm_reduced.mean if f.harm_reduced is not None else -math.inf),
            math.inf if f.wrongful_removals is None else f.wrongful_removals,
            math.inf if f.collateral is None else f.collateral,
        ),
    )


def _mean(values: Mapping[int, float]) -> float | None:
    return float(np.mean(list(values.values()))) if values else None
