"""Organic channels: how users find items without the feed (follows and search).

Each takes the uniforms the model drew for the step (fixed shapes, common random
numbers across arms) and returns one candidate item per user, ``-1`` for none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ampaudit.core.ranking import random_member

from .catalog import Catalog
from .world import World

__all__ = ["OrganicChannels"]


class OrganicChannels:
    """Followed creators' items and search results, over one arm's catalog.

    Parameters
    ----------
    world : World
        Follows and each creator's items (in creation order).
    catalog : Catalog
        The arm's catalog (availability is the arm's own).
    """

    def __init__(self, world: World, catalog: Catalog) -> None:
        self.catalog = catalog
        self._follow_indptr = world.follows.indptr.astype(np.int64)
        self._follow_indices = world.follows.indices.astype(np.int64)
        self._creator_items_indptr = world.creator_items_indptr
        self._creator_items = world.creator_items
        self._n_published = np.zeros(len(world.creator_category), dtype=np.int64)
        self.publish(-1)

    def publish(self, t: int) -> None:
        """Count the items created at step ``t`` toward their creators."""
        lo, hi = self.catalog.n_visible(t - 1), self.catalog.n_visible(t)
        self._n_published += np.bincount(
            self.catalog.creator[lo:hi], minlength=len(self._n_published)
        )

    def follow(self, users: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A followed creator's item per user: a random creator, then a random item.

        Parameters
        ----------
        users : ndarray of shape (n,)
        u : ndarray of shape (n, 2)
            Uniforms: the creator, then the item among those it has published.
        """
        creators = random_member(self._follow_indptr, self._follow_indices, users, u[:, 0])
        has = creators >= 0
        items = self._creator_item(np.where(has, creators, 0), u[:, 1])
        return np.where(has, items, -1)

    def search(
        self,
        users: np.ndarray,
        u: np.ndarray,
        n_visible: int,
        utility: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """The best available item of each user's search results (``-1`` if none).

        Parameters
        ----------
        users : ndarray of shape (n,)
        u : ndarray of shape (n, pool)
            Uniforms: the results, uniform over the visible catalog.
        n_visible : int
        utility : callable
            ``utility(users, items) -> ndarray`` of the users' utilities.
        """
        pool = (u * n_visible).astype(np.int64)
        if pool.size == 0:
            return np.full(len(users), -1, dtype=np.int64)
        pool = np.where(self.catalog.available[pool], pool, -1)
        best = np.argmax(utility(users, pool), axis=1)
        return pool[np.arange(len(users)), best]

    def _creator_item(self, creators: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A uniformly drawn item among those each creator has published so far."""
        starts = self._creator_items_indptr[creators]
        n_pub = self._n_published[creators]
        offset = np.minimum((u * n_pub).astype(np.int64), np.maximum(n_pub - 1, 0))
        # a creator's items are in creation order, so the published ones are a prefix
        items = self._creator_items[np.minimum(starts + offset, len(self._creator_items) - 1)]
        return np.where(n_pub > 0, items, -1)
