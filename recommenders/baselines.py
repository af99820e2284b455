"""Baseline recommenders: random, reverse-chronological, windowed popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import PlatformData
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES
from ampaudit.core.sparse import count_matrix

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = [
    "ChronologicalRecommender",
    "ChronologicalRecommenderConf",
    "PopularityRecommender",
    "PopularityRecommenderConf",
    "RandomRecommender",
    "RandomRecommenderConf",
]


class RandomRecommender(ScoringRecommender):
    """Uniformly random available, unconsumed items (a counterfactual baseline).

    Draws one float32 uniform per scored (user, item) pair from ``rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from ampaudit.recommenders.testing import toy_platform
    >>> rec = RandomRecommender().fit(toy_platform())
    >>> items, scores = rec.recommend(np.array([0, 1]), 3, rng=np.random.default_rng(0))
    >>> items.shape
    (2, 3)
    """

    stochastic = True

    def _score(self, users, data, rng):
        return rng.random((len(users), data.n_items), dtype=np.float32)


class ChronologicalRecommender(ScoringRecommender):
    """Newest items first: a reverse-chronological feed; ties by item id.

    With ``source="following"`` (the default) the feed holds only items of
    creators the user follows, as in the reverse-chronological home timeline that
    Huszár et al. (2022) use as the counterfactual baseline; a user who follows
    nobody gets an empty (``-1``) feed. ``source="all"`` ranks the whole catalog.

    Parameters
    ----------
    source : {"following", "all"}, default="following"
        Which items the feed draws from.
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    References
    ----------
    .. [1] Huszár, Ktena, O'Brien, Belli, Schlaikjer, Hardt (2022). Algorithmic
       amplification of politics on Twitter. PNAS 119(1):e2025334119.
    """

    # creators × items, cached until the next fit or new items (see _creator_items)
    _incidence: sp.csr_matrix | None = None

    def __init__(
        self,
        *,
        source: str = "following",
        retrain_every: int = 1,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        super().__init__(
            retrain_every=retrain_every, exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes
        )
        self.source = source

    def _check_params(self) -> None:
        super()._check_params()
        if self.source not in ("following", "all"):
            raise ConfigError("ChronologicalRecommender.source", self.source, "following or all")

    def _fit(self, data: PlatformData) -> None:
        self._incidence = None  # a fit may bring another platform

    def _creator_items(self, data: PlatformData) -> sp.csr_matrix:
        """Creators × items incidence; rebuilt on fit and when items appear, not per chunk."""
        n_creators = data.follows.shape[1]
        if self._incidence is None or self._incidence.shape != (n_creators, data.n_items):
            creator = data.items.creator
            known = creator < n_creators
            self._incidence = count_matrix(
                creator[known], np.flatnonzero(known), (n_creators, data.n_items)
            )
        return self._incidence

    def _score(self, users, data, rng):
        created = data.items.created.astype(np.float32)
        if self.source == "all":
            return np.repeat(created[None, :], len(users), axis=0)
        # items whose creator the user follows: follows (users × creators) · creators × items
        followed = (data.follows[users] @ self._creator_items(data)).tocoo()
        block = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
        block[followed.row, followed.col] = created[followed.col]
        return block


class PopularityRecommender(ScoringRecommender):
    """Most consumed items over the last ``window`` steps (windowed popularity).

    Parameters
    ----------
    window : int, default=10
        Steps of consumption counted.
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    counts_ : ndarray of shape (n_items,)
        Consumption counts in the window at the last fit.
    """

    def __init__(
        self,
        *,
        window: int = 10,
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
        check_range("PopularityRecommender.window", self.window, low=1)

    def _fit(self, data: PlatformData) -> None:
        start = data.log.since(data.step - self.window)
        self.counts_ = np.bincount(data.log.items[start:], minlength=data.n_items).astype(
            np.float32
        )

    def _score(self, users, data, rng):
        counts = np.zeros(data.n_items, dtype=np.float32)
        m = min(len(self.counts_), data.n_items)
        counts[:m] = self.counts_[:m]
        return np.repeat(counts[None, :], len(users), axis=0)


@dataclass
class RandomRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`RandomRecommender`."""

    _target_: str = "ampaudit.recommenders.RandomRecommender"


@dataclass
class ChronologicalRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`ChronologicalRecommender`."""

    _target_: str = "ampaudit.recommenders.ChronologicalRecommender"
    source: str = "following"


@dataclass
class PopularityRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`PopularityRecommender`."""

    _target_: str = "ampaudit.recommenders.PopularityRecommender"
    window: int = 10
