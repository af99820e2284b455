"""Estimands, their intervals and their verdicts: every number ampaudit reports.

Each reported quantity declares its **scale**, and its interval is built where that
scale is unbounded, then mapped back, so no interval can leave the estimand's range:

=============  ===============================  ======================================
scale          range                            interval over replicates
=============  ===============================  ======================================
``share``      [0, 1]                           Student-t on the logit of the mean
                                                (delta method), mapped back
``count``      [0, ∞)                           Student-t on the log of the mean
                                                (delta method), mapped back
``change``     (−1, ∞): a ratio minus 1         paired ratio of means, Student-t on its
                                                log (delta method), mapped back
``difference`` [−bound, bound]                  Student-t on paired differences (valid:
                                                a difference of means), cut to the bound
=============  ===============================  ======================================

The point estimate is always the plain one (the mean, or the ratio of means), and
it always lies inside its interval. Cutting a difference's interval to its bound
cannot lower its coverage, because the true value lies within the bound [4]_.

A ratio whose baseline is near zero is unstable (25× from 3 users reached to 75):
:func:`ratio_of_means` refuses it with a note, and the absolute difference is the
headline. With one replicate, or with no variation at all across replicates, there
is no interval, and the estimate says why instead of printing a zero-width one.

A :class:`Verdict` reads an estimate for a non-specialist: "increases",
"decreases", "no measurable change" (the interval lies within a stated margin of
no effect) or "inconclusive", with the replicates a conclusive answer would need.

References
----------
.. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., Wiley, §1.4 and
   §16.1 (logit-scale intervals and the delta method).
.. [2] Hirschberg, J., Lye, J. (2010). A geometric comparison of the delta and
   Fieller confidence intervals. *The American Statistician* 64(3):234–241.
.. [3] Huszár, F. et al. (2022). Algorithmic amplification of politics on Twitter.
   *PNAS* 119(1):e2025334119.
.. [4] Mandelkern, M. (2002). Setting confidence intervals for bounded parameters.
   *Statistical Science* 17(2):149–172.
.. [5] Lakens, D. (2017). Equivalence tests: a practical primer for t tests,
   correlations, and meta-analyses. *Social Psychological and Personality
   Science* 8(4):355–362.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "METHODS",
    "MIN_BASELINE_USERS",
    "Estimate",
    "Scale",
    "Verdict",
    "difference",
    "level",
    "ratio_of_means",
    "replicates_needed",
    "scaled",
    "share_bands",
    "verdict",
]

Scale = Literal["share", "count", "change", "difference"]

#: How each scale's interval is built, as the methodology section states it.
METHODS: dict[str, str] = {
    "share": "Student-t interval on the logit of the mean (delta method), mapped back to [0, 1]",
    "count": "Student-t interval on the log of the mean (delta method), mapped back to [0, ∞)",
    "change": (
        "geometric mean of the replicates' paired ratios with a Student-t interval on their "
        "logs (ratio of means with the delta method when a replicate is 0), mapped back, "
        "so never below -100%"
    ),
    "difference": (
        "Student-t interval of the mean paired difference (same replicate, common random "
        "numbers), cut to the quantity's possible range"
    ),
}

#: A ratio whose baseline reached fewer users than this per replicate (on average)
#: is refused: with a Poisson count of k, the ratio's relative error is about 1/√k,
#: over 30% below 10.
MIN_BASELINE_USERS = 10.0

#: A baseline mean at or below this is 0 for a ratio (float noise, not a measurement).
TINY = 1e-12

#: The largest replicate count a verdict will quote; beyond it, "more than".
MAX_QUOTED_REPLICATES = 1000


@dataclass(frozen=True)
class Estimate:
    """A point estimate over replicates with its interval on the estimand's scale.

    Attributes
    ----------
    mean : float
        The point estimate (a mean, or a ratio of means minus 1 for ``change``);
        NaN when refused.
    low, high : float
        Interval bounds; NaN when there is no interval (see ``note``).
    n : int
        Replicates the estimate uses.
    scale : str
        ``share``, ``count``, ``change`` or ``difference`` (see :data:`METHODS`).
    note : str
        Why there is no interval or no estimate ("" when there is one).
    spread : float
        Standard deviation of one replicate on the interval's working scale (logit,
        log or raw); NaN when unknown. Used to say how many replicates are needed.
    """

    mean: float
    low: float
    high: float
    n: int
    scale: str = "difference"
    note: str = ""
    spread: float = math.nan

    @property
    def has_interval(self) -> bool:
        """Whether there is an interval (finite bounds)."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def refused(self) -> bool:
        """Whether the estimate itself was refused (see ``note``)."""
        return not math.isfinite(self.mean)

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero."""
        return self.has_interval and bool(self.low > 0 or self.high < 0)

    @property
    def method(self) -> str:
        """How the interval was built."""
        return METHODS.get(self.scale, "")


def _finite(values: np.ndarray | list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v)]


def _t(confidence: float, n: int) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2, df=n - 1))


def _no_interval(mean: float, n: int, scale: str) -> Estimate:
    """An estimate without an interval, saying why (one replicate, or no variation)."""
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n, scale, "one replicate: no interval")
    note = f"the same value in all {n} replicates: no interval can be estimated from them"
    return Estimate(mean, math.nan, math.nan, n, scale, note, 0.0)


def level(values: np.ndarray | list[float], scale: Scale, *, confidence: float) -> Estimate | None:
    """Mean of one arm's replicate values with an interval that respects ``scale``.

    Parameters
    ----------
    values : array_like of shape (n_replicates,)
        Non-finite values are dropped.
    scale : {"share", "count", "difference"}
        ``share`` keeps the interval in [0, 1], ``count`` in [0, ∞); ``difference``
        (e.g. drift, itself end − start) uses the Student-t interval, cut to [−1, 1].
    confidence : float

    Returns
    -------
    Estimate or None
        ``None`` when no value is finite.

    Examples
    --------
    >>> e = level([0.005, 0.006, 0.10], "share", confidence=0.95)
    >>> round(e.mean, 4), e.low > 0, round(e.high, 3)
    (0.037, True, 0.633)
    >>> level([0.0, 0.0, 0.0], "share", confidence=0.95).note
    'the same value in all 3 replicates: no interval can be estimated from them'
    """
    v = _finite(values)
    if len(v) == 0:
        return None
    mean = float(v.mean())
    if scale == "difference":
        return _t_interval(v, confidence, bound=1.0)
    if v.min() < 0 or (scale == "share" and v.max() > 1):
        # not a share or a count after all (a foreign table): say so, claim no bounds
        est = _t_interval(v, confidence, bound=math.inf)
        return replace(est, scale=scale, note=f"values outside the range of a {scale}")
    at_bound = mean <= 0 or (scale == "share" and mean >= 1)  # all but equal, to float precision
    if len(v) < 2 or np.ptp(v) == 0 or at_bound:
        return _no_interval(mean, len(v), scale)
    sd = float(v.std(ddof=1))
    if scale == "share":
        slope = mean * (1 - mean)  # d logit(m)/dm = 1 / (m (1 − m))
        centre, working_sd = math.log(mean / (1 - mean)), sd / slope
        half = _t(confidence, len(v)) * working_sd / math.sqrt(len(v))
        low, high = _expit(centre - half), _expit(centre + half)
    elif scale == "count":
        centre, working_sd = math.log(mean), sd / mean
        half = _t(confidence, len(v)) * working_sd / math.sqrt(len(v))
        low, high = math.exp(centre - half), math.exp(centre + half)
    else:
        raise ValueError(f"level() takes share, count or difference, got {scale!r}")
    # mapping back cannot move a bound past the mean but in the last bits of a float
    return Estimate(mean, min(low, mean), max(high, mean), len(v), scale, "", working_sd)


def share_bands(values: np.ndarray, *, confidence: float) -> tuple[np.ndarray, ...]:
    """:func:`level` of a share for every column at once (replicates × steps), for plots.

    Parameters
    ----------
    values : ndarray of shape (n_replicates, n_columns)
        Shares in [0, 1], complete rows.
    confidence : float

    Returns
    -------
    mean, low, high : ndarray of shape (n_columns,)
        Bands on the logit scale, within [0, 1]; ``low == high == mean`` where there is
        no interval (one replicate, no variation, or a mean at a bound).

    Examples
    --------
    >>> m, lo, hi = share_bands(np.array([[0.01, 0.0], [0.05, 0.0], [0.02, 0.0]]), confidence=0.95)
    >>> bool((lo >= 0).all() and (hi <= 1).all()), bool(lo[1] == hi[1] == 0)
    (True, True)
    """
    v = np.asarray(values, dtype=float)
    mean = v.mean(axis=0)
    low, high = mean.copy(), mean.copy()
    if len(v) < 2:
        return mean, low, high
    sd = v.std(axis=0, ddof=1)
    ok = (sd > 0) & (mean > 0) & (mean < 1)
    m = mean[ok]
    half = _t(confidence, len(v)) * sd[ok] / (np.sqrt(len(v)) * m * (1 - m))
    centre = np.log(m / (1 - m))
    low[ok] = np.minimum(1 / (1 + np.exp(-(centre - half))), m)
    high[ok] = np.maximum(1 / (1 + np.exp(-(centre + half))), m)
    return mean, low, high


def _expm1(z: float) -> float:
    """``exp(z) − 1`` that stays finite (and scalable: a log ratio past 690 is past any meaning)."""
    return math.expm1(min(z, 690.0))


def _expit(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _t_interval(diffs: np.ndarray, confidence: float, *, bound: float) -> Estimate:
    mean = float(diffs.mean())
    if len(diffs) < 2 or np.ptp(diffs) == 0:
        return _no_interval(mean, len(diffs), "difference")
    sd = float(diffs.std(ddof=1))
    half = _t(confidence, len(diffs)) * sd / math.sqrt(len(diffs))
    low, high = max(mean - half, -bound), min(mean + half, bound)
    return Estimate(mean, low, high, len(diffs), "difference", "", sd)


def _pairs(a: dict[int, float], b: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Values of replicates both arms ran, finite in both, in replicate order."""
    shared = [r for r in sorted(a.keys() & b.keys()) if np.isfinite(a[r]) and np.isfinite(b[r])]
    return np.array([a[r] for r in shared], dtype=float), np.array(
        [b[r] for r in shared], dtype=float
    )


def difference(
    arm: dict[int, float], baseline: dict[int, float], *, confidence: float, bound: float = 1.0
) -> Estimate | None:
    """Mean paired difference ``arm − baseline`` over the replicates both ran.

    Parameters
    ----------
    arm, baseline : dict of int to float
        Values keyed by replicate.
    confidence : float
    bound : float, default=1.0
        The difference's possible range is ``[−bound, bound]`` (1 for shares; 1,000
        for users per 1,000); the Student-t interval is cut to it.

    Returns
    -------
    Estimate or None
        ``None`` when no replicate pairs.

    Examples
    --------
    >>> e = difference({0: 0.3, 1: 0.5, 2: 0.4}, {0: 0.1, 1: 0.2, 2: 0.2}, confidence=0.95)
    >>> round(e.mean, 4), round(e.low, 4), round(e.high, 4)
    (0.2333, 0.0899, 0.3768)
    """
    a, b = _pairs(arm, baseline)
    if len(a) == 0:
        return None
    return _t_interval(a - b, confidence, bound=bound)


def ratio_of_means(
    arm: dict[int, float],
    baseline: dict[int, float],
    *,
    confidence: float,
    baseline_users: float | None = None,
    what: str = "the baseline",
) -> Estimate | None:
    """``arm / baseline − 1`` over paired replicates, with an interval never below −1.

    When every replicate of both arms is positive, the estimate is the geometric mean
    of the replicates' ratios with a Student-t interval on their logarithms (robust
    to the heavy tails of ratios across worlds). When some replicate is 0 (no log),
    it is the ratio of means with a Student-t interval on
    ``log(mean(arm)) − log(mean(baseline))`` and the delta-method variance of paired
    replicates, ``Var ≈ [s_a²/ā² + s_b²/b̄² − 2·s_ab/(ā·b̄)] / n`` [2]_. Either way,
    swapping the arms inverts the ratio and its interval exactly.

    Parameters
    ----------
    arm, baseline : dict of int to float
        Non-negative values keyed by replicate (reach fractions, shares, rates).
    confidence : float
    baseline_users : float, optional
        Users the baseline reached per replicate, on average. Below
        :data:`MIN_BASELINE_USERS` the ratio is refused (NaN with a note).
    what : str
        The baseline's name in the refusal note.

    Returns
    -------
    Estimate or None
        Scale ``change``; ``None`` when no replicate pairs.

    Examples
    --------
    Huszár et al.'s worked example, one replicate (REFERENCES §1):

    >>> round(ratio_of_means({0: 0.3}, {0: 0.1}, confidence=0.95).mean, 12)
    2.0
    >>> e = ratio_of_means({0: 0.2, 1: 0.3}, {0: 0.1, 1: 0.1}, confidence=0.95)
    >>> round(e.mean, 3), e.low > -1
    (1.449, True)
    >>> ratio_of_means({0: 0.02}, {0: 0.001}, confidence=0.95, baseline_users=3).note[:40]
    'the baseline reached 3 users per replica'
    """
    a, b = _pairs(arm, baseline)
    if len(a) == 0:
        return None
    ma, mb = float(a.mean()), float(b.mean())
    if baseline_users is not None and baseline_users < MIN_BASELINE_USERS:
        return Estimate(
            math.nan,
            math.nan,
            math.nan,
            len(a),
            "change",
            f"{what} reached {baseline_users:.3g} users per replicate (fewer than "
            f"{MIN_BASELINE_USERS:.0f}): a ratio over so few is unstable, so none is reported; "
            "read the absolute difference",
        )
    if mb <= TINY:
        return Estimate(
            math.nan, math.nan, math.nan, len(a), "change", f"{what} is 0: no ratio exists"
        )
    if ma == 0:
        # no log of 0: the paired difference relative to the baseline mean, cut at −100%
        diff = _t_interval(a - b, confidence, bound=math.inf)
        low = max(diff.low / mb, -1.0) if diff.has_interval else math.nan
        high = diff.high / mb if diff.has_interval else math.nan
        return Estimate(-1.0, low, high, len(a), "change", diff.note, diff.spread / mb)
    if (a > 0).all() and (b > 0).all():
        # the usual case: Student-t on the replicates' log ratios, a geometric mean
        logs = np.log(a) - np.log(b)
        centre = float(logs.mean())
        return _log_change(_expm1(centre), centre, logs, confidence)
    # a replicate at 0 has no log ratio: the ratio of means, with the delta method's
    # linearisation of log(ā / b̄) per replicate
    ratio = ma / mb
    return _log_change(ratio - 1, math.log(ratio), a / ma - b / mb, confidence)


def _log_change(change: float, centre: float, working: np.ndarray, confidence: float) -> Estimate:
    """``change`` with a Student-t interval of half-width from ``working``, on the log scale.

    ``working`` holds one value per replicate whose standard deviation is that of the
    log ratio (the log ratios themselves, or their delta-method linearisation).
    """
    n = len(working)
    if n < 2 or np.ptp(working) == 0:
        return _no_interval(change, n, "change")
    sd = float(working.std(ddof=1))
    half = _t(confidence, n) * sd / math.sqrt(n)
    low, high = _expm1(centre - half), _expm1(centre + half)
    return Estimate(change, min(low, change), max(high, change), n, "change", "", sd)


def replicates_needed(
    effect: float,
    spread: float,
    *,
    confidence: float,
    power: float = 0.8,
    max_n: int = MAX_QUOTED_REPLICATES,
) -> int:
    """Replicates for a ``confidence`` interval to exclude 0 with probability ``power``.

    The smallest ``n`` with ``n ≥ ((t_{1−α/2, n−1} + t_{power, n−1}) · s / |d|)²``:
    the normal-theory sample size of a paired t test with t quantiles at the ``n − 1``
    degrees of freedom of the interval reported [6]_, for a true effect ``d`` on the
    working scale and a per-replicate standard deviation ``s``. A pilot's ``d`` and
    ``s`` are estimates, so this is a planning figure, not a guarantee.

    Returns
    -------
    int
        At least 2; ``max_n + 1`` when more than ``max_n`` would be needed (or the
        effect is 0).

    References
    ----------
    .. [6] Cohen, J. (1988). *Statistical Power Analysis for the Behavioral
       Sciences*, 2nd ed., Erlbaum.

    Examples
    --------
    >>> replicates_needed(0.5, 1.0, confidence=0.95)
    34
    >>> replicates_needed(0.0, 1.0, confidence=0.95)
    1001
    """
    if effect == 0 or not math.isfinite(effect) or not math.isfinite(spread):
        return max_n + 1
    if spread == 0:
        return 2
    ratio = spread / abs(effect)

    def enough(n: int) -> bool:
        quantiles = stats.t.ppf(0.5 + confidence / 2, n - 1) + stats.t.ppf(power, n - 1)
        return bool(n >= (float(quantiles) * ratio) ** 2)

    # n − (quantiles·s/d)² grows with n (the quantiles shrink as df grows), so bisect:
    # a fixed-point iteration from the normal approximation can cycle
    if enough(2):
        return 2
    if not enough(max_n):
        return max_n + 1
    low, high = 2, max_n  # not enough at low, enough at high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


@dataclass(frozen=True)
class Verdict:
    """What an estimate means, in words a non-specialist can act on.

    Attributes
    ----------
    kind : str
        ``increases``, ``decreases``, ``no measurable change``, ``inconclusive`` or
        ``not estimated``.
    needed : int or None
        For ``inconclusive``: replicates a conclusive answer would need (80% power,
        if the effect is as estimated); more than :data:`MAX_QUOTED_REPLICATES` is
        reported as such.
    reason : str
        Why, when the estimate was refused or has no interval.
    """

    kind: str
    needed: int | None = None
    reason: str = ""

    @property
    def conclusive(self) -> bool:
        """Whether the interval settles the question one way or the other."""
        return self.kind in ("increases", "decreases", "no measurable change")

    @property
    def needs(self) -> str:
        """``needs ≈ N replicates`` for an inconclusive verdict, else ``""``."""
        if self.kind != "inconclusive" or self.needed is None:
            return ""
        if self.needed > MAX_QUOTED_REPLICATES:
            return f"needs > {MAX_QUOTED_REPLICATES:,} replicates"
        return f"needs ≈ {self.needed:,} replicates"

    def __str__(self) -> str:
        if self.needs:
            return f"inconclusive ({self.needs})"
        if self.reason:
            return f"{self.kind} ({self.reason})"
        return self.kind


def verdict(est: Estimate | None, *, margin: float, confidence: float) -> Verdict:
    """Read an estimate of a change (0 = no effect) as a verdict.

    The interval excludes 0: the quantity increases or decreases. It includes 0 and
    lies within ``±margin``: no measurable change (an equivalence test at the
    same level, [5]_). Otherwise it is inconclusive, with the replicates needed to
    exclude 0 at 80% power if the effect is as estimated (or, for an estimate near 0,
    to fit the interval within the margin).

    Parameters
    ----------
    est : Estimate or None
        A ``difference`` or ``change`` estimate.
    margin : float
        The smallest change that matters, on the estimate's scale (e.g. 0.1 for a
        ratio: ±10%).
    confidence : float

    Examples
    --------
    >>> d = difference({0: 0.3, 1: 0.5, 2: 0.4}, {0: 0.1, 1: 0.2, 2: 0.2}, confidence=0.95)
    >>> str(verdict(d, margin=0.01, confidence=0.95))
    'increases'
    >>> d = difference({0: 0.3, 1: 0.1, 2: 0.2}, {0: 0.2, 1: 0.2, 2: 0.15}, confidence=0.95)
    >>> str(verdict(d, margin=0.01, confidence=0.95))
    'inconclusive (needs ≈ 309 replicates)'
    """
    if est is None:
        return Verdict("not estimated", reason="not recorded")
    if est.refused:
        return Verdict("not estimated", reason=est.note)
    if not est.has_interval:
        return Verdict("inconclusive", reason="no variation" if est.n >= 2 else "one replicate")
    if est.low > 0:
        return Verdict("increases")
    if est.high < 0:
        return Verdict("decreases")
    if -margin <= est.low and est.high <= margin:
        return Verdict("no measurable change")
    return Verdict("inconclusive", needed=_needed(est, margin, confidence))


def _needed(est: Estimate, margin: float, confidence: float) -> int:
    """Replicates to exclude 0 (a clear effect) or to fit within the margin (none)."""
    logged = est.scale == "change" and est.mean > -1  # an arm at 0 has no log ratio
    effect = math.log1p(est.mean) if logged else est.mean
    edge = math.log1p(margin) if logged else margin
    # an estimate inside the margin needs the interval to shrink to the margin;
    # one outside it needs the interval to exclude 0
    target = edge - abs(effect) if abs(effect) < edge / 2 else effect
    return replicates_needed(target, est.spread, confidence=confidence)


def scaled(est: Estimate | None, factor: float) -> Estimate | None:
    """``est`` in other units (e.g. ×100 for percent, ×1,000 per 1,000 users)."""
    if est is None:
        return None
    return replace(
        est,
        mean=est.mean * factor,
        low=est.low * factor,
        high=est.high * factor,
        spread=est.spread * factor,
    )
