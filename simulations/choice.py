"""Choice models: which option a user (or a sock-puppet persona) picks from a slate.

Every model takes the same inputs — deterministic utilities of ``m`` options, the
utility ``τ`` of the outside option (not choosing) and one block of uniforms of shape
``(n, m + 1)`` — so a step draws the same variates whatever model is configured, and
arms sharing a stream keep common random numbers. Columns of ``utility`` are slate
positions (rank 0 first); ``-inf`` marks a missing option.

Adding a model is one function here and one name in :data:`CHOICE_MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["CHOICE_MODELS", "choose", "gumbel_from_uniform"]


def gumbel_from_uniform(u: np.ndarray) -> np.ndarray:
    """Standard Gumbel variates ``-log(-log(U))``; ``U`` is clipped to [tiny, 1).

    Examples
    --------
    >>> float(gumbel_from_uniform(np.array([np.exp(-1.0)], dtype=np.float32))[0])
    0.0
    """
    u = np.maximum(u, np.finfo(u.dtype).tiny)
    return -np.log(-np.log(u))


def _with_outside(utility: np.ndarray, outside: float) -> np.ndarray:
    return np.concatenate([utility, np.full((len(utility), 1), outside)], axis=1)


def _as_choice(pick: np.ndarray, m: int, valid: np.ndarray) -> np.ndarray:
    """Column picked → slate index, ``-1`` for the outside option or nothing valid."""
    ok = valid[np.arange(len(pick)), np.minimum(pick, valid.shape[1] - 1)]
    return np.where((pick == m) | ~ok, -1, pick)


def logit(utility: np.ndarray, outside: float, uniforms: np.ndarray, **_: float) -> np.ndarray:
    """Multinomial logit: ``P(j) = exp(U_j) / (exp(τ) + Σ_k exp(U_k))`` (McFadden 1974).

    Drawn as the argmax of utility plus Gumbel noise (one variate per option).
    """
    m = utility.shape[1]
    total = _with_outside(utility, outside) + gumbel_from_uniform(uniforms[:, : m + 1])
    pick = np.argmax(total, axis=1)
    # no finite option at all (an empty slate and outside = -inf): nothing is chosen
    return np.where((pick == m) | ~np.isfinite(total[np.arange(len(pick)), pick]), -1, pick)


def _draw(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn with probability ∝ ``weights`` per row (``-1`` when all are 0)."""
    cdf = np.cumsum(weights, axis=1)
    total = cdf[:, -1]
    pick = (u[:, None] * total[:, None] >= cdf).sum(axis=1)
    return np.where(total > 0, np.minimum(pick, weights.shape[1] - 1), -1)


def proportional(
    utility: np.ndarray, outside: float, uniforms: np.ndarray, **_: float
) -> np.ndarray:
    """Utility-proportional (Luce 1959): ``P(j) = U⁺_j / (τ⁺ + Σ_k U⁺_k)``, ``x⁺ = max(x, 0)``.

    Options of non-positive utility are never chosen; with nothing positive the
    user chooses nothing. Uses the first uniform of each row.
    """
    m = utility.shape[1]
    weights = np.maximum(np.nan_to_num(_with_outside(utility, outside), neginf=0.0), 0.0)
    pick = _draw(weights, uniforms[:, 0])
    return np.where((pick == m) | (pick < 0), -1, pick)


def uniform(utility: np.ndarray, outside: float, uniforms: np.ndarray, **_: float) -> np.ndarray:
    """A uniformly random offered option; never the outside option (a random clicker)."""
    return _draw(np.isfinite(utility).astype(np.float64), uniforms[:, 0])


def _best(score: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Argmax per row, ties broken by the row's uniforms (never by position)."""
    top = score == score.max(axis=1, keepdims=True)
    return np.argmax(np.where(top, uniforms[:, : score.shape[1]], -1.0), axis=1)


def top1(utility: np.ndarray, outside: float, uniforms: np.ndarray, **_: float) -> np.ndarray:
    """The option of highest utility, the outside option included (deterministic).

    Set ``behavior.outside`` to ``-.inf`` for a user who always picks an item.
    """
    m = utility.shape[1]
    scores = _with_outside(utility, outside)
    pick = _best(scores, uniforms)
    return _as_choice(pick, m, np.isfinite(scores))


def rank_discounted(
    utility: np.ndarray, outside: float, uniforms: np.ndarray, *, rank_discount: float = 0.8
) -> np.ndarray:
    """The option maximising ``U_j·(1 + r_j)^(−β)`` (``r_j`` the position from 0).

    Chaney, Stewart & Engelhardt (2018) have users pick the argmax of known utility
    times ``rank^(−0.8)``; utilities are meant to be positive, as in their model.
    The outside option is undiscounted.
    """
    m = utility.shape[1]
    discount = (1.0 + np.arange(m)) ** -rank_discount
    scores = _with_outside(utility * discount[None, :], outside)
    pick = _best(scores, uniforms)
    return _as_choice(pick, m, np.isfinite(scores))


#: Choice models by config name (``behavior.choice``).
CHOICE_MODELS: dict[str, Callable[..., np.ndarray]] = {
    "logit": logit,
    "proportional": proportional,
    "uniform": uniform,
    "top1": top1,
    "rank_discounted": rank_discounted,
}


def choose(
    utility: np.ndarray,
    outside: float,
    uniforms: np.ndarray,
    *,
    model: str = "logit",
    rank_discount: float = 0.8,
) -> np.ndarray:
    """Pick one of ``m`` options per row, or none.

    Parameters
    ----------
    utility : ndarray of shape (n, m)
        Deterministic utilities; ``-inf`` for missing options.
    outside : float
        Deterministic utility ``τ`` of not choosing.
    uniforms : ndarray of shape (n, m + 1)
        Uniforms in [0, 1), drawn by the caller in a fixed shape.
    model : str, default="logit"
        A name in :data:`CHOICE_MODELS`.
    rank_discount : float, default=0.8
        ``β`` of ``rank_discounted``.

    Returns
    -------
    ndarray of shape (n,)
        Index of the chosen option, ``-1`` for the outside option (or nothing).

    Examples
    --------
    >>> u = np.array([[0.1, 2.0, -np.inf]])
    >>> draws = np.full((1, 4), 0.5, dtype=np.float32)
    >>> [int(choose(u, 1.0, draws, model=m)[0]) for m in ("top1", "uniform")]
    [1, 1]
    >>> int(choose(u, 5.0, draws, model="top1")[0])
    -1
    """
    return CHOICE_MODELS[model](utility, outside, uniforms, rank_discount=rank_discount)
