"""Social recommendation: what a user's connections engaged with recently."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import check_range
from ampaudit.core.platform import PlatformData
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES
from ampaudit.core.sparse import count_matrix

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = ["SocialRecommender", "SocialRecommenderConf"]


class SocialRecommender(ScoringRecommender):
    """Score items by how many of the user's connections consumed them lately.

    ``s_uj = Σ_{v ∈ N(u)} c_vj`` over the social graph's neighbours ``N(u)`` and
    their consumption counts ``c`` in the last ``window`` steps. Without a social
    graph every score is 0 (ties broken by item id).

    Parameters
    ----------
    window : int, default=20
        Steps of connections' consumption counted.
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    recent_ : scipy.sparse.csr_matrix of shape (n_users, n_items_at_fit)
        Consumption counts in the window at the last fit.

    References
    ----------
    .. [1] Chaney, Stewart, Engelhardt (2018). How algorithmic confounding in
       recommendation systems increases homogeneity and decreases utility. RecSys.
    """

    def __init__(
        self,
        *,
        window: int = 20,
        retrain_every: int = 1,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        super().__init__(
            retrain_every=retrain_every, exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes
        )
        self.window = window

    def _check_params(self) -> None:
        super()._check_params()
        check_range("SocialRecommender.window", self.window, low=1)

    def _fit(self, data: PlatformData) -> None:
        log = data.log
        start = log.since(data.step - self.window)
        self.recent_ = count_matrix(
            log.users[start:], log.items[start:], (data.n_users, data.n_items)
        )

    def _score(self, users, data, rng):
        scores = np.zeros((len(users), data.n_items), dtype=np.float32)
        if data.social is not None:
            n_fit = self.recent_.shape[1]
            scores[:, :n_fit] = (data.social[users] @ self.recent_).toarray()
        return scores


@dataclass
class SocialRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`SocialRecommender`."""

    _target_: str = "ampaudit.recommenders.SocialRecommender"
    window: int = 20
