"""An engagement-maximising bandit over items: ε-greedy or Thompson sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import PlatformData, StepBatch
from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = ["BanditRecommender", "BanditRecommenderConf"]


class BanditRecommender(ScoringRecommender):
    """Rank items by their click-through on the feed, learnt online from every step.

    Each item is an arm whose reward is a click when shown. ``policy="thompson"``
    draws one CTR per item from its Beta posterior ``Beta(a + clicks, b + misses)``
    each call (batched Thompson sampling: one draw per item per step, shared by the
    users of the batch); ``policy="epsilon"`` ranks by the posterior mean, except
    that each user's feed is random with probability ``epsilon``. Engagement is
    all it optimises, which is what makes it a useful audit subject.

    Parameters
    ----------
    policy : {"thompson", "epsilon"}, default="thompson"
    epsilon : float, default=0.1
        Exploration probability of the ε-greedy policy.
    prior_clicks, prior_misses : float, default=1.0
        Beta prior pseudo-counts.
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    Attributes
    ----------
    impressions_, clicks_ : ndarray of shape (n_items_seen,)
        Feed impressions and clicks per item so far.

    References
    ----------
    .. [1] Chapelle, Li (2011). An empirical evaluation of Thompson sampling. NeurIPS.
    .. [2] Sutton, Barto (2018). Reinforcement Learning, 2nd ed., §2.2 (ε-greedy).
    """

    def __init__(
        self,
        *,
        policy: str = "thompson",
        epsilon: float = 0.1,
        prior_clicks: float = 1.0,
        prior_misses: float = 1.0,
        retrain_every: int = 1,
        exclude_consumed: bool = True,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        super().__init__(
            retrain_every=retrain_every, exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes
        )
        self.policy = policy
        self.epsilon = epsilon
        self.prior_clicks = prior_clicks
        self.prior_misses = prior_misses

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        """ε-greedy explores per user, so a user's list depends on the batch's draws."""
        return self.policy == "epsilon"

    def _check_params(self) -> None:
        super()._check_params()
        if self.policy not in ("thompson", "epsilon"):
            raise ConfigError("BanditRecommender.policy", self.policy, "thompson or epsilon")
        check_range("BanditRecommender.epsilon", self.epsilon, low=0, high=1)
        check_range("BanditRecommender.prior_clicks", self.prior_clicks, low=0, low_open=True)
        check_range("BanditRecommender.prior_misses", self.prior_misses, low=0, low_open=True)

    def _fit(self, data: PlatformData) -> None:
        # a full refit keeps what was learnt online: the counts are the model
        if not hasattr(self, "impressions_"):
            self.impressions_ = np.zeros(0)
            self.clicks_ = np.zeros(0)
        self._grow(data.n_items)

    def _grow(self, n_items: int) -> None:
        if len(self.impressions_) < n_items:
            pad = n_items - len(self.impressions_)
            self.impressions_ = np.concatenate([self.impressions_, np.zeros(pad)])
            self.clicks_ = np.concatenate([self.clicks_, np.zeros(pad)])

    def observe(self, batch: StepBatch) -> None:
        """Add the step's feed impressions and clicks to each item's counts."""
        super().observe(batch)
        self._grow(batch.data.n_items)
        shown = batch.slates[batch.slates >= 0]
        self.impressions_ += np.bincount(shown, minlength=len(self.impressions_))
        hit = batch.clicked >= 0
        picked = batch.slates[np.flatnonzero(hit), batch.clicked[hit]]
        self.clicks_ += np.bincount(picked, minlength=len(self.clicks_))

    def recommend(
        self, users: np.ndarray, n: int, *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per user; Thompson's CTR draw is made once, for the whole batch.

        Returns
        -------
        items, scores : ndarray of shape (len(users), n)
            See :meth:`ScoringRecommender.recommend`.
        """
        n_items = self.data_.n_items
        a = self.prior_clicks + self.clicks_[:n_items]
        b = self.prior_misses + self.impressions_[:n_items] - self.clicks_[:n_items]
        if self.policy == "thompson":
            # drawn here, not per score chunk: every user of the step sees the same draw
            self._item_scores = rng.beta(a, b).astype(np.float32)
        else:
            self._item_scores = (a / (a + b)).astype(np.float32)
        return super().recommend(users, n, rng=rng)

    def _score(self, users, data, rng):
        scores = np.repeat(self._item_scores[None, :], len(users), axis=0)
        if self.policy == "epsilon":
            explore = np.flatnonzero(rng.random(len(users)) < self.epsilon)
            scores[explore] = rng.random((len(explore), data.n_items), dtype=np.float32)
        return scores


@dataclass
class BanditRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`BanditRecommender`."""

    _target_: str = "ampaudit.recommenders.BanditRecommender"
    policy: str = "thompson"
    epsilon: float = 0.1
    prior_clicks: float = 1.0
    prior_misses: float = 1.0
