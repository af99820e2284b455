"""Uncertainty over replicates."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["bootstrap_ci", "mean_ci", "mean_ci_by_column", "replicates_for_width"]


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


def mean_ci_by_column(
    values: np.ndarray, *, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mean_ci` of every column at once (e.g. replicates × steps).

    Parameters
    ----------
    values : ndarray of shape (n_replicates, n_columns)
        Complete rows (no NaN).
    confidence : float, default=0.95

    Returns
    -------
    mean, low, high : ndarray of shape (n_columns,)
        ``low``/``high`` equal ``mean`` with one replicate (no band to draw).

    Examples
    --------
    >>> m, lo, hi = mean_ci_by_column(np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([-0.484, 0.0], [4.484, 0.0])
    """
    v = np.asarray(values, dtype=float)
    mean = v.mean(axis=0)
    if len(v) < 2:
        return mean, mean.copy(), mean.copy()
    half = stats.t.ppf(0.5 + confidence / 2, df=len(v) - 1) * v.std(axis=0, ddof=1)
    half /= np.sqrt(len(v))
    return mean, mean - half, mean + half


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


def replicates_for_width(values: np.ndarray, half_width: float, *, confidence: float = 0.95) -> int:
    """Replicates needed for a t-interval of ``half_width``, from a pilot sample.

    ``n ≥ (t·s / h)²`` with the pilot's standard deviation ``s`` (iterated on the
    t quantile's degrees of freedom).

    Examples
    --------
    >>> replicates_for_width(np.array([0.0, 1.0, 2.0, 3.0]), 0.5)
    28
    """
    v = np.asarray(values, dtype=float)
    s = float(v.std(ddof=1))
    if s == 0:
        return max(len(v), 2)
    n = len(v)
    for _ in range(50):
        t = float(stats.t.ppf(0.5 + confidence / 2, df=max(n - 1, 1)))
        needed = int(np.ceil((t * s / half_width) ** 2))
        if needed == n:
            break
        n = max(needed, 2)
    return n
