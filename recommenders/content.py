"""Content-based filtering: a user profile from the features of consumed items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.platform import InteractionLog, PlatformData
from ampaudit.core.ranking import related_by_similarity
from ampaudit.core.sparse import count_matrix

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = ["ContentRecommender", "ContentRecommenderConf"]


class ContentRecommender(ScoringRecommender):
    """Score items by the dot product of their public topic vector with a user profile.

    The profile is the (count-weighted) mean topic vector of the items the user
    consumed. A fit on a new log is one sparse × dense product; refits on the same,
    grown log add only the new events (the same profiles, up to float rounding).
    Users with no history get the mean profile of all users (a popularity-like prior).

    Parameters
    ----------
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    profiles_ : ndarray of shape (n_users, n_dims)
        Mean consumed topic vector per user (float32).

    References
    ----------
    .. [1] Lops, de Gemmis, Semeraro (2011). Content-based recommender systems: state
       of the art and trends. Recommender Systems Handbook, 73-105.
    """

    # caches for incremental refits on a growing log
    _log: InteractionLog | None = None
    _n_seen: int = 0
    _sums: np.ndarray
    _counts: np.ndarray

    def _fit(self, data: PlatformData) -> None:
        log, features = data.log, data.items.features
        n_events = len(log)
        if self._log is log and self._n_seen <= n_events:
            # same log, grown since the last fit: add only the new events (exact refit)
            users, items = log.users[self._n_seen :], log.items[self._n_seen :]
            new = count_matrix(users, items, (data.n_users, data.n_items))
            self._sums += new @ features
            self._counts += np.bincount(users, minlength=data.n_users).astype(np.float32)
        else:
            consumed = data.consumed()
            self._sums = np.asarray(consumed @ features, dtype=np.float32)
            self._counts = np.asarray(consumed.sum(axis=1), dtype=np.float32).ravel()
        self._log, self._n_seen = log, n_events
        has = self._counts > 0
        profiles = np.zeros_like(self._sums)
        profiles[has] = self._sums[has] / self._counts[has, None]
        if has.any():
            profiles[~has] = profiles[has].mean(axis=0)
        self.profiles_ = profiles

    def related(self, items: np.ndarray, n: int) -> np.ndarray:
        """Watch-next lists: the items closest in topic to each of ``items``."""
        return related_by_similarity(self.data_.items.features, items, n, seed=self.data_.seed)

    def _score(self, users, data, rng):
        features = data.items.features
        return self.profiles_[users] @ features.T


@dataclass
class ContentRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`ContentRecommender`."""

    _target_: str = "ampaudit.recommenders.ContentRecommender"
