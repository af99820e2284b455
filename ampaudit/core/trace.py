"""Per-step counters an arm run accumulates, in preallocated arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ampaudit.core.categories import CATEGORIES, CHANNELS

__all__ = ["Trace"]


@dataclass
class Trace:
    """Raw counts of one arm × replicate run; metrics are computed from these.

    Attributes
    ----------
    n_users : int
    n_active : ndarray of shape (n_steps,)
        Active users per step.
    n_feed : ndarray of shape (n_steps,)
        Active users who opened the feed (the users the recommender scores).
    slates : ndarray of shape (n_steps,)
        Non-empty slates shown per step.
    clicks : ndarray of shape (n_steps,)
        Clicks on slates per step.
    rec_slots : ndarray of shape (n_steps, n_categories)
        Filled slate positions per item category.
    consumed : ndarray of shape (n_steps, n_channels, n_categories)
        Consumed items per channel and category.
    reach : ndarray of shape (n_steps, n_categories)
        Users exposed (recommendation impression or organic consumption) to the
        category at or before the step.
    rec_reach : ndarray of shape (n_steps, n_categories)
        Users with at least one recommendation impression of the category so far.
    cons_reach : ndarray of shape (n_steps, n_categories)
        Users who consumed at least one item of the category so far (any channel);
        comparable to panel studies' "viewed at least one" (Chen et al. 2023).
    mean_opinion, radicalised, newly_radicalised : ndarray of shape (n_steps,)
        Population mean opinion; number of users with ``x ≥ θ``; number of those
        who started below ``θ``, after each step.
    utility : ndarray of shape (n_steps,)
        Sum over active users of the deterministic utility of what they chose
        (the outside option's ``τ`` for no choice).
    x0, x : ndarray of shape (n_users,)
        Opinions at the start and the end.
    extreme_consumed : ndarray of shape (n_users,)
        Extreme items each user consumed, all channels.
    item_impressions : ndarray of shape (n_items_total,)
        Recommendation impressions of each item over the horizon.
    creator_impressions : ndarray of shape (n_creators,)
        Recommendation impressions of each creator's items over the horizon.
    extra : dict of str to ndarray of shape (n_steps,)
        Per-step values interventions report (e.g. watch-next segregation), NaN
        where not measured.
    actions : dict of str to ndarray of shape (n_steps, n_categories)
        What interventions did, by the true category of the items acted on, keyed
        ``"<intervention>.<action>"`` (e.g. ``"downrank.demoted"``).
    action_kinds : dict of str to str
        The declared kind of each key of ``actions`` (``"restrictive"``,
        ``"promotive"`` or ``"neutral"``; :data:`ampaudit.core.intervention.ActionKind`).
    """

    n_users: int
    n_active: np.ndarray
    n_feed: np.ndarray
    slates: np.ndarray
    clicks: np.ndarray
    rec_slots: np.ndarray
    consumed: np.ndarray
    reach: np.ndarray
    rec_reach: np.ndarray
    cons_reach: np.ndarray
    mean_opinion: np.ndarray
    radicalised: np.ndarray
    newly_radicalised: np.ndarray
    utility: np.ndarray
    x0: np.ndarray
    x: np.ndarray
    extreme_consumed: np.ndarray
    item_impressions: np.ndarray
    creator_impressions: np.ndarray
    actions: dict[str, np.ndarray] = field(default_factory=dict)
    action_kinds: dict[str, str] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    radicalised_at: np.ndarray | None = None
    #: user → group label (communities 0..C-1; the at-risk minority is group C)
    groups: np.ndarray | None = None
    #: consumption counts per group, channel and category over the horizon
    consumed_by_group: np.ndarray | None = None
    crisis_items: np.ndarray | None = None
    crisis_consumed: int = 0
    #: opinion at or above which a user counts as radicalised (behavior.radical_threshold)
    radical_threshold: float = 0.7
    #: ends of the opinion axis: (0, 1) one-sided, (-1, 1) two-sided (radicalised: |x| ≥ θ)
    opinion_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def empty(
        cls, n_steps: int, n_users: int, x0: np.ndarray, *, n_items: int = 0, n_creators: int = 0
    ) -> Trace:
        """Allocate a zeroed trace for ``n_steps`` steps."""
        n_cat, n_chan = len(CATEGORIES), len(CHANNELS)
        z = np.zeros
        return cls(
            n_users=n_users,
            n_active=z(n_steps, np.int64),
            n_feed=z(n_steps, np.int64),
            slates=z(n_steps, np.int64),
            clicks=z(n_steps, np.int64),
            rec_slots=z((n_steps, n_cat), np.int64),
            consumed=z((n_steps, n_chan, n_cat), np.int64),
            reach=z((n_steps, n_cat), np.int64),
            rec_reach=z((n_steps, n_cat), np.int64),
            cons_reach=z((n_steps, n_cat), np.int64),
            mean_opinion=z(n_steps),
            radicalised=z(n_steps, np.int64),
            newly_radicalised=z(n_steps, np.int64),
            utility=z(n_steps),
            x0=x0.copy(),
            x=x0.copy(),
            extreme_consumed=z(n_users, np.int64),
            item_impressions=z(n_items, np.int64),
            creator_impressions=z(n_creators, np.int64),
        )

    @property
    def n_steps(self) -> int:
        """Horizon of the run."""
        return len(self.n_active)
