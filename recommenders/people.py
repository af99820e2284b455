"""The people recommender: who a user meets for social influence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import PlatformData
from ampaudit.core.ranking import random_member

__all__ = ["PEOPLE_MODES", "PeopleRecommender", "PeopleRecommenderConf"]

PEOPLE_MODES = ("graph", "random", "similar")


class PeopleRecommender:
    """Pick one interaction partner per active user.

    ``mode="graph"`` meets a uniformly random neighbour on the social graph (no
    recommender: the organic baseline); ``"random"`` meets any other user;
    ``"similar"`` samples ``n_candidates`` users and picks one with probability
    ``∝ |x̂_i − x̂_j|^(−γ)``, a similarity-biased people recommender. ``x̂`` is what
    the platform can estimate of an opinion: the mean classifier score of what the
    user consumed (users with no history get the population mean).

    Parameters
    ----------
    mode : {"graph", "random", "similar"}, default="graph"
    gamma : float, default=2.0
        Similarity bias ``γ`` (0 = uniform over candidates).
    n_candidates : int, default=16
        Candidates sampled per user in ``similar`` mode.

    Notes
    -----
    Every call draws a fixed number of variates for a given number of users and
    mode (``(n, n_candidates + 1)`` uniforms), so arms sharing a stream stay in step.

    References
    ----------
    .. [1] Deffuant, Neau, Amblard, Weisbuch (2000). Mixing beliefs among interacting
       agents. Advances in Complex Systems 3:87-98.
    """

    def __init__(self, *, mode: str = "graph", gamma: float = 2.0, n_candidates: int = 16) -> None:
        self.mode = mode
        self.gamma = gamma
        self.n_candidates = n_candidates

    def check_params(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        if self.mode not in PEOPLE_MODES:
            raise ConfigError("people.mode", self.mode, f"one of {', '.join(PEOPLE_MODES)}")
        check_range("people.gamma", self.gamma, low=0)
        check_range("people.n_candidates", self.n_candidates, low=1)

    def peers(
        self, users: np.ndarray, data: PlatformData, *, rng: np.random.Generator
    ) -> np.ndarray:
        """One partner per user (``-1`` when there is none, e.g. an isolated node).

        Parameters
        ----------
        users : ndarray of shape (n,)
        data : PlatformData
            Needs ``social`` for ``graph`` mode and the log and classifier scores for
            ``similar`` mode.
        rng : numpy.random.Generator
            The behaviour stream.
        """
        n, n_users = len(users), data.n_users
        u = rng.random((n, self.n_candidates + 1))
        if self.mode == "graph":
            if data.social is None:
                return np.full(n, -1, dtype=np.int64)
            return random_member(data.social.indptr, data.social.indices, users, u[:, 0])
        # other users only: draw from n_users - 1 and skip over oneself
        candidates = (u[:, 1:] * (n_users - 1)).astype(np.int64)
        candidates += candidates >= users[:, None]
        if self.mode == "random":
            return candidates[:, 0]
        x_hat = self.estimated_opinions(data)
        gap = np.abs(x_hat[users][:, None] - x_hat[candidates])
        weights = np.maximum(gap, 1e-3) ** -self.gamma
        cdf = np.cumsum(weights, axis=1)
        pick = (u[:, :1] * cdf[:, -1:] > cdf).sum(axis=1)
        return candidates[np.arange(n), np.minimum(pick, self.n_candidates - 1)]

    @staticmethod
    def estimated_opinions(data: PlatformData) -> np.ndarray:
        """Mean classifier score of each user's consumption (population mean if none)."""
        consumed = data.consumed()
        counts = np.asarray(consumed.sum(axis=1)).ravel()
        sums = consumed @ data.items.score[: consumed.shape[1]].astype(np.float64)
        has = counts > 0
        x_hat = np.full(data.n_users, sums[has].sum() / max(counts[has].sum(), 1))
        x_hat[has] = sums[has] / counts[has]
        return x_hat


@dataclass
class PeopleRecommenderConf:
    """Hydra config of :class:`PeopleRecommender`."""

    _target_: str = "ampaudit.recommenders.PeopleRecommender"
    mode: str = "graph"
    gamma: float = 2.0
    n_candidates: int = 16
