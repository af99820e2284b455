"""Matrix factorisation: implicit-feedback ALS (the ``implicit`` package) on clicks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ampaudit.core.errors import check_range
from ampaudit.core.platform import PlatformData, StepBatch
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES, related_by_similarity

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = ["MFRecommender", "MFRecommenderConf"]


class MFRecommender(ScoringRecommender):
    """Implicit alternating least squares on the users × items consumption matrix.

    Confidence ``1 + alpha·count`` (Hu, Koren, Volinsky 2008), fitted with
    :class:`implicit.cpu.als.AlternatingLeastSquares` under a one-thread BLAS limit
    (implicit parallelises itself and warns otherwise). Items published after the
    last fit have zero factors (score 0) until the next refit. Before any data,
    factors are small Gaussian draws seeded by ``seed`` (a fixed exploratory
    ranking), and the model refits as soon as the first interactions arrive
    rather than waiting ``retrain_every`` steps.

    Parameters
    ----------
    factors : int, default=32
        Latent dimension.
    regularization : float, default=0.05
        L2 penalty.
    alpha : float, default=10.0
        Confidence scaling of counts.
    iterations : int, default=10
        ALS sweeps per fit.
    num_threads : int, default=0
        Threads for implicit (0 = all cores); per-row solves are independent, so
        results do not depend on it.
    seed : int, default=0
        Seed of implicit's factor initialisation (kept fixed so refits are
        reproducible; replicates differ through their data).
    retrain_every : int, default=10
        Steps between refits.
    exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors)
    item_factors_ : ndarray of shape (n_items_at_fit, factors)
    has_data_ : bool
        Whether the last fit saw any interactions.

    References
    ----------
    .. [1] Hu, Koren, Volinsky (2008). Collaborative filtering for implicit feedback
       datasets. ICDM, 263-272.
    """

    def __init__(
        self,
        *,
        factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 10,
        num_threads: int = 0,
        seed: int = 0,
        retrain_every: int = 10,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        super().__init__(
            retrain_every=retrain_every, exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes
        )
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.num_threads = num_threads
        self.seed = seed

    def _check_params(self) -> None:
        super()._check_params()
        check_range("MFRecommender.factors", self.factors, low=1)
        check_range("MFRecommender.regularization", self.regularization, low=0)
        check_range("MFRecommender.alpha", self.alpha, low=0)
        check_range("MFRecommender.iterations", self.iterations, low=1)

    def _fit(self, data: PlatformData) -> None:
        consumed = data.consumed()
        self.has_data_ = consumed.nnz > 0
        if not self.has_data_:
            init = np.random.default_rng(self.seed)
            self.user_factors_ = 0.01 * init.standard_normal(
                (data.n_users, self.factors), dtype=np.float32
            )
            self.item_factors_ = 0.01 * init.standard_normal(
                (data.n_items, self.factors), dtype=np.float32
            )
            return
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):  # implicit checks BLAS threads when constructed
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                calculate_training_loss=False,
                num_threads=self.num_threads,
                random_state=self.seed,
            )
            model.fit(consumed, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def observe(self, batch: StepBatch) -> None:
        """Keep the latest platform view; refit at once when the first data arrives."""
        super().observe(batch)
        if not self.has_data_ and len(batch.data.log) > 0:
            self.fit(batch.data)

    def related(self, items: np.ndarray, n: int) -> np.ndarray:
        """Watch-next lists: the items closest in latent space to each of ``items``.

        Items published since the last fit have no factors yet and get empty lists.
        """
        items = np.asarray(items, dtype=np.int64)
        out = np.full((len(items), n), -1, dtype=np.int64)
        known = items < len(self.item_factors_)
        out[known] = related_by_similarity(
            self.item_factors_, items[known], n, seed=self.data_.seed
        )
        return out

    def _score(self, users, data, rng):
        n_fit = min(len(self.item_factors_), data.n_items)
        if n_fit == data.n_items:
            return self.user_factors_[users] @ self.item_factors_[:n_fit].T
        scores = np.empty((len(users), data.n_items), dtype=np.float32)
        np.matmul(self.user_factors_[users], self.item_factors_[:n_fit].T, out=scores[:, :n_fit])
        scores[:, n_fit:] = 0.0  # items published since the last fit have no factors yet
        return scores


@dataclass
class MFRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`MFRecommender`."""

    _target_: str = "ampaudit.recommenders.MFRecommender"
    factors: int = 32
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 10
    num_threads: int = 0
    seed: int = 0
    retrain_every: int = 10
