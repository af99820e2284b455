"""User-facing interventions: redirection to counter-narratives, and click friction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ampaudit.core.errors import check_range
from ampaudit.core.intervention import ActionKind, PlatformView

from .base import Intervention, curated_counter_items, flagged

__all__ = [
    "FrictionIntervention",
    "FrictionInterventionConf",
    "RedirectIntervention",
    "RedirectInterventionConf",
]


class RedirectIntervention(Intervention):
    """The Redirect Method: after a flagged click, put counter-narratives at the top.

    The intent signal is the platform's own: a consumed item whose classifier score
    reaches ``threshold`` within the last ``window`` steps. For such users the first
    ``n_insert`` slate positions become curated counter-narrative items (random, from
    this intervention's stream); whether anyone clicks them is still the user's
    choice, so the effect is bounded by their click-through.

    Parameters
    ----------
    threshold : float, default=0.8
        Classifier score of a click that signals intent.
    window : int, default=3
        Steps a signal lasts.
    n_insert : int, default=1
        Counter-narrative items placed at the top of the slate.

    References
    ----------
    .. [1] Jigsaw and Moonshot (2016). The Redirect Method.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"inserted": "promotive"}

    def __init__(self, *, threshold: float = 0.8, window: int = 3, n_insert: int = 1) -> None:
        self.threshold = threshold
        self.window = window
        self.n_insert = n_insert

    def check_params(self) -> None:  # noqa: D102
        check_range("redirect.threshold", self.threshold, low=0, high=1)
        check_range("redirect.window", self.window, low=1)
        check_range("redirect.n_insert", self.n_insert, low=1)

    def on_slate(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, slates: np.ndarray
    ) -> np.ndarray | None:
        log = view.log
        start = log.since(view.t - self.window)
        recent = log.items[start:]
        signal_users = log.users[start:][flagged(view, recent, self.threshold)]
        at_risk = np.isin(users, signal_users)
        pool = curated_counter_items(view)
        # a fixed number of draws per call keeps this stream's use independent of who is flagged
        picks = (
            pool[(self.rng.random((len(users), self.n_insert)) * len(pool)).astype(np.int64)]
            if len(pool)
            else np.full((len(users), self.n_insert), -1)
        )
        rows = np.flatnonzero(at_risk & (len(pool) > 0))
        if len(rows) == 0:
            return None
        out = slates.copy()
        k = slates.shape[1]
        m = min(self.n_insert, k)
        for j in range(m):  # m is tiny (1-3): a loop over positions, not users
            taken = (out[rows, :] == picks[rows, j][:, None]).any(axis=1)
            out[rows, j + 1 :] = np.where(taken[:, None], out[rows, j + 1 :], out[rows, j:-1])
            out[rows, j] = np.where(taken, out[rows, j], picks[rows, j])
        self.record("inserted", picks[rows, :m])
        return out


class FrictionIntervention(Intervention):
    """An interstitial on flagged items: their click utility drops by ``penalty``.

    Parameters
    ----------
    threshold : float, default=0.8
        Classifier score at or above which the interstitial is shown.
    penalty : float, default=1.0
        Utility subtracted when clicking through the interstitial.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"interstitial": "restrictive"}

    def __init__(self, *, threshold: float = 0.8, penalty: float = 1.0) -> None:
        self.threshold = threshold
        self.penalty = penalty

    def check_params(self) -> None:  # noqa: D102
        check_range("friction.threshold", self.threshold, low=0, high=1)
        check_range("friction.penalty", self.penalty, low=0)

    def on_choice(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, slates: np.ndarray, utility: np.ndarray
    ) -> np.ndarray:
        hit = flagged(view, slates, self.threshold)
        self.record("interstitial", slates[hit])
        return utility - self.penalty * hit


@dataclass
class RedirectInterventionConf:
    """Hydra config of :class:`RedirectIntervention`."""

    _target_: str = "ampaudit.interventions.RedirectIntervention"
    threshold: float = 0.8
    window: int = 3
    n_insert: int = 1


@dataclass
class FrictionInterventionConf:
    """Hydra config of :class:`FrictionIntervention`."""

    _target_: str = "ampaudit.interventions.FrictionIntervention"
    threshold: float = 0.8
    penalty: float = 1.0
