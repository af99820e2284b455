"""The Mesa model: one arm of one replicate, stepping the DESIGN §3.3 story.

The population is one vectorised agent set (struct of arrays), not one
``mesa.Agent`` per user: a single numpy call per behaviour stage replaces
``n_users`` Python method calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import mesa
import numpy as np

from ampaudit.core.categories import (
    CATEGORIES,
    CHANNELS,
    FOLLOW,
    RECOMMENDED,
    SEARCH,
    WATCH_NEXT,
)
from ampaudit.core.intervention import (
    GroundTruth,
    PlatformView,
    intervention_rng,
    lookup_kind,
)
from ampaudit.core.platform import InteractionLog, PlatformData, StepBatch
from ampaudit.core.protocols import Recommender, offers
from ampaudit.core.ranking import random_member
from ampaudit.core.trace import Trace

from .behavior import (
    BehaviorConf,
    content_drift,
    item_utility,
    taste_drift,
    visible_utility,
)
from .channels import OrganicChannels
from .choice import choose
from .opinion import anchoring, opinion_step
from .recorder import TraceRecorder
from .world import World

__all__ = ["AuditModel"]

N_CAT = len(CATEGORIES)
N_CHAN = len(CHANNELS)


def valid_candidates(
    items: np.ndarray, scores: np.ndarray, available: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keep each row's first valid occurrence of every item, in order, padded with -1.

    Invalid are ids outside ``[0, len(available))``, unavailable items and repeats
    within a row; valid entries move to the front with their relative order kept.

    Examples
    --------
    >>> items, _ = valid_candidates(
    ...     np.array([[3, -1, 3, 9, 1]]), np.zeros((1, 5)), np.array([1, 0, 1, 1], bool))
    >>> items.tolist()
    [[3, -1, -1, -1, -1]]
    """
    n_valid = len(available)
    if n_valid == 0:
        return np.full_like(items, -1), np.full(scores.shape, -np.inf, dtype=scores.dtype)
    ok = (items >= 0) & (items < n_valid) & available[np.clip(items, 0, n_valid - 1)]
    order = np.argsort(items, axis=1, kind="stable")  # repeats adjacent, first one first
    ranked = np.take_along_axis(items, order, axis=1)
    repeat = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
    padded_at_end = (ok[:, :-1] | ~ok[:, 1:]).all()
    if not repeat.any() and padded_at_end:
        # the usual case for a well-behaved ranking: only -1 padding to blank
        return np.where(ok, items, -1), np.where(ok, scores, -np.inf)
    first = np.ones(items.shape, dtype=bool)
    first[:, 1:] = ~repeat
    np.put_along_axis(ok, order, np.take_along_axis(ok, order, axis=1) & first, axis=1)
    front = np.argsort(~ok, axis=1, kind="stable")
    kept = np.take_along_axis(ok, front, axis=1)
    items = np.where(kept, np.take_along_axis(items, front, axis=1), -1)
    scores = np.where(kept, np.take_along_axis(scores, front, axis=1), -np.inf)
    return items, scores


def tie_seed(rng: np.random.Generator) -> int:
    """The tie-breaking seed of a run: a child of ``rng``'s seed sequence.

    Derived, not drawn, so the recommender's own stream is left as it was; and not
    ``spawn``-ed, which would count children on a seed sequence the arms share.
    """
    seq = rng.bit_generator.seed_seq
    assert isinstance(seq, np.random.SeedSequence)
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, 2**31 - 1))
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


class AuditModel(mesa.Model):
    """One arm of one replicate.

    Parameters
    ----------
    world : World
        The replicate's shared world; the model takes private copies of its
        mutable state.
    recommender : Recommender or None
        The feed algorithm; ``None`` shows no feed (the ``none`` baseline), so
        feed users consume nothing that step.
    behavior : BehaviorConf
    n_steps : int
        Horizon (at most ``world.n_steps``).
    slate_size : int
        ``k``, items shown per feed.
    n_candidates : int
        Items requested from the recommender (``>= slate_size``), before
        candidate-stage interventions cut the slate.
    rng : numpy.random.Generator
        The replicate's ``behavior`` stream (shared by arms: common random numbers).
        Each step draws a fixed number of variates from it, whatever the arm does.
    recommender_rng : numpy.random.Generator
        Stream handed to the recommender.
    record_impressions : bool, default=False
        Keep every impression (feed slots, and organic consumption) so the run can
        be exported as a platform-style impression log (:meth:`impression_log`).
    people : PeopleRecommender, optional
        Picks social-influence partners (``peers(users, data, rng=..., opinions=...)``;
        true opinions only for one marked ``privileged``); by default a uniformly
        random graph neighbour.
    interventions : sequence, default=()
        :class:`ampaudit.core.intervention.Intervention` objects, with any of the
        hooks ``on_catalog(view)``,
        ``on_candidates(view, users, items, scores) -> (items, scores)``,
        ``on_slate(view, users, slates) -> slates``,
        ``on_choice(view, users, slates, utility) -> utility`` and
        ``on_item_graph(view)``; each returns its new value or ``None`` for no
        change, and they chain in config order. The view is this model, as a
        :class:`~ampaudit.core.intervention.PlatformView`.
    intervention_seed : numpy.random.SeedSequence, optional
        The replicate's ``interventions`` stream: each intervention gets the child
        keyed by its name (:func:`~ampaudit.core.intervention.intervention_rng`) at
        ``reset``. By default each gets ``default_rng(0)`` (tests, benchmarks).
    """

    def __init__(
        self,
        world: World,
        recommender: Recommender | None,
        *,
        behavior: BehaviorConf,
        n_steps: int,
        slate_size: int,
        n_candidates: int,
        rng: np.random.Generator,
        recommender_rng: np.random.Generator,
        interventions: Sequence[Any] = (),
        intervention_seed: np.random.SeedSequence | None = None,
        people: Any = None,
        record_impressions: bool = False,
    ) -> None:
        super().__init__(rng=rng)
        self.world = world
        self.recommender = recommender
        self.behavior = behavior
        self.n_steps = n_steps
        self.slate_size = slate_size
        self.n_candidates = max(n_candidates, slate_size)
        self.recommender_rng = recommender_rng
        self.tie_seed = tie_seed(recommender_rng)
        self.interventions = list(interventions)
        self.people = people
        self.population, self.catalog = world.fresh_arm_state()
        self.log = InteractionLog(world.n_users, capacity=max(1024, world.n_users))
        self.recorder = TraceRecorder(
            world,
            self.population,
            n_steps=n_steps,
            radical_threshold=behavior.radical_threshold,
            record_impressions=record_impressions,
        )
        self.trace = self.recorder.trace
        self.t = 0
        self.organic = OrganicChannels(world, self.catalog)
        # the adjacency as plain arrays: peers are drawn per step without Python loops
        self._adj_indptr = world.adjacency.indptr.astype(np.int64)
        self._adj_indices = world.adjacency.indices.astype(np.int64)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "mean_opinion": lambda m: float(m.population.x.mean()),
                "radicalised": lambda m: float(
                    (np.abs(m.population.x) >= m.behavior.radical_threshold).mean()
                ),
            }
        )
        self._reset_interventions(intervention_seed)
        if recommender is not None:
            recommender.fit(self.platform_data())

    # -- views -------------------------------------------------------------------
    def platform_data(self) -> PlatformData:
        """What the platform sees now (public item features, log, follows)."""
        privileged = bool(getattr(self.recommender, "privileged", False))
        return PlatformData(
            step=self.t,
            n_users=self.world.n_users,
            items=self.catalog.view(self.t),
            log=self.log,
            follows=self.world.follows,
            social=self.world.adjacency,
            oracle=self.true_utility if privileged else None,
            seed=self.tie_seed,
        )

    def record_action(self, intervention: str, action: str, items: np.ndarray) -> None:
        """Tally what an intervention did this step, by the true category of the items.

        Interventions see only the platform's view; the harness knows the truth, so
        costs (news or counter-speech removed or demoted) are counted here. The
        action's declared kind goes to ``trace.action_kinds``; an action the
        intervention does not declare raises ``UndeclaredActionError``.
        """
        key = f"{intervention}.{action}"
        counts = self.trace.actions.get(key)
        if counts is None:
            self.trace.action_kinds[key] = lookup_kind(self.interventions, intervention, action)
            counts = self.trace.actions[key] = np.zeros((self.n_steps, N_CAT), dtype=np.int64)
        items = np.asarray(items, dtype=np.int64).ravel()
        items = items[items >= 0]
        if self.t < self.n_steps:
            counts[self.t] += np.bincount(self.catalog.category[items], minlength=N_CAT)

    def record_value(self, key: str, value: float) -> None:
        """Record a per-step value an intervention measured (e.g. segregation)."""
        series = self.trace.extra.get(key)
        if series is None:
            series = self.trace.extra[key] = np.full(self.n_steps, np.nan)
        series[min(self.t, self.n_steps) - 1] = value

    def learn(
        self, users: np.ndarray, slates: np.ndarray, clicked: np.ndarray, *, refit: bool
    ) -> None:
        """Show the recommender the step's slates and clicks; refit it when due.

        Parameters
        ----------
        users : ndarray of shape (n,)
            Users whose slates were shown.
        slates : ndarray of shape (n, slate_size)
            Item ids shown, ``-1`` padded.
        clicked : ndarray of shape (n,)
            Slate position each user clicked, ``-1`` for none.
        refit : bool
            Whether to call the recommender's ``fit`` on the platform afterwards.
        """
        rec = self.recommender
        assert rec is not None, "learn() needs a recommender"
        data = self.platform_data()
        observe = getattr(rec, "observe", None)
        if observe is not None:
            observe(StepBatch(data=data, users=users, slates=slates, clicked=clicked))
        if refit:
            rec.fit(data)

    def true_utility(self, users: np.ndarray) -> np.ndarray:
        """Expected utility of every visible item for ``users`` (no noise, no position).

        Only privileged recommenders get this (through ``PlatformData.oracle``).

        Returns
        -------
        ndarray of shape (len(users), n_visible), float32
        """
        n = self.catalog.n_visible(self.t)
        return visible_utility(self.behavior, self.population, self.catalog, users, n)

    def _chain(self, name: str, fixed: tuple[Any, ...], value: tuple[Any, ...]) -> tuple[Any, ...]:
        """Thread ``value`` through each intervention's ``name`` hook, in config order.

        A hook is called as ``hook(model, *fixed, *value)`` and returns the new
        value (a tuple when ``value`` has several parts) or ``None`` for no change.
        """
        for intervention in self.interventions:
            method = getattr(intervention, name, None)
            if method is None:
                continue
            out = method(self, *fixed, *value)
            if out is not None:
                value = out if isinstance(out, tuple) else (out,)
        return value

    # -- the step ----------------------------------------------------------------
    def step(self) -> None:
        """Advance one step (DESIGN §3.3)."""
        t, conf, pop, cat = self.t, self.behavior, self.population, self.catalog
        rng, k = self.rng, self.slate_size
        n_visible = cat.n_visible(t)
        self.organic.publish(t)

        # 1. active users and every draw of the step, in fixed shapes (CRN across arms)
        active = np.flatnonzero(rng.random(self.world.n_users) < pop.activity)
        n_act = len(active)
        channel_u = rng.random(n_act)
        # choice variates for the slate positions plus the outside option (last
        # column); organic channels use column 0 for their one item
        choice_u = rng.random((n_act, k + 1), dtype=np.float32)
        pick_u = rng.random((n_act, 2))
        search_u = rng.random((n_act, conf.search_pool))
        social_u = rng.random((n_act, 2))
        if conf.p_watch_next > 0:  # drawn only when the channel is on: the default stays as it was
            wn_u = rng.random(n_act)
            wn_choice_u = rng.random((n_act, conf.watch_next_size + 1), dtype=np.float32)

        # 2. catalog-stage interventions
        self._chain("on_catalog", (), ())

        p_org = conf.p_follow + conf.p_search
        is_follow = channel_u < conf.p_follow
        is_search = (channel_u >= conf.p_follow) & (channel_u < p_org)
        is_feed = channel_u >= p_org
        chosen = np.full(n_act, -1, dtype=np.int64)
        chosen_u = np.full(n_act, conf.outside)

        # 3-6. the feed: candidates, slate, choice
        feed_rows = np.flatnonzero(is_feed)
        feed_users = active[feed_rows]
        slates = np.full((len(feed_users), k), -1, dtype=np.int64)
        clicked = np.full(len(feed_users), -1, dtype=np.int64)
        if self.recommender is not None and len(feed_users):
            items, scores = self.recommender.recommend(
                feed_users, self.n_candidates, rng=self.recommender_rng
            )
            items, scores = self._chain("on_candidates", (feed_users,), (items, scores))
            # the platform never trusts a ranking: drop ids outside the visible
            # catalog, unavailable items and repeats, then close the gaps
            items, scores = valid_candidates(items, scores, cat.available[:n_visible])
            (slates,) = self._chain(
                "on_slate", (feed_users,), (np.ascontiguousarray(items[:, :k]),)
            )
            util = self._utility(feed_users, slates)
            util = util - conf.b_pos * np.log1p(np.arange(k))[None, :]
            (util,) = self._chain("on_choice", (feed_users, slates), (util,))
            clicked = self._choose(util, choice_u[feed_rows])
            hit = clicked >= 0
            rows = feed_rows[hit]
            chosen[rows] = slates[hit, clicked[hit]]
            chosen_u[rows] = util[hit, clicked[hit]] + conf.b_pos * np.log1p(clicked[hit])
        channel = np.full(n_act, RECOMMENDED, dtype=np.int8)

        # organic channels: a followed creator's item, or the best of a search
        f_rows = np.flatnonzero(is_follow)
        s_rows = np.flatnonzero(is_search)
        organic_rows = np.concatenate([f_rows, s_rows])
        organic_items = np.concatenate(
            [
                self.organic.follow(active[f_rows], pick_u[f_rows]),
                self.organic.search(active[s_rows], search_u[s_rows], n_visible, self._utility),
            ]
        )
        organic_items = np.where(
            (organic_items >= 0) & cat.available[np.maximum(organic_items, 0)], organic_items, -1
        )
        u_org = self._utility(active[organic_rows], organic_items[:, None])
        take = self._choose(u_org, choice_u[organic_rows][:, [0, k]]) == 0
        chosen[organic_rows[take]] = organic_items[take]
        chosen_u[organic_rows[take]] = u_org[take, 0]
        channel[s_rows] = SEARCH
        channel[f_rows] = FOLLOW

        # 7. behaviour updates
        did = chosen >= 0
        c_users, c_items, c_chan = active[did], chosen[did], channel[did]
        content_drift(pop, c_users, cat.extremity[c_items], conf.drift_rate)
        taste_drift(pop, c_users, cat.topics[c_items], conf.taste_rate)
        if conf.p_watch_next > 0:
            # autoplay: from the item just consumed, maybe one more from its watch-next list
            goes = np.flatnonzero(did & (wn_u < conf.p_watch_next))
            w_users, w_items, w_util = self._watch_next(
                active[goes], chosen[goes], wn_choice_u[goes], n_visible
            )
            content_drift(pop, w_users, cat.extremity[w_items], conf.drift_rate)
            taste_drift(pop, w_users, cat.topics[w_items], conf.taste_rate)
            c_users = np.concatenate([c_users, w_users])
            c_items = np.concatenate([c_items, w_items])
            c_chan = np.concatenate([c_chan, np.full(len(w_users), WATCH_NEXT, dtype=np.int8)])
            chosen_u = np.concatenate([chosen_u, w_util])
        meets = social_u[:, 0] < conf.p_social
        if self.people is None:
            peers = random_member(self._adj_indptr, self._adj_indices, active, social_u[:, 1])
        else:
            truth = pop.x if getattr(self.people, "privileged", False) else None
            peers = self.people.peers(active, self.platform_data(), rng=rng, opinions=truth)
        # met users' uniforms lie in [0, p_social) iid: their order is a random one
        pop.x[:] = opinion_step(
            conf.opinion,
            pop.x,
            active,
            np.where(meets, peers, -1),
            latitude=pop.latitude,
            order=social_u[:, 0],
        )
        pop.x[active] = anchoring(pop.x[active], pop.x0[active], conf.anchoring)

        # 8. the platform logs the step and the recommender learns
        self.log.append(c_users, c_items, t, c_chan)
        self.recorder.record_step(
            t,
            category=cat.category,
            x=pop.x,
            active=active,
            feed_users=feed_users,
            slates=slates,
            clicked=clicked,
            c_users=c_users,
            c_items=c_items,
            c_chan=c_chan,
            chosen_u=chosen_u,
        )
        self.t += 1
        if self.recommender is not None:
            retrain_every = max(1, int(self.recommender.retrain_every))
            self.learn(feed_users, slates, clicked, refit=self.t % retrain_every == 0)
        self._chain("on_item_graph", (), ())
        self.datacollector.collect(self)
        if self.t >= self.n_steps:
            self.running = False

    def _watch_next(
        self, users: np.ndarray, items: np.ndarray, uniforms: np.ndarray, n_visible: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Users who consumed one more item from the watch-next list of ``items``.

        The lists are the recommender's ``related`` items, passed through every
        intervention's ``on_watch_next(model, users, items, lists)`` hook; each user
        chooses among them (or nothing) with the configured choice model. Every
        item on a list counts as an exposure.

        Returns
        -------
        users, items, utility : ndarray
            Who consumed what through the channel, and its utility.
        """
        conf, cat = self.behavior, self.catalog
        none = np.zeros(0, dtype=np.int64)
        rec = self.recommender
        if rec is None or len(users) == 0 or not offers(rec, "related"):
            return none, none, np.zeros(0)
        # related() is optional in the contract: offers() checked it above
        lists = np.asarray(cast(Any, rec).related(items, conf.watch_next_size), dtype=np.int64)
        (lists,) = self._chain("on_watch_next", (users, items), (lists,))
        lists = np.where(lists == items[:, None], -1, lists)  # never the item just watched
        lists, _ = valid_candidates(
            lists, np.zeros(lists.shape, dtype=np.float32), cat.available[:n_visible]
        )
        shown = lists >= 0
        self.recorder.expose(
            cat.category[lists[shown]], np.broadcast_to(users[:, None], lists.shape)[shown]
        )
        util = self._utility(users, lists)
        util = util - conf.watch_next_b_pos * np.log1p(np.arange(lists.shape[1]))[None, :]
        pick = self._choose(util, uniforms[:, : lists.shape[1] + 1])
        hit = np.flatnonzero(pick >= 0)
        rank = pick[hit]
        utility = util[hit, rank] + conf.watch_next_b_pos * np.log1p(rank)
        return users[hit], lists[hit, rank], utility

    def _utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Deterministic utility of ``items[r, j]`` for ``users[r]`` (``-inf`` for ``-1``)."""
        return item_utility(self.behavior, self.population, self.catalog, users, items)

    def _choose(self, utility: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """The configured choice model over ``utility`` and the outside option."""
        conf = self.behavior
        return choose(
            utility, conf.outside, uniforms, model=conf.choice, rank_discount=conf.rank_discount
        )

    def run(self, progress: Any = None) -> Trace:
        """Run to the horizon and return the trace.

        Parameters
        ----------
        progress : callable, optional
            Called with no arguments after each step (e.g. a progress bar's update).
        """
        while self.running and self.t < self.n_steps:
            self.step()
            if progress is not None:
                progress()
        return self.recorder.finish(self.population.x, self.catalog, self.log)

    def impression_log(self) -> dict[str, np.ndarray]:
        """Every impression of the run (see :meth:`TraceRecorder.impression_log`)."""
        return self.recorder.impression_log()

    # -- the intervention view (ampaudit.core.intervention.PlatformView) ---------------
    @property
    def truth(self) -> GroundTruth:
        """What only people would know (true categories, originals, crisis items)."""
        return self.catalog

    def _reset_interventions(self, seed: np.random.SeedSequence | None) -> None:
        """Hand each intervention this model as its view and its own random stream."""
        view: PlatformView = self
        for intervention in self.interventions:
            reset = getattr(intervention, "reset", None)
            if reset is None:
                continue
            name = getattr(intervention, "name", "") or type(intervention).__name__
            rng = np.random.default_rng(0) if seed is None else intervention_rng(seed, name)
            reset(view, rng)
