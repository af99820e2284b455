"""Uncertainty over replicates."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["bootstrap_ci", "mean_ci"]


def mean_ci(values: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of replicate values.

    With the handful of replicates an audit usually runs (3-10), a percentile
    bootstrap under-covers; the t interval is exact for normal replicate means
    and the usual choice at this size. NaN replicates are dropped.

    Parameters
    ----------
    values : ndarray of shape (n_replicates,)
    confidence : float, default=0.95

    Returns
    -------
    mean, low, high : float
        ``low``/``high`` are NaN with fewer than two finite values.

    Examples
    --------
    >>> m, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]))
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (2.0, -0.484, 4.484)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    sem = float(v.std(ddof=1)) / np.sqrt(len(v))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(v) - 1)) * sem
    return mean, float(mean - half), float(mean + half)


def bootstrap_ci(
    values: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Mean and BCa bootstrap interval (``scipy.stats.bootstrap``), for ≥ 10 replicates.

    Below 10 values the bootstrap under-covers; use :func:`mean_ci` there.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 10:
        raise ValueError(f"bootstrap needs at least 10 replicates, got {len(v)}; use mean_ci")
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0]), float(v[0])
    res = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="BCa",
        random_state=rng,
    )
    return float(v.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)
