"""Bridging-based ranking: rank by approval across divides, not by raw engagement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ampaudit.core.errors import check_range
from ampaudit.core.intervention import ActionKind, PlatformView

from .base import Intervention

__all__ = ["BridgingIntervention", "BridgingInterventionConf", "bridging_intercepts"]


def bridging_intercepts(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_items: int,
    *,
    lambda_i: float = 0.15,
    lambda_f: float = 0.03,
    iterations: int = 50,
    rng: np.random.Generator,
) -> np.ndarray:
    """Item intercepts of the Community Notes model ``r̂_un = μ + i_u + i_n + f_u·f_n``.

    Fitted by alternating ridge regressions (each user's and each item's
    ``(intercept, factor)`` pair has a closed-form 2×2 solve), with penalties
    ``lambda_i`` on intercepts and ``lambda_f`` on the one-dimensional factors. The
    factor absorbs the approval that one side's raters give; what remains in an
    item's intercept is approval across the divide.

    Parameters
    ----------
    users, items : ndarray of shape (n_ratings,)
    ratings : ndarray of shape (n_ratings,)
        1 for approval (e.g. a click on a shown item), 0 otherwise.
    n_items : int
    lambda_i, lambda_f : float, default=0.15, 0.03
    iterations : int, default=50
    rng : numpy.random.Generator
        Initialises the factors.

    Returns
    -------
    ndarray of shape (n_items,)
        Intercepts (0 for items without ratings).

    References
    ----------
    .. [1] Wojcik, Hilgard, Judd, et al. (2022). Birdwatch: crowd wisdom and bridging
       algorithms can inform understanding and reduce the spread of misinformation.
       arXiv:2210.15723.
    .. [2] Ovadya, Thorburn (2023). Bridging systems. arXiv:2301.09976.
    """
    u_ids, u_idx = np.unique(users, return_inverse=True)
    n_u = len(u_ids)
    r = ratings.astype(float)
    iu, fu = np.zeros(n_u), 0.1 * rng.standard_normal(n_u)
    i_n, f_n = np.zeros(n_items), 0.1 * rng.standard_normal(n_items)
    mu = r.mean() if len(r) else 0.0

    def solve(idx, n, other_f, target, lam_i, lam_f):
        # per entity: minimise Σ (target - a - b·x)² + lam_i a² + lam_f b², x = other_f
        s1 = np.bincount(idx, minlength=n) + lam_i
        sx = np.bincount(idx, weights=other_f, minlength=n)
        sxx = np.bincount(idx, weights=other_f**2, minlength=n) + lam_f
        sy = np.bincount(idx, weights=target, minlength=n)
        sxy = np.bincount(idx, weights=other_f * target, minlength=n)
        det = s1 * sxx - sx**2
        det = np.where(det > 1e-12, det, 1.0)
        return (sxx * sy - sx * sxy) / det, (s1 * sxy - sx * sy) / det

    for _ in range(iterations):
        i_n, f_n = solve(items, n_items, fu[u_idx], r - mu - iu[u_idx], lambda_i, lambda_f)
        iu, fu = solve(u_idx, n_u, f_n[items], r - mu - i_n[items], lambda_i, lambda_f)
        mu = float(np.mean(r - iu[u_idx] - i_n[items] - fu[u_idx] * f_n[items])) if len(r) else 0.0
    return i_n


class BridgingIntervention(Intervention):
    """Re-rank candidates by bridging approval (the item intercept), not engagement.

    Ratings are the platform's own: each shown feed item is approved (1) if the user
    clicked it and not (0) otherwise, over the last ``window`` steps. Every
    ``refit_every`` steps the intercepts are refitted; candidates are then ordered by
    intercept, ties kept in the recommender's order.

    Parameters
    ----------
    window : int, default=20
        Steps of ratings used.
    refit_every : int, default=5
        Steps between refits.
    lambda_i, lambda_f : float, default=0.15, 0.03
        Penalties of the Community Notes model.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"reranked": "neutral"}

    def __init__(
        self,
        *,
        window: int = 20,
        refit_every: int = 5,
        lambda_i: float = 0.15,
        lambda_f: float = 0.03,
    ) -> None:
        self.window = window
        self.refit_every = refit_every
        self.lambda_i = lambda_i
        self.lambda_f = lambda_f

    def check_params(self) -> None:  # noqa: D102
        check_range("bridging.window", self.window, low=1)
        check_range("bridging.refit_every", self.refit_every, low=1)
        check_range("bridging.lambda_i", self.lambda_i, low=0)
        check_range("bridging.lambda_f", self.lambda_f, low=0)

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:  # noqa: D102
        super().reset(view, rng)
        self._shown: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.intercepts_ = np.zeros(len(view.catalog))

    def on_slate(self, view: PlatformView, users: np.ndarray, slates: np.ndarray) -> None:  # noqa: D102
        self._shown.append((view.t, users.copy(), slates.copy()))
        self._shown = [s for s in self._shown if s[0] > view.t - self.window]

    def on_candidates(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if view.t % self.refit_every == 0 and self._shown:
            self._refit(view)
        key = np.where(items >= 0, self.intercepts_[np.maximum(items, 0)], -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")
        self.record("reranked", items[:, :1])
        return np.take_along_axis(items, order, axis=1), np.take_along_axis(scores, order, axis=1)

    def _refit(self, view: PlatformView) -> None:
        log = view.log
        u, i, r = [], [], []
        picked_by_user = np.full(log.n_users, -2, dtype=np.int64)
        for step, users, slates in self._shown:  # at most `window` steps
            at = slice(log.since(step), log.since(step + 1))
            picked_by_user[:] = -2
            picked_by_user[log.users[at]] = log.items[at]
            rows, cols = np.nonzero(slates >= 0)
            shown_users, shown_items = users[rows], slates[rows, cols]
            picked = picked_by_user[shown_users]
            u.append(shown_users)
            i.append(shown_items)
            r.append((picked == shown_items).astype(float))
        self.intercepts_ = bridging_intercepts(
            np.concatenate(u),
            np.concatenate(i),
            np.concatenate(r),
            len(view.catalog),
            lambda_i=self.lambda_i,
            lambda_f=self.lambda_f,
            rng=self.rng,
        )


@dataclass
class BridgingInterventionConf:
    """Hydra config of :class:`BridgingIntervention`."""

    _target_: str = "ampaudit.interventions.BridgingIntervention"
    window: int = 20
    refit_every: int = 5
    lambda_i: float = 0.15
    lambda_f: float = 0.03
