"""User behaviour: choice among options, and opinion and taste dynamics.

Pure, vectorised functions over the active users of a step; the model wires them.
Utilities follow DESIGN §3.3 step 6:
``U_ij = b_taste·(u_i·v_j) − b_dist·|x_i − e_j| + b_appeal·α_i·appeal_j + b_q·q_j
− b_pos·log(1 + rank) + Gumbel`` and an outside option ``U_0 = τ + Gumbel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import ConfigError, check_range

from .catalog import Catalog
from .choice import CHOICE_MODELS
from .population import Population, unit_rows

__all__ = [
    "BehaviorConf",
    "content_drift",
    "item_utility",
    "social_influence",
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
        Stubbornness ``ρ``: each active step ``x += ρ·(x0 − x)``.
    taste_rate : float, default=0.05
        ``λ`` of taste drift ``u ← normalise((1 − λ)·u + λ·v)``.
    p_social : float, default=0.5
        Probability that an active user meets a random graph neighbour.
    social_rate : float, default=0.05
        Deffuant rate: ``x_i += μ_s·(x_j − x_i)`` when ``|x_i − x_j| < ε_i``.
    radical_threshold : float, default=0.7
        ``θ``: a user with ``x ≥ θ`` counts as radicalised.
    choice : str, default="logit"
        Choice model of every channel (a name in
        :data:`~ampaudit.simulations.choice.CHOICE_MODELS`: ``logit``,
        ``proportional``, ``uniform``, ``top1``, ``rank_discounted``).
    rank_discount : float, default=0.8
        ``β`` of the ``rank_discounted`` choice model.
    p_watch_next : float, default=0.0
        Probability that a user who consumed an item goes on to its watch-next
        list (the recommender's ``related`` items, after watch-next-stage
        interventions such as ``rewire``) and may consume one more item from it.
        0 (the default) turns the channel off; recommenders without ``related``
        never offer one.
    watch_next_size : int, default=5
        Items in a watch-next list.
    watch_next_b_pos : float, default=0.7
        Position weight within a watch-next list (``log(1 + rank)``, as ``b_pos``).
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
    social_rate: float = 0.05
    radical_threshold: float = 0.7
    choice: str = "logit"
    rank_discount: float = 0.8
    p_watch_next: float = 0.0
    watch_next_size: int = 5
    watch_next_b_pos: float = 0.7

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
        check_range(f"{prefix}.social_rate", self.social_rate, low=0, high=0.5)
        check_range(f"{prefix}.search_pool", self.search_pool, low=1)
        for name in ("b_taste", "b_dist", "b_appeal", "b_quality", "b_pos"):
            check_range(f"{prefix}.{name}", getattr(self, name), low=0)
        if self.choice not in CHOICE_MODELS:
            raise ConfigError(f"{prefix}.choice", self.choice, f"one of {', '.join(CHOICE_MODELS)}")
        check_range(f"{prefix}.rank_discount", self.rank_discount, low=0)
        check_range(f"{prefix}.p_watch_next", self.p_watch_next, low=0, high=1)
        check_range(f"{prefix}.watch_next_size", self.watch_next_size, low=1)
        check_range(f"{prefix}.watch_next_b_pos", self.watch_next_b_pos, low=0)


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


def anchor(population: Population, users: np.ndarray, rate: float) -> None:
    """Pull active users' opinions back toward their anchors ``x0``, in place."""
    x = population.x[users]
    population.x[users] = x + rate * (population.x0[users] - x)


def taste_drift(population: Population, users: np.ndarray, topics: np.ndarray, rate: float) -> None:
    """``u ← normalise((1 − λ)·u + λ·v)`` for each user and consumed topic, in place."""
    mixed = (1 - rate) * population.taste[users] + rate * topics
    population.taste[users] = unit_rows(mixed.astype(np.float32))


def social_influence(
    population: Population, users: np.ndarray, peers: np.ndarray, rate: float
) -> None:
    """Asymmetric Deffuant update: each user moves toward their peer, in place.

    ``x_i += rate·(x_j − x_i)`` where ``|x_i − x_j| < ε_i``, using opinions from
    before the update. Only the active user moves (the peer updates on its own
    active steps), which keeps the update exactly convex under vectorisation.
    ``peers[r] = -1`` means no meeting.
    """
    met = peers >= 0
    users, peers = users[met], peers[met]
    xi, xj = population.x[users], population.x[peers]
    near = np.abs(xj - xi) < population.latitude[users]
    population.x[users] = np.where(near, xi + rate * (xj - xi), xi)
