"""Catalog-stage interventions: hash-sharing removal, and moderation with appeals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ampaudit.core.categories import EXTREME
from ampaudit.core.errors import check_range
from ampaudit.core.intervention import ActionKind, PlatformView

from .base import Intervention

__all__ = [
    "HashRemovalIntervention",
    "HashRemovalInterventionConf",
    "ModerationQueueIntervention",
    "ModerationQueueInterventionConf",
    "hamming",
]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between 64-bit hashes.

    Parameters
    ----------
    a : ndarray of shape (n,), uint64
    b : ndarray of shape (m,), uint64

    Returns
    -------
    ndarray of shape (n, m), int

    Examples
    --------
    >>> hamming(np.array([0b1011], np.uint64), np.array([0, 0b1001], np.uint64)).tolist()
    [[3, 1]]
    """
    x = np.bitwise_xor(a[:, None], b[None, :])
    if hasattr(np, "bitwise_count"):  # NumPy >= 2
        return np.bitwise_count(x).astype(np.int64)
    return _POPCOUNT[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.int64)


class HashRemovalIntervention(Intervention):
    """A shared hash database (as GIFCT's): remove items whose hash is near a listed one.

    The database holds the perceptual hashes of a ``coverage`` share of known extreme
    originals (confirmed by people, as such databases are: which items are extreme
    originals, and which belong to a crisis, is read from ``view.truth``), each shared
    ``lag`` steps after the original appears. Every step, visible items within Hamming distance
    ``radius`` of a listed hash are removed: exact copies and near variants are
    caught; novel items, and variants of unlisted originals, are not.

    Parameters
    ----------
    coverage : float, default=0.5
        Share of extreme originals in the database.
    radius : int, default=8
        Matching radius in bits (0 = exact copies only).
    lag : int, default=0
        Steps between an original's appearance and its hash being shared.

    References
    ----------
    .. [1] GIFCT (2022). Transparency report: the hash-sharing database.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"removed": "restrictive"}

    def __init__(self, *, coverage: float = 0.5, radius: int = 8, lag: int = 0) -> None:
        self.coverage = coverage
        self.radius = radius
        self.lag = lag

    def check_params(self) -> None:  # noqa: D102
        check_range("hash_removal.coverage", self.coverage, low=0, high=1)
        check_range("hash_removal.radius", self.radius, low=0, high=64)
        check_range("hash_removal.lag", self.lag, low=0)

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:  # noqa: D102
        super().reset(view, rng)
        cat, truth = view.catalog, view.truth
        # the database of confirmed material is human knowledge: ground truth
        originals = np.flatnonzero(
            (truth.category == EXTREME) & (truth.original == np.arange(len(cat)))
        )
        # crisis originals are always shared (an incident protocol); others by coverage
        known = (self.rng.random(len(originals)) < self.coverage) | truth.crisis[originals]
        self.listed_ = originals[known]
        shared_at = cat.created[self.listed_].astype(np.int64) + self.lag
        order = np.argsort(shared_at, kind="stable")  # the shared list is then a prefix
        self.listed_, self.shared_at_ = self.listed_[order], shared_at[order]
        # items already found clear of every hash shared at their last check
        self.clear_ = np.zeros(len(cat), dtype=bool)
        self.n_checked_ = 0

    def on_catalog(self, view: PlatformView) -> None:  # noqa: D102
        cat = view.catalog
        n_listed = int(np.searchsorted(self.shared_at_, view.t, side="right"))
        n = cat.n_visible(view.t)
        live = np.flatnonzero(cat.available[:n])
        if n_listed == 0 or len(live) == 0:
            return
        hashes = cat.phash[self.listed_[:n_listed]]
        # an item found clear before needs checking only against hashes shared since
        clear = self.clear_[live]
        near = np.zeros(len(live), dtype=bool)
        if (~clear).any():
            near[~clear] = (hamming(cat.phash[live[~clear]], hashes) <= self.radius).any(axis=1)
        if clear.any() and n_listed > self.n_checked_:
            fresh = hashes[self.n_checked_ :]
            near[clear] = (hamming(cat.phash[live[clear]], fresh) <= self.radius).any(axis=1)
        removed = live[near]
        cat.available[removed] = False
        self.clear_[live[~near]] = True
        self.n_checked_ = n_listed
        self.record("removed", removed)


class ModerationQueueIntervention(Intervention):
    """Classifier-flagged items reviewed by a capacity-limited team, with appeals.

    Each step, new items with classifier score ``>= threshold`` join the queue; the
    team reviews up to ``capacity`` of them, highest score first. Reviewers see the
    content (unlike the classifier; modelled by the true category, ``view.truth``) and
    are right with probability ``accuracy``: violating (extreme) items are removed when
    they are right, lawful ones when they are wrong. A wrongful removal is appealed and
    restored ``appeal_delay`` steps later (appeals always find the truth).

    Parameters
    ----------
    threshold : float, default=0.7
    capacity : int, default=20
        Reviews per step.
    accuracy : float, default=0.9
        Probability that a reviewer's decision is right.
    appeal_delay : int, default=10
        Steps until a wrongly removed item is restored.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {
        "removed": "restrictive",
        "restored": "promotive",
        # tallies: wrongful removals are also counted as "removed"; the backlog is no action
        "wrongful_removal": "neutral",
        "queue_backlog": "neutral",
    }

    def __init__(
        self,
        *,
        threshold: float = 0.7,
        capacity: int = 20,
        accuracy: float = 0.9,
        appeal_delay: int = 10,
    ) -> None:
        self.threshold = threshold
        self.capacity = capacity
        self.accuracy = accuracy
        self.appeal_delay = appeal_delay

    def check_params(self) -> None:  # noqa: D102
        check_range("moderation_queue.threshold", self.threshold, low=0, high=1)
        check_range("moderation_queue.capacity", self.capacity, low=0)
        check_range("moderation_queue.accuracy", self.accuracy, low=0, high=1)
        check_range("moderation_queue.appeal_delay", self.appeal_delay, low=0)

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:  # noqa: D102
        super().reset(view, rng)
        self.reviewed_ = np.zeros(len(view.catalog), dtype=bool)
        self.restore_at_ = np.full(len(view.catalog), -1, dtype=np.int64)

    def on_catalog(self, view: PlatformView) -> None:  # noqa: D102
        cat, t = view.catalog, view.t
        category = view.truth.category  # what reviewers and appeals find on looking
        due = np.flatnonzero(self.restore_at_ == t)
        if len(due):
            cat.available[due] = True
            self.record("restored", due)
        n = cat.n_visible(t)
        queue = np.flatnonzero(
            (cat.score[:n] >= self.threshold) & ~self.reviewed_[:n] & cat.available[:n]
        )
        review = queue[np.argsort(-cat.score[queue], kind="stable")][: self.capacity]
        right = self.rng.random(self.capacity)[: len(review)] < self.accuracy
        violating = category[review] == EXTREME
        remove = review[violating == right]
        self.reviewed_[review] = True
        cat.available[remove] = False
        self.record("removed", remove)
        wrongful = remove[category[remove] != EXTREME]
        self.restore_at_[wrongful] = t + self.appeal_delay
        self.record("wrongful_removal", wrongful)
        self.record("queue_backlog", queue[len(review) :])


@dataclass
class HashRemovalInterventionConf:
    """Hydra config of :class:`HashRemovalIntervention`."""

    _target_: str = "ampaudit.interventions.HashRemovalIntervention"
    coverage: float = 0.5
    radius: int = 8
    lag: int = 0


@dataclass
class ModerationQueueInterventionConf:
    """Hydra config of :class:`ModerationQueueIntervention`."""

    _target_: str = "ampaudit.interventions.ModerationQueueIntervention"
    threshold: float = 0.7
    capacity: int = 20
    accuracy: float = 0.9
    appeal_delay: int = 10
