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

from ampaudit.core.errors import ConfigError, check_range

from .catalog import Catalog
from .choice import CHOICE_MODELS
from .opinion import OpinionConf
from .population import Population, unit_rows

__all__ = [
    "BehaviorConf",
    "content_drift",
    "item_utility",
    "taste_drift",
    "visible_utility",
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
        ``θ``: a user with ``|x| ≥ θ`` (distance from the centre; ``x`` itself on a
        one-sided axis) counts as radicalised.
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
    opinion: OpinionConf = field(default_factory=OpinionConf)
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
        self.opinion.validate(f"{prefix}.opinion")
        check_range(f"{prefix}.search_pool", self.search_pool, low=1)
        for name in ("b_taste", "b_dist", "b_appeal", "b_quality", "b_pos"):
            check_range(f"{prefix}.{name}", getattr(self, name), low=0)
        if self.choice not in CHOICE_MODELS:
            raise ConfigError(f"{prefix}.choice", self.choice, f"one of {', '.join(CHOICE_MODELS)}")
        check_range(f"{prefix}.rank_discount", self.rank_discount, low=0)
        check_range(f"{prefix}.p_watch_next", self.p_watch_next, low=0, high=1)
        check_range(f"{prefix}.watch_next_size", self.watch_next_size, low=1)
        check_range(f"{prefix}.watch_next_b_pos", self.watch_next_b_pos, low=0)


def _combine(
    conf: BehaviorConf,
    taste: np.ndarray,
    x: np.ndarray,
    position: np.ndarray,
    appetite: np.ndarray,
    appeal: np.ndarray,
    quality: np.ndarray,
) -> np.ndarray:
    """The utility formula of DESIGN §3.3 step 6, without position and noise terms.

    Arguments broadcast to the output's shape; ``taste`` is the taste-match term
    (``u_i·v_j``, or the world's utility matrix). Distance is on the signed axis.
    """
    return (
        conf.b_taste * taste
        - conf.b_dist * np.abs(x - position)
        + conf.b_appeal * appetite * appeal
        + conf.b_quality * quality
    )


def item_utility(
    conf: BehaviorConf,
    population: Population,
    catalog: Catalog,
    users: np.ndarray,
    items: np.ndarray,
) -> np.ndarray:
    """Deterministic utility of ``items[r, j]`` for user ``users[r]`` (no position term).

    ``U = b_taste·m_ij − b_dist·|x_i − e_j| + b_appeal·α_i·appeal_j + b_q·q_j`` with
    ``m_ij = u_i·v_j``, or the world's utility matrix ``population.utility[i, j]``
    when it has one.

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
    if population.utility is None:
        taste = np.einsum("nd,nmd->nm", population.taste[users], catalog.topics[safe])
    else:
        taste = population.utility[users[:, None], safe]
    u = _combine(
        conf,
        taste,
        population.x[users][:, None],
        catalog.extremity[safe],
        population.appetite[users][:, None],
        catalog.appeal[safe],
        catalog.quality[safe],
    )
    return np.where(valid, u, -np.inf)


#: Entries of one chunk of :func:`visible_utility` (float64 temporaries of 8 MB).
_CHUNK = 1 << 20


def visible_utility(
    conf: BehaviorConf,
    population: Population,
    catalog: Catalog,
    users: np.ndarray,
    n_items: int,
) -> np.ndarray:
    """:func:`item_utility` of items ``0..n_items-1`` (all visible ones) for each user.

    The oracle's view of true utility. Evaluated in user chunks of about
    ``2**20`` entries, so the temporaries stay bounded; the taste term is one
    matrix product per chunk instead of a gather, equal to :func:`item_utility`'s
    up to float32 rounding (exactly equal with a utility matrix).

    Returns
    -------
    ndarray of shape (len(users), n_items), float32
    """
    out = np.empty((len(users), n_items), dtype=np.float32)
    rows = max(1, _CHUNK // max(n_items, 1))
    topics = catalog.topics[:n_items]
    for lo in range(0, len(users), rows):
        chunk = users[lo : lo + rows]
        if population.utility is None:
            taste = population.taste[chunk] @ topics.T
        else:
            taste = population.utility[chunk, :n_items]
        out[lo : lo + rows] = _combine(
            conf,
            taste,
            population.x[chunk][:, None],
            catalog.extremity[:n_items],
            population.appetite[chunk][:, None],
            catalog.appeal[:n_items],
            catalog.quality[:n_items],
        )
    return out


def content_drift(
    population: Population, users: np.ndarray, extremity: np.ndarray, rate: float
) -> None:
    """Bounded-confidence drift toward consumed content, in place.

    ``x_i += rate·σ_i·(e − x_i)`` only where ``|e − x_i| < ε_i``; a convex step
    (``rate·σ_i ≤ 1``), so opinions stay on the axis, one- or two-sided, and never
    move past the item.

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
