"""What the platform can see: public item features, the interaction log, follows.

Recommenders and interventions receive a :class:`PlatformData`. It never holds true
extremity or categories (only the platform's noisy classifier score), so a
recommender cannot cheat unless it is explicitly ``privileged``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ampaudit.core.sparse import count_matrix

__all__ = ["InteractionLog", "ItemView", "PlatformData", "StepBatch"]


class InteractionLog:
    """Append-only log of consumption events (user, item, step, channel).

    Stored as growable struct-of-arrays; :meth:`consumed` builds the sparse
    users × items count matrix once per change and caches it.

    Parameters
    ----------
    n_users : int
        Number of users (rows of :meth:`consumed`).
    capacity : int, default=1024
        Initial capacity; the arrays double when full.
    """

    def __init__(self, n_users: int, capacity: int = 1024) -> None:
        self.n_users = n_users
        self._n = 0
        self._user = np.empty(capacity, dtype=np.int32)
        self._item = np.empty(capacity, dtype=np.int32)
        self._step = np.empty(capacity, dtype=np.int32)
        self._channel = np.empty(capacity, dtype=np.int8)
        self._cache: tuple[tuple[int, int], sp.csr_matrix] | None = None

    def __len__(self) -> int:
        return self._n

    def append(self, users: np.ndarray, items: np.ndarray, step: int, channels: np.ndarray) -> None:
        """Append one step's consumption events (arrays of equal length)."""
        m = len(users)
        need = self._n + m
        if need > len(self._user):
            cap = max(need, 2 * len(self._user))
            for name in ("_user", "_item", "_step", "_channel"):
                old = getattr(self, name)
                new = np.empty(cap, dtype=old.dtype)
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
        sl = slice(self._n, need)
        self._user[sl] = users
        self._item[sl] = items
        self._step[sl] = step
        self._channel[sl] = channels
        self._n = need

    @property
    def users(self) -> np.ndarray:
        """Ndarray of shape (n_events,): user of each event."""
        return self._user[: self._n]

    @property
    def items(self) -> np.ndarray:
        """Ndarray of shape (n_events,): item of each event."""
        return self._item[: self._n]

    @property
    def steps(self) -> np.ndarray:
        """Ndarray of shape (n_events,): step of each event."""
        return self._step[: self._n]

    @property
    def channels(self) -> np.ndarray:
        """Ndarray of shape (n_events,): channel code of each event."""
        return self._channel[: self._n]

    def since(self, step: int) -> int:
        """Index of the first event at ``step`` or later (events are in step order).

        ``log.items[log.since(t - window):]`` are the events of the last ``window``
        steps before ``t``.
        """
        return int(np.searchsorted(self.steps, step, side="left"))

    def consumed(self, n_items: int) -> sp.csr_matrix:
        """Return the users × items matrix of consumption counts (float32 CSR).

        Built incrementally: events appended since the last call are added to the
        cached matrix, so a call per step costs the new events, not the whole log.

        Parameters
        ----------
        n_items : int
            Number of columns (items visible so far); it may only grow.
        """
        if self._cache is not None:
            (n_done, cols), mat = self._cache
            if n_done == self._n and cols == n_items:
                return mat
            if cols <= n_items:
                # a wider matrix sharing the old arrays; the cached one is never mutated
                mat = sp.csr_matrix(
                    (mat.data, mat.indices, mat.indptr), shape=(self.n_users, n_items)
                )
                if n_done < self._n:
                    mat = mat + self._events(n_done, self._n, n_items)
                self._cache = ((self._n, n_items), mat)
                return mat
        mat = self._events(0, self._n, n_items)
        self._cache = ((self._n, n_items), mat)
        return mat

    def _events(self, start: int, stop: int, n_items: int) -> sp.csr_matrix:
        return count_matrix(self._user[start:stop], self._item[start:stop], (self.n_users, n_items))


@dataclass
class ItemView:
    """Public item features (views into the catalog; never true extremity).

    Attributes
    ----------
    features : ndarray of shape (n_items, n_dims)
        Public topic vectors (float32, unit norm).
    created : ndarray of shape (n_items,)
        Step at which each item appeared (negative for the initial catalog).
    creator : ndarray of shape (n_items,)
        Creator id of each item.
    score : ndarray of shape (n_items,)
        The platform's noisy classifier score of extremity in [0, 1].
    available : ndarray of shape (n_items,)
        False once an item is removed.
    """

    features: np.ndarray
    created: np.ndarray
    creator: np.ndarray
    score: np.ndarray
    available: np.ndarray

    def __len__(self) -> int:
        return len(self.created)


@dataclass
class PlatformData:
    """Everything a platform knows at one step.

    Attributes
    ----------
    step : int
        Current step (0-based).
    n_users : int
        Number of users.
    items : ItemView
        Public features of the items visible so far.
    log : InteractionLog
        All consumption events so far.
    follows : scipy.sparse.csr_matrix of shape (n_users, n_creators)
        Which creators each user follows.
    social : scipy.sparse.csr_matrix of shape (n_users, n_users) or None
        The social graph (who is connected to whom), when the platform has one.
    oracle : callable or None
        ``oracle(users) -> ndarray of shape (len(users), n_items)``: true expected
        utility of every visible item. Set only for ``privileged`` recommenders
        (the ``ideal`` upper bound); never for audited ones.
    seed : int
        Tie-breaking seed, drawn from the run's recommender stream: rankings and
        neighbour searches break ties by it (:func:`ampaudit.core.ranking.top_n`),
        never by id order.
    """

    step: int
    n_users: int
    items: ItemView
    log: InteractionLog
    follows: sp.csr_matrix
    social: sp.csr_matrix | None = None
    oracle: Callable[[np.ndarray], np.ndarray] | None = None
    seed: int = 0

    @property
    def n_items(self) -> int:
        """Number of items visible so far."""
        return len(self.items)

    def consumed(self) -> sp.csr_matrix:
        """Users × visible items consumption counts (CSR, float32)."""
        return self.log.consumed(self.n_items)


@dataclass
class StepBatch:
    """One step's impressions and consumption, for online recommender updates.

    Attributes
    ----------
    data : PlatformData
        The platform view after the step.
    users : ndarray of shape (n_shown,)
        Users who were shown a slate.
    slates : ndarray of shape (n_shown, k)
        Item ids shown, -1 padded.
    clicked : ndarray of shape (n_shown,)
        Slate position clicked by each user, -1 for no click.
    """

    data: PlatformData
    users: np.ndarray
    slates: np.ndarray
    clicked: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
