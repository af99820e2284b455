"""Replicates needed for a paired difference to be conclusive (power analysis)."""

from __future__ import annotations

import math

import numpy as np

from ampaudit.estimands import replicates_needed

__all__ = ["replicates_for_power"]


def replicates_for_power(
    diffs: np.ndarray, *, confidence: float = 0.95, power: float = 0.8, max_n: int = 10_000
) -> float:
    """Replicates for the CI of a paired mean difference to exclude 0, with given power.

    :func:`ampaudit.estimands.replicates_needed` from a pilot's paired differences
    (treatment − control, one per replicate) with mean ``d`` and standard deviation
    ``s``: the smallest ``n`` with
    ``n ≥ ((t_{1−α/2, n−1} + t_{power, n−1}) · s / |d|)²`` — the normal-theory
    ``((z_{1−α/2} + z_{power}) · s / |d|)²`` with t quantiles at the ``n − 1``
    degrees of freedom of the interval the audit will report. The pilot's ``d`` and
    ``s`` are themselves estimates, so the answer is a planning figure, not a
    guarantee.

    Parameters
    ----------
    diffs : ndarray of shape (n_pilot,)
        Paired differences from a pilot (NaN dropped; at least two needed).
    confidence : float, default=0.95
        Level of the two-sided interval (``α = 1 − confidence``).
    power : float, default=0.8
        Probability that the interval excludes 0 when the true difference is ``d``.
    max_n : int, default=10000
        Largest count searched.

    Returns
    -------
    float
        The replicate count (at least 2); ``inf`` when the pilot's mean difference is 0
        (no effect to detect) or more than ``max_n`` replicates would be needed; ``nan``
        with fewer than two finite differences.

    References
    ----------
    .. [1] Cohen (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed.
       (sample size of the one-sample / paired t test).

    Examples
    --------
    >>> replicates_for_power(np.array([0.0, 2.0, 0.5, 1.5]))  # d = 1, s ≈ 0.91
    9.0
    >>> replicates_for_power(np.array([1.0, -1.0]))
    inf
    >>> replicates_for_power(np.array([2.0, 1.0, 3.0]))  # d/s = 2: a large effect
    5.0
    """
    v = np.asarray(diffs, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return math.nan
    d, sd = float(v.mean()), float(v.std(ddof=1))
    n = replicates_needed(d, sd, confidence=confidence, power=power, max_n=max_n)
    return math.inf if n > max_n else float(n)
