"""Shared machinery for recommenders that score every item for every user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

from ampaudit.core.platform import PlatformData, StepBatch
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES, top_n_chunked

__all__ = ["ScoringRecommender", "ScoringRecommenderConf"]


class ScoringRecommender:
    """Base class: subclasses provide ``_fit`` and ``_score``; ranking is shared.

    Scoring runs in user chunks of at most ``chunk_bytes`` (a float32 block of
    ``chunk × n_items``); unavailable and already-consumed items are masked before
    an ``argpartition`` top-n. No users × items matrix is ever materialised.

    Parameters
    ----------
    retrain_every : int, default=1
        Steps between full refits.
    exclude_consumed : bool, default=True
        Never recommend items the user already consumed.
    chunk_bytes : int, default=64 MiB
        Memory budget of one score block.
    """

    privileged = False
    #: True when recommendations depend on the ``rng`` draws (lists then depend on
    #: the batch a user is scored in).
    stochastic = False

    def __init__(
        self,
        *,
        retrain_every: int = 1,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.retrain_every = retrain_every
        self.exclude_consumed = exclude_consumed
        self.chunk_bytes = chunk_bytes

    def _check_params(self) -> None:
        from ampaudit.core.errors import check_range

        name = type(self).__name__
        check_range(f"{name}.retrain_every", self.retrain_every, low=1)
        check_range(f"{name}.chunk_bytes", self.chunk_bytes, low=1024)

    def fit(self, data: PlatformData) -> Self:
        """Fully (re)train from ``data``; returns ``self``."""
        self._check_params()
        self.data_ = data
        self._fit(data)
        return self

    def observe(self, batch: StepBatch) -> None:
        """Keep the latest platform view (new items, availability, log).

        Subclasses that override ``observe`` must call ``super().observe(batch)``:
        between refits this is the only way ``recommend`` learns of removed, new and
        newly consumed items.
        """
        self.data_ = batch.data

    def recommend(
        self, users: np.ndarray, n: int, *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` available, unconsumed items per user, best first.

        Returns
        -------
        items : ndarray of shape (len(users), n)
            int64 ids, -1 padded.
        scores : ndarray of shape (len(users), n)
            float32.
        """
        data = self.data_
        users = np.asarray(users, dtype=np.int64)
        return top_n_chunked(
            users,
            n,
            lambda chunk: self._score(chunk, data, rng),
            n_items=data.n_items,
            available=data.items.available,
            consumed=data.consumed() if self.exclude_consumed else None,
            budget_bytes=self.chunk_bytes,
            seed=data.seed,
        )

    def _fit(self, data: PlatformData) -> None:  # pragma: no cover - trivial default
        """Learn state from ``data`` (default: nothing)."""

    def _score(self, users: np.ndarray, data: PlatformData, rng: np.random.Generator) -> np.ndarray:
        """Return a fresh float32 array of shape (len(users), data.n_items)."""
        raise NotImplementedError


@dataclass
class ScoringRecommenderConf:
    """Config fields every :class:`ScoringRecommender` shares (subclass confs extend it)."""

    retrain_every: int = 1
    exclude_consumed: bool = True
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
