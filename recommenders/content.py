"""Content-based filtering: a user profile from the features of consumed items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.platform import PlatformData

from .base import ScoringRecommender

__all__ = ["ContentRecommender", "ContentRecommenderConf"]


class ContentRecommender(ScoringRecommender):
    """Score items by the dot product of their public topic vector with a user profile.

    The profile is the (count-weighted) mean topic vector of the items the user
    consumed, computed as one sparse × dense product at each fit. Users with no
    history get the mean profile of all users (a popularity-like prior).

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

    def _fit(self, data: PlatformData) -> None:
        consumed = data.consumed()
        sums = np.asarray(consumed @ data.items.features, dtype=np.float32)
        counts = np.asarray(consumed.sum(axis=1), dtype=np.float32)
        has = counts[:, 0] > 0
        profiles = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        if has.any():
            profiles[~has] = profiles[has].mean(axis=0)
        self.profiles_ = profiles

    def _score(self, users, data, rng):
        features = data.items.features
        return self.profiles_[users] @ features.T


@dataclass
class ContentRecommenderConf:
    """Hydra config of :class:`ContentRecommender`."""

    _target_: str = "ampaudit.recommenders.ContentRecommender"
    retrain_every: int = 1
    exclude_consumed: bool = True
    chunk_bytes: int = 64 * 2**20
