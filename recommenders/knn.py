"""Neighbourhood collaborative filtering: item-kNN and user-kNN (cosine, top-K)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ampaudit.core.errors import check_range
from ampaudit.core.platform import PlatformData
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = [
    "ItemKNNRecommender",
    "ItemKNNRecommenderConf",
    "UserKNNRecommender",
    "UserKNNRecommenderConf",
    "cosine_knn",
]


def cosine_knn(
    rows: sp.csr_matrix, k: int, *, num_threads: int = 0, seed: int = 0
) -> sp.csr_matrix:
    """Top-``k`` cosine neighbours between the columns of ``rows`` (sparse).

    Uses :class:`implicit.nearest_neighbours.CosineRecommender`, which keeps the
    ``k`` most similar columns of each column. Among tied neighbours it keeps the
    highest ids; the columns are therefore shuffled by ``seed`` first and mapped
    back after, so ties fall at random instead of toward whatever the ids are
    sorted by (user ids follow communities along the radicalisation axis).

    Parameters
    ----------
    rows : scipy.sparse.csr_matrix of shape (n_rows, n_cols)
        Interactions; columns are the entities compared.
    k : int
        Neighbours kept per column.
    num_threads : int, default=0
        Threads (0 = all cores).
    seed : int, default=0
        Seed of the shuffle that breaks ties.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_cols, n_cols)
        Row ``i`` holds the similarities of column ``i``'s neighbours.
    """
    from implicit.nearest_neighbours import CosineRecommender
    from implicit.utils import ParameterWarning

    rows = sp.csr_matrix(rows, dtype=np.float32)
    shuffle = np.random.default_rng(seed).permutation(rows.shape[1])
    model = CosineRecommender(K=k, num_threads=num_threads)
    with warnings.catch_warnings():
        # implicit's own normalisation hands itself a COO matrix and then warns about it
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(rows[:, shuffle].tocsr(), show_progress=False)
    # shuffled column a is original column shuffle[a]
    sim = sp.coo_matrix(model.similarity, dtype=np.float32)
    return sp.csr_matrix(
        (sim.data, (shuffle[sim.row], shuffle[sim.col])), shape=sim.shape, dtype=np.float32
    )


def _fit_seed(data: PlatformData) -> int:
    """A tie-breaking seed per fit: the platform's seed mixed with the step."""
    return int(np.random.SeedSequence([data.seed, data.step]).generate_state(1)[0])


class _CosineKNN(ScoringRecommender):
    """Shared hyper-parameters of the two neighbourhood methods."""

    def __init__(
        self,
        *,
        k: int = 50,
        num_threads: int = 0,
        retrain_every: int = 5,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        super().__init__(
            retrain_every=retrain_every, exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes
        )
        self.k = k
        self.num_threads = num_threads

    def _check_params(self) -> None:
        super()._check_params()
        check_range(f"{type(self).__name__}.k", self.k, low=1)


class ItemKNNRecommender(_CosineKNN):
    """Item-based collaborative filtering with cosine similarity.

    A user's score for item ``j`` is the sum of ``j``'s similarity to the items
    they consumed, ``s_uj = Σ_{i ∈ I(u)} sim(i, j)``, over each item's ``k`` most
    similar items (Sarwar et al. 2001). :meth:`related` gives the watch-next list.

    Parameters
    ----------
    k : int, default=50
        Neighbours kept per item.
    num_threads : int, default=0
        Threads for the similarity computation (0 = all cores).
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of shape (n_items_at_fit, n_items_at_fit)

    References
    ----------
    .. [1] Sarwar, Karypis, Konstan, Riedl (2001). Item-based collaborative filtering
       recommendation algorithms. WWW, 285-295.
    """

    def _fit(self, data: PlatformData) -> None:
        self.similarity_ = cosine_knn(
            data.consumed(), self.k, num_threads=self.num_threads, seed=_fit_seed(data)
        )

    def _score(self, users, data, rng):
        n_fit = self.similarity_.shape[0]
        history = data.consumed()[users][:, :n_fit]
        scores = np.zeros((len(users), data.n_items), dtype=np.float32)
        scores[:, :n_fit] = (history @ self.similarity_).toarray()
        return scores

    def related(self, items: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` most similar items to each of ``items`` (``-1`` padded).

        Returns
        -------
        ndarray of shape (len(items), n), int64
        """
        from ampaudit.core.ranking import top_n

        items = np.asarray(items, dtype=np.int64)
        n_fit = self.similarity_.shape[0]
        known = items < n_fit  # items published since the last fit have no neighbours yet
        sim = np.full((len(items), n_fit), -np.inf, dtype=np.float32)
        sim[known] = self.similarity_[items[known]].toarray()
        sim[sim == 0] = -np.inf
        sim[np.flatnonzero(known), items[known]] = -np.inf
        return top_n(sim, n, row_ids=items, seed=self.data_.seed)[0]


class UserKNNRecommender(_CosineKNN):
    """User-based collaborative filtering with cosine similarity.

    A user's score for item ``j`` is the similarity-weighted count of their
    ``k`` nearest users' consumption of ``j`` (Herlocker et al. 1999).

    Parameters
    ----------
    k : int, default=50
        Neighbours kept per user.
    num_threads : int, default=0
        Threads for the similarity computation (0 = all cores).
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    neighbours_ : scipy.sparse.csr_matrix of shape (n_users, n_users)

    References
    ----------
    .. [1] Herlocker, Konstan, Borchers, Riedl (1999). An algorithmic framework for
       performing collaborative filtering. SIGIR, 230-237.
    """

    def _fit(self, data: PlatformData) -> None:
        consumed = data.consumed()
        self.neighbours_ = cosine_knn(
            consumed.T.tocsr(), self.k, num_threads=self.num_threads, seed=_fit_seed(data)
        )
        self.consumed_ = consumed

    def _score(self, users, data, rng):
        n_fit = self.consumed_.shape[1]
        scores = np.zeros((len(users), data.n_items), dtype=np.float32)
        scores[:, :n_fit] = (self.neighbours_[users] @ self.consumed_).toarray()
        return scores


@dataclass
class _CosineKNNConf(ScoringRecommenderConf):
    k: int = 50
    num_threads: int = 0
    retrain_every: int = 5


@dataclass
class ItemKNNRecommenderConf(_CosineKNNConf):
    """Hydra config of :class:`ItemKNNRecommender`."""

    _target_: str = "ampaudit.recommenders.ItemKNNRecommender"


@dataclass
class UserKNNRecommenderConf(_CosineKNNConf):
    """Hydra config of :class:`UserKNNRecommender`."""

    _target_: str = "ampaudit.recommenders.UserKNNRecommender"
