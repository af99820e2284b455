"""Polarisation, diversity and concentration measures (REFERENCES §1).

Pure functions over opinion vectors, category counts or item exposures; each has
the unit-test vectors of REFERENCES §1 in its tests.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import stats

__all__ = [
    "bimodality_coefficient",
    "cluster_sizes",
    "effective_clusters",
    "entropy",
    "esteban_ray",
    "hill_number",
    "jaccard_homogenisation",
    "lorenz_curve",
    "mean_pairwise_distance",
    "reachability",
]


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sarle's bimodality coefficient with bias-corrected skewness and excess kurtosis.

    ``BC = (g² + 1) / (k + 3(n − 1)² / ((n − 2)(n − 3)))``; above 5/9 suggests
    bimodality. NaN for fewer than 4 values or no variance.

    References
    ----------
    .. [1] Pfister, Schwarz, Janczyk, Dale, Freeman (2013). Good things peak in pairs:
       a note on the bimodality coefficient. Frontiers in Psychology 4:700.

    Examples
    --------
    >>> counts = [3, 5, 5, 10, 17, 20, 17, 10, 5, 5, 3]
    >>> round(bimodality_coefficient(np.repeat(np.arange(1, 12), counts)), 3)
    0.336
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n < 4 or np.ptp(v) == 0:
        return float("nan")
    g = stats.skew(v, bias=False)
    k = stats.kurtosis(v, bias=False)
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def esteban_ray(
    values: np.ndarray,
    *,
    alpha: float = 1.6,
    k: float = 1.0,
    bins: int = 10,
    span: tuple[float, float] = (0.0, 1.0),
) -> float:
    """Esteban–Ray polarisation ``P = K Σ_i Σ_j π_i^(1+α) π_j |y_i − y_j|``.

    Opinions on the axis ``span`` (default [0, 1]; (-1, 1) for a two-sided axis)
    are grouped into ``bins`` equal bins (``π`` the shares, ``y`` the bins' mean
    opinions).

    References
    ----------
    .. [1] Esteban, Ray (1994). On the measurement of polarization. Econometrica
       62(4):819-851.

    Examples
    --------
    >>> round(esteban_ray(np.array([0.0, 0.0, 1.0, 1.0]), alpha=1.0), 4)  # 2·0.5^3
    0.25
    """
    v = np.asarray(values, dtype=float)
    low, high = span
    idx = np.clip(((v - low) / (high - low) * bins).astype(int), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    sums = np.bincount(idx, weights=v, minlength=bins)
    keep = counts > 0
    pi = counts[keep] / counts.sum()
    y = sums[keep] / counts[keep]
    return float(k * np.sum(np.outer(pi ** (1 + alpha), pi) * np.abs(np.subtract.outer(y, y))))


def effective_clusters(sizes: np.ndarray) -> float:
    """Effective number of clusters ``(Σ c)² / Σ c²`` (e.g. of :func:`cluster_sizes`).

    References
    ----------
    .. [1] Laakso, M., Taagepera, R. (1979). "Effective" number of parties: a measure
       with application to West Europe. Comparative Political Studies 12(1):3-27.

    Examples
    --------
    >>> effective_clusters(np.array([50, 50])), round(effective_clusters(np.array([90, 10])), 2)
    (2.0, 1.22)
    """
    c = np.asarray(sizes, dtype=float)
    return float(c.sum() ** 2 / np.sum(c**2)) if c.sum() > 0 else 0.0


def cluster_sizes(values: np.ndarray, *, resolution: float = 1e-3) -> np.ndarray:
    """Sizes of the opinion clusters: maximal runs of sorted values with gaps below ``resolution``.

    At convergence, bounded-confidence clusters are points at least ``ε`` apart
    (Deffuant et al. 2000), so any ``resolution < ε`` finds the same final clusters;
    before, a dense spread of opinions is one cluster.

    Parameters
    ----------
    values : ndarray of shape (n,)
    resolution : float, default=1e-3
        Consecutive sorted values at least this far apart start a new cluster.

    Returns
    -------
    ndarray of shape (n_clusters,)
        Cluster sizes, from the lowest cluster up; they sum to ``n``.

    References
    ----------
    .. [1] Deffuant, Neau, Amblard, Weisbuch (2000). Mixing beliefs among interacting
       agents. Advances in Complex Systems 3:87-98.

    Examples
    --------
    >>> cluster_sizes(np.array([0.5, 0.1, 0.1004, 0.9, 0.5]), resolution=1e-3).tolist()
    [2, 2, 1]
    """
    v = np.sort(np.asarray(values, dtype=float))
    if len(v) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(v) >= resolution) + 1, [len(v)]])
    return np.diff(starts)


def mean_pairwise_distance(values: np.ndarray) -> float:
    """``1/(N(N−1)) Σ_{i≠j} |x_i − x_j|``, exact in O(N log N) from the sorted values.

    Examples
    --------
    >>> round(mean_pairwise_distance(np.linspace(0, 1, 10001)), 3)
    0.333
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n < 2:
        return 0.0
    rank = np.arange(1, n + 1)
    return float(2 * np.sum(v * (2 * rank - n - 1)) / (n * (n - 1)))


def entropy(shares: np.ndarray) -> float:
    """Shannon entropy ``−Σ p log p`` (natural log) of shares or counts.

    Examples
    --------
    >>> round(entropy(np.ones(4)), 4)  # log 4
    1.3863
    """
    p = np.asarray(shares, dtype=float)
    p = p[p > 0] / p.sum() if p.sum() > 0 else p[:0]
    return float(-np.sum(p * np.log(p)))


def hill_number(shares: np.ndarray, q: float = 1.0) -> float:
    """Hill number of order ``q`` (``exp`` of the entropy for ``q = 1``): effective categories."""
    p = np.asarray(shares, dtype=float)
    p = p[p > 0] / p.sum()
    if q == 1:
        return float(np.exp(-np.sum(p * np.log(p))))
    return float(np.sum(p**q) ** (1 / (1 - q)))


def lorenz_curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative population share vs. cumulative share of ``values`` (ascending)."""
    v = np.sort(np.asarray(values, dtype=float))
    total = v.sum()
    x = np.arange(len(v) + 1) / max(len(v), 1)
    y = np.concatenate([[0.0], np.cumsum(v) / total]) if total > 0 else x.copy()
    return x, y


def jaccard_homogenisation(
    consumed: sp.csr_matrix, *, pairs: str = "most_similar", rng: np.random.Generator | None = None
) -> float:
    """Mean Jaccard index of users' consumed-item sets over user pairs.

    ``pairs="most_similar"`` pairs each user with the other user whose set is most
    similar (Chaney et al. 2018); ``"random"`` with a random other user. Users with
    empty sets are skipped. Subtract the same quantity under the ``ideal``
    recommender to get homogenisation.

    References
    ----------
    .. [1] Chaney, Stewart, Engelhardt (2018). How algorithmic confounding in
       recommendation systems increases homogeneity and decreases utility. RecSys.
    """
    c = sp.csr_matrix(consumed, dtype=np.float32)
    c.data[:] = 1.0
    sizes = np.asarray(c.sum(axis=1)).ravel()
    users = np.flatnonzero(sizes > 0)
    if len(users) < 2:
        return float("nan")
    c = c[users]
    sizes = sizes[users]
    inter = (c @ c.T).toarray()
    union = sizes[:, None] + sizes[None, :] - inter
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    np.fill_diagonal(jac, -1.0)
    if pairs == "most_similar":
        return float(jac.max(axis=1).mean())
    assert rng is not None, "pairs='random' needs an rng"
    other = (rng.integers(1, len(users), size=len(users)) + np.arange(len(users))) % len(users)
    return float(jac[np.arange(len(users)), other].mean())


def reachability(
    transition: np.ndarray, source: np.ndarray, target: np.ndarray, steps: int
) -> float:
    """P(a random walk from a uniform ``source`` node hits ``target`` within ``steps``).

    Parameters
    ----------
    transition : ndarray of shape (n, n)
        Row-stochastic transition matrix (e.g. of the watch-next graph).
    source, target : ndarray of shape (n,), bool
    steps : int

    References
    ----------
    .. [1] Ribeiro, Ottoni, West, Almeida, Meira (2020). Auditing radicalization
       pathways on YouTube. FAT*.
    """
    p = source.astype(float) / max(source.sum(), 1)
    hit = float(p[target].sum())
    p = np.where(target, 0.0, p)
    for _ in range(steps):
        p = p @ transition
        hit += float(p[target].sum())
        p = np.where(target, 0.0, p)
    return hit
