"""Rewiring watch-next links to shorten harmful pathways (Fabbri et al. 2022).

The watch-next graph: item ``u`` links to its ``d`` related items, each followed with
probability ``1/d``. Treat non-harmful items as absorbing: with ``Q`` the
harmful × harmful block of the transition matrix, ``F = (I − Q)⁻¹`` and
``z = F·1`` is the expected number of harmful items a random watcher sees before
leaving harmful content (segregation). Rewiring a harmful→harmful link ``u→v`` to a
non-harmful item lowers ``Q[u, v]`` by ``p``; ``F`` changes by a rank-1
(Sherman–Morrison) update, so greedy search over all links is cheap and exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ampaudit.core.intervention import ActionKind, PlatformView
from ampaudit.core.protocols import offers

from .base import Intervention

__all__ = [
    "RewireIntervention",
    "RewireInterventionConf",
    "RewireResult",
    "fundamental_matrix",
    "rewire",
    "segregation",
]


def _transition(links: np.ndarray, n_items: int, follow: float = 1.0) -> np.ndarray:
    """Transition matrix of ``links`` (``-1`` padded): ``follow / d`` per link.

    A watcher follows one of an item's ``d`` links with probability ``follow`` and
    leaves otherwise; an item without links is left.
    """
    d = (links >= 0).sum(axis=1, keepdims=True)
    p = np.zeros((len(links), n_items))
    rows, cols = np.nonzero(links >= 0)
    p[rows, links[rows, cols]] = (follow / np.maximum(d, 1))[rows, 0]
    return p


def fundamental_matrix(links: np.ndarray, harmful: np.ndarray, follow: float = 1.0) -> np.ndarray:
    """``F = (I − Q)⁻¹`` over the harmful items (rows/cols in ``np.flatnonzero(harmful)``).

    With ``follow = 1`` (Fabbri et al.'s walk) a closed loop of harmful items makes
    ``I − Q`` singular; ``follow < 1`` (a watcher may stop) keeps it invertible.

    Examples
    --------
    >>> links = np.array([[1, 2], [0, 3], [0, 1], [0, 1]])
    >>> fundamental_matrix(links, np.array([True, True, False, False])).sum(axis=1)
    array([2., 2.])
    """
    h = np.flatnonzero(harmful)
    q = _transition(links[h], len(harmful), follow)[:, h]
    return np.linalg.inv(np.eye(len(h)) - q)


def segregation(links: np.ndarray, harmful: np.ndarray, follow: float = 1.0) -> np.ndarray:
    """``z = F·1``: expected harmful items visited from each harmful item before leaving.

    If every harmful item has ``b`` non-harmful links among ``d``, ``z = d / b``.

    References
    ----------
    .. [1] Fabbri, Wang, Bonchi, Castillo, Mathioudakis (2022). Rewiring what-to-watch-
       next recommendations to reduce radicalization pathways. WWW. arXiv:2202.00640.
    """
    return fundamental_matrix(links, harmful, follow).sum(axis=1)


@dataclass
class RewireResult:
    """Outcome of :func:`rewire`.

    Attributes
    ----------
    links : ndarray of shape (n_items, d)
        The rewired watch-next lists.
    z_history : list of ndarray
        Segregation vector before and after each rewiring.
    moves : list of (u, old, new)
    """

    links: np.ndarray
    z_history: list[np.ndarray] = field(default_factory=list)
    moves: list[tuple[int, int, int]] = field(default_factory=list)


def rewire(
    links: np.ndarray,
    relevance: np.ndarray,
    harmful: np.ndarray,
    *,
    budget: int,
    tau: float = 0.8,
    strategy: str = "greedy",
    rng: np.random.Generator | None = None,
    follow: float = 1.0,
) -> RewireResult:
    """Rewire up to ``budget`` harmful→harmful links to non-harmful items.

    A link ``u→v`` may become ``u→w`` only if ``w`` is non-harmful, not already linked
    from ``u``, and ``relevance[u, w] >= tau * relevance[u, v]`` (the relevance
    constraint); the best such ``w`` is used. ``strategy="greedy"`` takes, each round,
    the feasible link whose removal lowers ``Σ z`` most (exact, by Sherman–Morrison);
    ``"random"`` takes a random feasible link (the baseline).

    Parameters
    ----------
    links : ndarray of shape (n_items, d)
    relevance : ndarray of shape (n_items, n_items)
    harmful : ndarray of shape (n_items,), bool
    budget : int
        Rewirings ``K``.
    tau : float, default=0.8
    strategy : {"greedy", "random"}
    rng : numpy.random.Generator, optional
        Needed for ``"random"``.
    follow : float, default=1.0
        Probability that a watcher follows a link at all (see :func:`fundamental_matrix`).
    """
    links = links.copy()
    h = np.flatnonzero(harmful)
    pos = np.full(len(harmful), -1)
    pos[h] = np.arange(len(h))
    f = fundamental_matrix(links, harmful, follow)
    result = RewireResult(links=links, z_history=[f.sum(axis=1)])
    d = (links >= 0).sum(axis=1)
    for _ in range(budget):
        us, slots = np.nonzero((links >= 0) & harmful[np.maximum(links, 0)])
        us_h = harmful[us]
        us, slots = us[us_h], slots[us_h]
        if len(us) == 0:
            break
        vs = links[us, slots]
        # best feasible replacement per link
        rel = np.where(harmful[None, :], -np.inf, relevance[us])
        rel[np.arange(len(us))[:, None], np.maximum(links[us], 0)] = -np.inf
        best_w = np.argmax(rel, axis=1)
        ok = rel[np.arange(len(us)), best_w] >= tau * relevance[us, vs]
        if not ok.any():
            break
        us, slots, vs, best_w = us[ok], slots[ok], vs[ok], best_w[ok]
        p = follow / d[us]
        iu, iv = pos[us], pos[vs]
        z = result.z_history[-1]  # Σ of the current f's rows
        gain = p * f[:, iu].sum(axis=0) * z[iv] / (1 + p * f[iv, iu])
        if strategy == "greedy":
            pick = int(np.argmax(gain))
        else:
            assert rng is not None, "strategy='random' needs an rng"
            pick = int(rng.integers(len(us)))
        u, v, w, pu = us[pick], vs[pick], best_w[pick], p[pick]
        a, b = pos[u], pos[v]
        f = f - pu * np.outer(f[:, a], f[b, :]) / (1 + pu * f[b, a])
        links[u, slots[pick]] = w
        result.moves.append((int(u), int(v), int(w)))
        result.z_history.append(f.sum(axis=1))
    return result


class RewireIntervention(Intervention):
    """Rewire the recommender's watch-next lists (``related``) to cut harmful pathways.

    Every ``every`` steps: take each visible item's ``d`` related items from the
    recommender, mark as harmful the items whose classifier score reaches
    ``threshold``, and apply ``budget`` rewirings (greedy or random baseline) under
    the relevance constraint ``tau``, with relevance the cosine similarity of public
    topic vectors. It records segregation (mean and max ``z``) before and after, and
    the relevance lost. Recommenders without ``related`` are left alone.

    Users meet the rewired lists on the watch-next channel (``behavior.p_watch_next``
    > 0): :meth:`on_watch_next` serves them in place of the recommender's lists for
    the items they cover (items published since keep the recommender's). Set
    ``behavior.watch_next_size`` to ``d`` so that users see the whole rewired list.

    Parameters
    ----------
    budget : int, default=20
        Rewirings ``K`` per application.
    tau : float, default=0.8
    d : int, default=5
        Watch-next links per item.
    threshold : float, default=0.6
    strategy : {"greedy", "random"}, default="greedy"
    every : int, default=10
    max_items : int, default=5000
        Dense relevance is n × n: larger catalogs are skipped with a recorded NaN.
    follow : float, default=0.9
        Probability that a watcher follows a watch-next link at all; below 1 a
        closed loop of harmful items (common early in a run, when lists are short)
        still has a finite segregation.

    Attributes
    ----------
    links_ : ndarray of shape (n_visible, d)
        The rewired watch-next lists of the last application.

    References
    ----------
    .. [1] Fabbri, Wang, Bonchi, Castillo, Mathioudakis (2022). Rewiring what-to-watch-
       next recommendations to reduce radicalization pathways. WWW.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {}  # it records values, not actions
    name = "rewire"
    links_: np.ndarray | None = None

    def __init__(
        self,
        *,
        budget: int = 20,
        tau: float = 0.8,
        d: int = 5,
        threshold: float = 0.6,
        strategy: str = "greedy",
        every: int = 10,
        max_items: int = 5000,
        follow: float = 0.9,
    ) -> None:
        self.budget = budget
        self.tau = tau
        self.d = d
        self.threshold = threshold
        self.strategy = strategy
        self.every = every
        self.max_items = max_items
        self.follow = follow

    def check_params(self) -> None:
        """Raise :class:`~ampaudit.core.errors.ConfigError` for an invalid parameter."""
        from ampaudit.core.errors import ConfigError, check_range

        check_range("rewire.budget", self.budget, low=0)
        check_range("rewire.tau", self.tau, low=0, high=1)
        check_range("rewire.d", self.d, low=1)
        check_range("rewire.threshold", self.threshold, low=0, high=1)
        check_range("rewire.every", self.every, low=1)
        check_range("rewire.max_items", self.max_items, low=2)
        check_range("rewire.follow", self.follow, low=0, high=1, high_open=True)
        if self.strategy not in ("greedy", "random"):
            raise ConfigError("rewire.strategy", self.strategy, "greedy or random")

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:
        """Forget the lists of an earlier run."""
        super().reset(view, rng)
        self.links_ = None

    def on_watch_next(
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, lists: np.ndarray
    ) -> np.ndarray | None:
        """The rewired watch-next lists of ``items``, where the last application covers them."""
        if self.links_ is None:
            return None
        known = np.flatnonzero(items < len(self.links_))
        rewired = self.links_[items[known]]
        d = min(lists.shape[1], rewired.shape[1])
        out = lists.copy()
        out[known] = -1
        out[known, :d] = rewired[:, :d]
        return out

    def on_item_graph(self, view: PlatformView) -> None:
        """Rewire the watch-next graph every ``every`` steps and record segregation."""
        rec = view.recommender
        if rec is None or not offers(rec, "related") or view.t % self.every != 0:
            return
        n = view.catalog.n_visible(view.t)
        if n > self.max_items:
            view.record_value(f"{self.name}.z_mean_before", float("nan"))
            return
        links = np.asarray(rec.related(np.arange(n), self.d), dtype=np.int64)  # type: ignore[attr-defined]
        harmful = view.catalog.score[:n] >= self.threshold
        if harmful.sum() == 0:
            return
        features = view.catalog.topics[:n]
        relevance = features @ features.T
        result = rewire(
            links,
            relevance,
            harmful,
            budget=self.budget,
            tau=self.tau,
            strategy=self.strategy,
            rng=self.rng,
            follow=self.follow,
        )
        z0, z1 = result.z_history[0], result.z_history[-1]
        view.record_value(f"{self.name}.z_mean_before", float(z0.mean()))
        view.record_value(f"{self.name}.z_mean_after", float(z1.mean()))
        view.record_value(f"{self.name}.z_max_after", float(z1.max()))
        lost = [relevance[u, v] - relevance[u, w] for u, v, w in result.moves]
        view.record_value(f"{self.name}.relevance_lost", float(np.sum(lost)) if lost else 0.0)
        self.links_ = result.links


@dataclass
class RewireInterventionConf:
    """Hydra config of :class:`RewireIntervention`."""

    _target_: str = "ampaudit.interventions.RewireIntervention"
    budget: int = 20
    tau: float = 0.8
    d: int = 5
    threshold: float = 0.6
    strategy: str = "greedy"
    every: int = 10
    max_items: int = 5000
    follow: float = 0.9
