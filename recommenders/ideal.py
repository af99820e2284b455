"""The ideal recommender: a privileged oracle on true utility (an upper bound)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import ConfigError
from ampaudit.core.platform import PlatformData

from .base import ScoringRecommender, ScoringRecommenderConf

__all__ = ["IdealRecommender", "IdealRecommenderConf"]


class IdealRecommender(ScoringRecommender):
    """Rank items by each user's true expected utility (privileged).

    Not a platform algorithm: it reads ``PlatformData.oracle``, which the simulator
    provides only to recommenders marked ``privileged``. It is the reference for
    utility and homogenisation comparisons (Chaney et al. 2018).

    Parameters
    ----------
    retrain_every, exclude_consumed, chunk_bytes
        See :class:`~ampaudit.recommenders.base.ScoringRecommender`.

    References
    ----------
    .. [1] Chaney, Stewart, Engelhardt (2018). How algorithmic confounding in
       recommendation systems increases homogeneity and decreases utility. RecSys.
    """

    privileged = True

    def _fit(self, data: PlatformData) -> None:
        if data.oracle is None:
            raise ConfigError(
                "recommender", "ideal", "a simulation that grants the privileged oracle"
            )

    def _score(self, users, data, rng):
        assert data.oracle is not None
        return np.ascontiguousarray(data.oracle(users)[:, : data.n_items], dtype=np.float32)


@dataclass
class IdealRecommenderConf(ScoringRecommenderConf):
    """Hydra config of :class:`IdealRecommender`."""

    _target_: str = "ampaudit.recommenders.IdealRecommender"
