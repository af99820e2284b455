"""The people recommender: who a user meets for social influence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import PlatformData
from ampaudit.core.ranking import random_member

__all__ = [
    "PEOPLE_MODES",
    "SIGNALS",
    "PeopleRecommender",
    "PeopleRecommenderConf",
    "partner_weights",
    "sample_others",
]

PEOPLE_MODES = ("graph", "random", "similar")

#: What ``similar`` mode measures similarity on.
SIGNALS = ("consumption", "opinion")


def sample_others(users: np.ndarray, u: np.ndarray, n_users: int) -> np.ndarray:
    """Distinct other users for each of ``users``, uniformly without replacement.

    Floyd's algorithm: candidate ``c`` of ``m`` takes one uniform, whatever was drawn
    before, so the number of variates is fixed (``u``'s). Costs O(n·m²): meant for
    tens of candidates; ``m = n_users − 1`` returns everyone else without sampling.

    Parameters
    ----------
    users : ndarray of shape (n,)
    u : ndarray of shape (n, m)
        Uniforms in [0, 1), ``m <= n_users − 1``.
    n_users : int

    Returns
    -------
    ndarray of shape (n, m)
        Row ``r`` holds ``m`` distinct users, none of them ``users[r]``.

    References
    ----------
    .. [1] Bentley, J., Floyd, R. (1987). Programming pearls: a sample of brilliance.
       Communications of the ACM 30(9):754-757.

    Examples
    --------
    >>> sample_others(np.array([0, 1]), np.zeros((2, 3)), 4).tolist()
    [[1, 2, 3], [0, 2, 3]]
    """
    n, m = u.shape
    others = n_users - 1
    if m > others:
        raise ValueError(f"cannot draw {m} distinct users from {others}")
    if m == others:
        candidates = np.tile(np.arange(others, dtype=np.int64), (n, 1))
    else:
        candidates = np.empty((n, m), dtype=np.int64)
        for c in range(m):
            top = others - m + c  # draw from [0, top]; on a repeat, take top itself
            t = np.minimum((u[:, c] * (top + 1)).astype(np.int64), top)
            seen = (candidates[:, :c] == t[:, None]).any(axis=1)
            candidates[:, c] = np.where(seen, top, t)
    # other users only: numbers from [0, n_users - 1), skipping over oneself
    candidates += candidates >= users[:, None]
    return candidates


def partner_weights(gaps: np.ndarray, *, gamma: float, floor: float) -> np.ndarray:
    """Relative chance of each candidate, ``max(gap, floor)^(−γ)``, scaled to a row max of 1.

    Computed on the log scale, so a large ``γ`` cannot overflow, and rows whose gaps
    are all equal get weight 1 everywhere, whatever ``γ`` is.

    Parameters
    ----------
    gaps : ndarray of shape (n, m)
        ``|x̂_i − x̂_j|`` of each candidate.
    gamma : float
        Similarity bias ``γ >= 0``.
    floor : float
        Gaps below ``floor > 0`` count as ``floor``.

    Returns
    -------
    ndarray of shape (n, m)

    Examples
    --------
    >>> w = partner_weights(np.array([[0.0, 0.0005, 0.002, 0.004]]), gamma=1.0, floor=1e-3)
    >>> w.round(12).tolist()
    [[1.0, 1.0, 0.5, 0.25]]
    """
    log_w = -gamma * np.log(np.maximum(gaps, floor))
    return np.exp(log_w - log_w.max(axis=1, keepdims=True))


class PeopleRecommender:
    """Pick one interaction partner per active user.

    ``mode="graph"`` meets a uniformly random neighbour on the social graph (no
    recommender: the organic baseline); ``"random"`` meets any other user;
    ``"similar"`` samples ``n_candidates`` other users without replacement (or takes
    everyone else when ``n_candidates >= n_users − 1``) and picks one with
    probability ``∝ max(|x̂_i − x̂_j|, floor)^(−γ)``, a similarity-biased people
    recommender (the algorithmic bias of Sîrbu et al. 2019).

    ``x̂`` is the ``signal``: ``"consumption"`` is what the platform can estimate of
    an opinion, the mean classifier score of the user's last ``window`` consumed
    items (all of them when ``window`` is None; users with no history get the
    population mean, so with no consumption at all every ``x̂`` is equal and ``γ``
    has no effect); ``"opinion"`` is the true opinion, which no real platform sees:
    the privileged recommender of algorithmic-bias models.

    Parameters
    ----------
    mode : {"graph", "random", "similar"}, default="graph"
    signal : {"consumption", "opinion"}, default="consumption"
    gamma : float, default=2.0
        Similarity bias ``γ`` (0 = uniform over candidates).
    floor : float, default=1e-3
        Smallest gap the weights distinguish (``> 0``): identical signals would
        otherwise get infinite weight.
    window : int or None, default=None
        Consumed items per user the ``consumption`` signal averages (the latest);
        None = all.
    n_candidates : int, default=16
        Candidates per user in ``similar`` mode.

    Attributes
    ----------
    privileged : bool
        Whether it reads true opinions (``signal="opinion"``); the simulation passes
        them to such a recommender only.

    Notes
    -----
    Every call draws ``(n, min(n_candidates, n_users − 1) + 1)`` uniforms for ``n``
    users, whatever the mode, signal and ``γ``, so arms sharing a stream stay in step.

    References
    ----------
    .. [1] Deffuant, Neau, Amblard, Weisbuch (2000). Mixing beliefs among interacting
       agents. Advances in Complex Systems 3:87-98.
    .. [2] Sîrbu, A., Pedreschi, D., Giannotti, F., Kertész, J. (2019). Algorithmic
       bias amplifies opinion fragmentation and polarization: a bounded confidence
       model. PLoS ONE 14(3):e0213246.
    """

    def __init__(
        self,
        *,
        mode: str = "graph",
        signal: str = "consumption",
        gamma: float = 2.0,
        floor: float = 1e-3,
        window: int | None = None,
        n_candidates: int = 16,
    ) -> None:
        self.mode = mode
        self.signal = signal
        self.gamma = gamma
        self.floor = floor
        self.window = window
        self.n_candidates = n_candidates

    @property
    def privileged(self) -> bool:
        """Whether it reads true opinions."""
        return self.signal == "opinion"

    def check_params(self, prefix: str = "people") -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        if self.mode not in PEOPLE_MODES:
            raise ConfigError(f"{prefix}.mode", self.mode, f"one of {', '.join(PEOPLE_MODES)}")
        if self.signal not in SIGNALS:
            raise ConfigError(f"{prefix}.signal", self.signal, f"one of {', '.join(SIGNALS)}")
        check_range(f"{prefix}.gamma", self.gamma, low=0)
        check_range(f"{prefix}.floor", self.floor, low=0, high=1, low_open=True)
        if self.window is not None:
            check_range(f"{prefix}.window", self.window, low=1)
        check_range(f"{prefix}.n_candidates", self.n_candidates, low=1)

    def peers(
        self,
        users: np.ndarray,
        data: PlatformData,
        *,
        rng: np.random.Generator,
        opinions: np.ndarray | None = None,
    ) -> np.ndarray:
        """One partner per user (``-1`` when there is none, e.g. an isolated node).

        Parameters
        ----------
        users : ndarray of shape (n,)
        data : PlatformData
            Needs ``social`` for ``graph`` mode and the log and classifier scores for
            the ``consumption`` signal.
        rng : numpy.random.Generator
            The behaviour stream; a fixed number of draws (see Notes of the class).
        opinions : ndarray of shape (n_users,), optional
            True opinions, for the ``opinion`` signal.
        """
        n, n_users = len(users), data.n_users
        m = min(self.n_candidates, n_users - 1)
        u = rng.random((n, m + 1))
        if self.mode == "graph":
            if data.social is None:
                return np.full(n, -1, dtype=np.int64)
            return random_member(data.social.indptr, data.social.indices, users, u[:, 0])
        if m < 1:
            return np.full(n, -1, dtype=np.int64)
        if self.mode == "random":
            # other users only: draw from n_users - 1 and skip over oneself
            partner = (u[:, 1] * (n_users - 1)).astype(np.int64)
            return partner + (partner >= users)
        candidates = sample_others(users, u[:, 1:], n_users)
        x_hat = self.signal_values(data, opinions)
        gaps = np.abs(x_hat[users][:, None] - x_hat[candidates])
        cdf = np.cumsum(partner_weights(gaps, gamma=self.gamma, floor=self.floor), axis=1)
        pick = (u[:, :1] * cdf[:, -1:] > cdf).sum(axis=1)
        return candidates[np.arange(n), np.minimum(pick, m - 1)]

    def signal_values(self, data: PlatformData, opinions: np.ndarray | None) -> np.ndarray:
        """``x̂`` of every user: true opinions, or :meth:`estimated_opinions`."""
        if self.signal == "opinion":
            if opinions is None:
                raise ValueError("signal='opinion' needs the true opinions (opinions=...)")
            return np.asarray(opinions, dtype=float)
        return self.estimated_opinions(data, self.window)

    @staticmethod
    def estimated_opinions(data: PlatformData, window: int | None = None) -> np.ndarray:
        """Mean classifier score of each user's consumption (population mean if none).

        Parameters
        ----------
        data : PlatformData
        window : int or None, default=None
            Average only each user's latest ``window`` consumed items; None = all.
        """
        score = data.items.score.astype(np.float64)
        if window is None:
            consumed = data.consumed()
            counts = np.asarray(consumed.sum(axis=1)).ravel()
            sums = consumed @ score[: consumed.shape[1]]
        else:
            log_users, log_items = data.log.users, data.log.items
            by_user = np.argsort(log_users, kind="stable")  # each user's events in time order
            per_user = np.bincount(log_users, minlength=data.n_users)
            ends = np.cumsum(per_user)
            from_end = ends[log_users[by_user]] - 1 - np.arange(len(by_user))
            latest = by_user[from_end < window]
            who = log_users[latest]
            counts = np.bincount(who, minlength=data.n_users).astype(np.float64)
            sums = np.bincount(who, weights=score[log_items[latest]], minlength=data.n_users)
        has = counts > 0
        x_hat = np.full(data.n_users, sums[has].sum() / max(counts[has].sum(), 1))
        x_hat[has] = sums[has] / counts[has]
        return x_hat


@dataclass
class PeopleRecommenderConf:
    """Hydra config of :class:`PeopleRecommender`."""

    _target_: str = "ampaudit.recommenders.PeopleRecommender"
    mode: str = "graph"
    signal: str = "consumption"
    gamma: float = 2.0
    floor: float = 1e-3
    window: Optional[int] = None  # noqa: UP045 - OmegaConf 2.3 does not read `int | None`
    n_candidates: int = 16
