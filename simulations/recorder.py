"""The trace recorder: what one arm's steps did, accumulated into preallocated arrays.

The model tells the story of a step; the recorder counts it (DESIGN §3.3 step 9):
slates shown, clicks, consumption by group × channel × category, who was ever
exposed, recommended or consumed each category, opinions and radicalisation, and,
when asked, every impression for a platform-style log.
"""

from __future__ import annotations

import numpy as np

from ampaudit.core.categories import CATEGORIES, CHANNELS, EXTREME, RECOMMENDED
from ampaudit.core.platform import InteractionLog
from ampaudit.core.trace import Trace

from .catalog import Catalog
from .population import Population
from .world import World

__all__ = ["TraceRecorder"]

N_CAT = len(CATEGORIES)
N_CHAN = len(CHANNELS)


class TraceRecorder:
    """Counts one arm's run into a :class:`~ampaudit.core.trace.Trace`.

    Parameters
    ----------
    world : World
    population : Population
        The arm's population (its initial opinions and groups are read here).
    n_steps : int
        Horizon: the trace's arrays are preallocated for it.
    radical_threshold : float
        ``θ``: a user with ``|x| ≥ θ`` counts as radicalised.
    record_impressions : bool, default=False
        Keep every impression for :meth:`impression_log`.
    """

    def __init__(
        self,
        world: World,
        population: Population,
        *,
        n_steps: int,
        radical_threshold: float,
        record_impressions: bool = False,
    ) -> None:
        n_users = world.n_users
        self.trace = tr = Trace.empty(
            n_steps,
            n_users,
            population.x0,
            n_items=len(world.catalog),
            n_creators=len(world.creator_category),
        )
        self.radical_threshold = radical_threshold
        self._impressions: list[dict[str, np.ndarray]] | None = [] if record_impressions else None
        # category × user flags: ever exposed (any channel), ever recommended, ever
        # consumed; category-major so per-category counts are contiguous reductions
        self._exposed = np.zeros((N_CAT, n_users), dtype=bool)
        self._rec_exposed = np.zeros((N_CAT, n_users), dtype=bool)
        self._consumed_any = np.zeros((N_CAT, n_users), dtype=bool)
        # radicalised = far from the centre: |x| is x itself on a one-sided axis
        self._starts_radical = np.abs(population.x0) >= radical_threshold
        # groups for breakdowns: communities, with the at-risk minority as its own group
        n_comm = int(population.community.max()) + 1 if n_users else 1
        self._groups = np.where(population.at_risk, n_comm, population.community).astype(np.int64)
        self._consumed_by_group = np.zeros((n_comm + 1, N_CHAN, N_CAT), dtype=np.int64)
        self._radicalised_at = np.full(n_users, -1, dtype=np.int64)
        tr.radical_threshold = radical_threshold
        tr.opinion_range = world.opinion_range
        tr.groups = self._groups
        tr.consumed_by_group = self._consumed_by_group
        tr.radicalised_at = self._radicalised_at

    def expose(self, categories: np.ndarray, users: np.ndarray) -> None:
        """Mark ``users[i]`` as exposed to ``categories[i]`` (an impression off the feed)."""
        self._exposed[categories, users] = True

    def record_step(
        self,
        t: int,
        *,
        category: np.ndarray,
        x: np.ndarray,
        active: np.ndarray,
        feed_users: np.ndarray,
        slates: np.ndarray,
        clicked: np.ndarray,
        c_users: np.ndarray,
        c_items: np.ndarray,
        c_chan: np.ndarray,
        chosen_u: np.ndarray,
    ) -> None:
        """Accumulate step ``t``'s counters.

        Parameters
        ----------
        t : int
        category : ndarray of shape (n_items_total,)
            True category of every item.
        x : ndarray of shape (n_users,)
            Opinions after the step.
        active : ndarray
            Active users.
        feed_users, slates, clicked : ndarray
            Feed users, their slates (``-1`` padded) and the position clicked (``-1``).
        c_users, c_items, c_chan : ndarray
            Every consumption of the step: user, item and channel.
        chosen_u : ndarray
            Realised utility of every active user's choice (the outside option's for
            none), then of each watch-next pick.
        """
        tr = self.trace
        if self._impressions is not None:
            self._log_impressions(t, feed_users, slates, clicked, c_users, c_items, c_chan)
        tr.n_active[t] = len(active)
        tr.n_feed[t] = len(feed_users)
        shown = slates >= 0
        tr.slates[t] = int(shown.any(axis=1).sum())
        tr.clicks[t] = int((clicked >= 0).sum())
        slot_cat = category[slates[shown]]
        tr.rec_slots[t] = np.bincount(slot_cat, minlength=N_CAT)
        tr.item_impressions += np.bincount(slates[shown], minlength=len(tr.item_impressions))
        c_cat = category[c_items].astype(np.int64)
        # one tally per (group, channel, category); the step's totals sum out the groups
        by_group = np.bincount(
            (self._groups[c_users] * N_CHAN + c_chan.astype(np.int64)) * N_CAT + c_cat,
            minlength=self._consumed_by_group.size,
        ).reshape(self._consumed_by_group.shape)
        self._consumed_by_group += by_group
        tr.consumed[t] = by_group.sum(axis=0)
        # exposure: recommendation impressions, then organic consumption
        rec_users = np.broadcast_to(feed_users[:, None], slates.shape)[shown]
        organic = c_chan != RECOMMENDED
        self._rec_exposed[slot_cat, rec_users] = True
        self._exposed[slot_cat, rec_users] = True
        self._exposed[c_cat[organic], c_users[organic]] = True
        self._consumed_any[c_cat, c_users] = True
        tr.rec_reach[t] = np.count_nonzero(self._rec_exposed, axis=1)
        tr.reach[t] = np.count_nonzero(self._exposed, axis=1)
        tr.cons_reach[t] = np.count_nonzero(self._consumed_any, axis=1)
        np.add.at(tr.extreme_consumed, c_users[c_cat == EXTREME], 1)
        radical = np.abs(x) >= self.radical_threshold
        tr.mean_opinion[t] = x.mean()
        tr.radicalised[t] = int(radical.sum())
        tr.newly_radicalised[t] = int((radical & ~self._starts_radical).sum())
        first = radical & ~self._starts_radical & (self._radicalised_at < 0)
        self._radicalised_at[first] = t
        tr.utility[t] = float(chosen_u.sum())

    def finish(self, x: np.ndarray, catalog: Catalog, log: InteractionLog) -> Trace:
        """Close the trace at the horizon: final opinions, crisis and creator totals."""
        tr = self.trace
        tr.x[:] = x
        tr.crisis_items = np.flatnonzero(catalog.crisis)
        tr.crisis_consumed = int(np.isin(log.items, tr.crisis_items).sum())
        tr.creator_impressions[:] = np.bincount(
            catalog.creator, weights=tr.item_impressions, minlength=len(tr.creator_impressions)
        ).astype(np.int64)
        return tr

    def _log_impressions(self, t, feed_users, slates, clicked, c_users, c_items, c_chan) -> None:
        assert self._impressions is not None
        rows, pos = np.nonzero(slates >= 0)
        organic = c_chan != RECOMMENDED
        n_org = int(organic.sum())
        self._impressions.append(
            {
                "user": np.concatenate([feed_users[rows], c_users[organic]]),
                "item": np.concatenate([slates[rows, pos], c_items[organic]]),
                "step": np.full(len(rows) + n_org, t, dtype=np.int64),
                "position": np.concatenate([pos, np.full(n_org, -1)]),
                "channel": np.concatenate([np.zeros(len(rows), np.int8), c_chan[organic]]),
                "clicked": np.concatenate([clicked[rows] == pos, np.ones(n_org, bool)]),
            }
        )

    def impression_log(self) -> dict[str, np.ndarray]:
        """Every impression of the run.

        Returns
        -------
        dict of str to ndarray
            ``user, item, step, position`` (-1 for organic), ``channel``, ``clicked``.
        """
        if not self._impressions:
            raise ValueError("impressions were not recorded: pass record_impressions=True")
        return {k: np.concatenate([b[k] for b in self._impressions]) for k in self._impressions[0]}
