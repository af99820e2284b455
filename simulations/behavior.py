"""User behaviour: choice among options, content-driven opinion drift, taste drift.

Pure, vectorised functions over the active users of a step; the model wires them.
Social influence between users is in :mod:`~ampaudit.simulations.opinion`.
Utilities follow DESIGN §3.3 step 6:
``U_ij = b_taste·(u_i·v_j) − b_dist·|x_i − e_j| + b_appeal·α_i·appeal_j + b_q·q_j
− b_pos·log(1 + rank) + Gumbel`` and an outside option ``U_0 = τ + Gumbel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ampaudit.core.errors import check_range

from .catalog import Catalog
from .opinion import OpinionConf
from .population import Population, unit_rows

__all__ = [
    "BehaviorConf",
    "choose",
    "content_drift",
    "item_utility",
    "taste_drift",
]


@dataclass
class BehaviorConf:
    """Parameters of the choice model and of opinion dynamics.

    Parameters
    ----------
    p_follow : float, default=0.45
        Probability that an active user browses a followed creator instead of the feed.
    p_search : float, default=0.25
        Probability that an active user searches instead of using the feed.
    search_pool : int, default=100
        Items a search returns (uniform over the visible catalog, best one chosen).
    b_taste, b_dist, b_appeal, b_quality, b_pos : float, default=1.0, 4.0, 4.5, 0.5, 0.7
        Weights of taste match, ideological distance, sensational appeal (scaled
        by the user's appetite), quality and slate position (``log(1 + rank)``
        with rank counted from 0, so the top slot carries no penalty and only
        lower slots lose utility relative to the outside option).
    outside : float, default=0.8
        Utility ``τ`` of not clicking.
    drift_rate : float, default=0.2
        ``μ`` of bounded-confidence content drift ``x += μ·σ·(e − x)`` when
        ``|e − x| < ε``.
    anchoring : float, default=0.01
        Stubbornness ``ρ``: each active step ``x += ρ·(x0 − x)``
        (:func:`~ampaudit.simulations.opinion.anchoring`).
    taste_rate : float, default=0.05
        ``λ`` of taste drift ``u ← normalise((1 − λ)·u + λ·v)``.
    p_social : float, default=0.5
        Probability that an active user meets a partner (a random graph neighbour,
        or the one the ``people`` recommender picks).
    opinion : OpinionConf
        Opinion dynamics of those meetings; by default one-sided Deffuant,
        ``x_i += μ·(x_j − x_i)`` when ``|x_i − x_j| < ε_i`` with ``μ = 0.05`` and
        ``ε_i`` the user's latitude (see :class:`~ampaudit.simulations.opinion.OpinionConf`).
    radical_threshold : float, default=0.7
        ``θ``: a user with ``x ≥ θ`` counts as radicalised.
    """

    # defaults calibrated to real-user panels: see configs/behavior/default.yaml
    p_follow: float = 0.45
    p_search: float = 0.25
    search_pool: int = 100
    b_taste: float = 1.0
    b_dist: float = 4.0
    b_appeal: float = 4.5
    b_quality: float = 0.5
    b_pos: float = 0.7
    outside: float = 0.8
    drift_rate: float = 0.2
    anchoring: float = 0.01
    taste_rate: float = 0.05
    p_social: float = 0.5
    opinion: OpinionConf = field(default_factory=OpinionConf)
    radical_threshold: float = 0.7

    def validate(self, prefix: str = "behavior") -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        for name in (
            "p_follow",
            "p_search",
            "drift_rate",
            "anchoring",
            "taste_rate",
            "p_social",
            "radical_threshold",
        ):
            check_range(f"{prefix}.{name}", getattr(self, name), low=0, high=1)
        check_range(f"{prefix}.p_follow + p_search", self.p_follow + self.p_search, high=1)
        self.opinion.validate(f"{prefix}.opinion")
        check_range(f"{prefix}.search_pool", self.search_pool, low=1)
        for name in ("b_taste", "b_dist", "b_appeal", "b_quality", "b_pos"):
            check_range(f"{prefix}.{name}", getattr(self, name), low=0)


def item_utility(
    conf: BehaviorConf,
    population: Population,
    catalog: Catalog,
    users: np.ndarray,
    items: np.ndarray,
) -> np.ndarray:
    """Deterministic utility of ``items[r, j]`` for user ``users[r]`` (no position term).

    Parameters
    ----------
    users : ndarray of shape (n,)
    items : ndarray of shape (n, m)
        Item ids; ``-1`` entries get ``-inf``.

    Returns
    -------
    ndarray of shape (n, m)
    """
    valid = items >= 0
    safe = np.where(valid, items, 0)
    taste = np.einsum("nd,nmd->nm", population.taste[users], catalog.topics[safe])
    x = population.x[users][:, None]
    u = (
        conf.b_taste * taste
        - conf.b_dist * np.abs(x - catalog.extremity[safe])
        + conf.b_appeal * population.appetite[users][:, None] * catalog.appeal[safe]
        + conf.b_quality * catalog.quality[safe]
    )
    return np.where(valid, u, -np.inf)


def choose(utility: np.ndarray, outside: float, gumbel: np.ndarray) -> np.ndarray:
    """Multinomial-logit choice among ``m`` options and an outside option.

    Parameters
    ----------
    utility : ndarray of shape (n, m)
        Deterministic utilities (``-inf`` for missing options).
    outside : float
        Deterministic utility of not choosing.
    gumbel : ndarray of shape (n, m + 1)
        Standard Gumbel noise; the last column is the outside option's.

    Returns
    -------
    ndarray of shape (n,)
        Index of the chosen option, or ``-1`` for the outside option. With Gumbel
        noise, ``P(j) = exp(U_j) / (exp(τ) + Σ_k exp(U_k))``.

    References
    ----------
    .. [1] McFadden (1974). Conditional logit analysis of qualitative choice behavior.
    """
    m = utility.shape[1]
    total = (
        np.concatenate([utility, np.full((len(utility), 1), outside)], axis=1) + gumbel[:, : m + 1]
    )
    pick = np.argmax(total, axis=1)
    return np.where(pick == m, -1, pick)


def content_drift(
    population: Population, users: np.ndarray, extremity: np.ndarray, rate: float
) -> None:
    """Bounded-confidence drift toward consumed content, in place.

    ``x_i += rate·σ_i·(e − x_i)`` only where ``|e − x_i| < ε_i``; a convex step, so
    opinions stay in [0, 1] and never move past the item.

    References
    ----------
    .. [1] Deffuant, Neau, Amblard, Weisbuch (2000). Mixing beliefs among interacting
       agents. Advances in Complex Systems 3:87-98.
    """
    x = population.x[users]
    gap = extremity - x
    near = np.abs(gap) < population.latitude[users]
    population.x[users] = np.where(near, x + rate * population.susceptibility[users] * gap, x)


def taste_drift(population: Population, users: np.ndarray, topics: np.ndarray, rate: float) -> None:
    """``u ← normalise((1 − λ)·u + λ·v)`` for each user and consumed topic, in place."""
    mixed = (1 - rate) * population.taste[users] + rate * topics
    population.taste[users] = unit_rows(mixed.astype(np.float32))
