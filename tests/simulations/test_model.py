"""The Mesa model: invariants of a run, common random numbers, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import REGISTRY
from ampaudit.simulations import AuditModel, BehaviorConf, GraphConf, build_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ampaudit.audit import run_audit
from ampaudit.core.categories import WATCH_NEXT

from ..conftest import small_run_conf, small_world_conf
from ..helpers import audit_model


class Recorder:
    """A test intervention: removes random items each step and records every slate."""

    def __init__(self, remove_per_step: int, seed: int) -> None:
        self.remove_per_step = remove_per_step
        self.rng = np.random.default_rng(seed)
        self.slates: list[np.ndarray] = []
        self.available: list[np.ndarray] = []
        self.active_counts: list[int] = []

    def on_catalog(self, model):
        n = model.catalog.n_visible(model.t)
        model.catalog.available[self.rng.integers(n, size=self.remove_per_step)] = False

    def on_slate(self, model, users, slates):
        self.slates.append(slates.copy())
        self.available.append(model.catalog.available.copy())
        return slates


def _model(world, name, *, seed=1, interventions=()):
    return audit_model(
        world, name, n_steps=15, n_candidates=10, seed=seed, interventions=interventions
    )


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(REGISTRY)), seed=st.integers(0, 10_000))
def test_slates_have_no_duplicates_or_unavailable_items(small_world, name, seed):
    recorder = Recorder(remove_per_step=10, seed=seed)
    model = _model(small_world, name, seed=seed, interventions=[recorder])
    model.run()
    assert recorder.slates
    for slates, available in zip(recorder.slates, recorder.available, strict=True):
        for row in slates:
            shown = row[row >= 0]
            assert len(np.unique(shown)) == len(shown)
            assert available[shown].all()
            # padding only at the end
            assert np.all(row[len(shown) :] == -1)
    # opinions stay in [0, 1]
    assert np.all((model.population.x >= 0) & (model.population.x <= 1))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_at_most_one_choice_per_active_user_per_step(small_world, name):
    model = _model(small_world, name)
    model.run()
    log = model.log
    keys = log.steps.astype(np.int64) * small_world.n_users + log.users
    assert len(np.unique(keys)) == len(keys)
    assert (log.channels >= 0).all()
    assert (log.channels <= 3).all()
    # no recommended item is consumed twice by the same user
    rec = log.channels == 0
    pairs = log.users[rec].astype(np.int64) * 10**6 + log.items[rec]
    assert len(np.unique(pairs)) == len(pairs)


def test_organic_channels_are_used_and_told_apart(small_world):
    trace = _model(small_world, "popularity").run()
    per_channel = trace.consumed.sum(axis=(0, 2))
    assert (per_channel[:WATCH_NEXT] > 0).all()
    assert per_channel[WATCH_NEXT] == 0  # the channel is off by default


@pytest.mark.parametrize("name", ["item_knn", "mf", "content"])
def test_watch_next_is_a_channel_users_follow(small_world, name):
    model = _model(small_world, name)
    model.behavior = BehaviorConf(p_watch_next=0.5)
    trace = model.run()
    per_channel = trace.consumed.sum(axis=(0, 2))
    assert per_channel[WATCH_NEXT] > 0
    log = model.log
    assert (log.channels == WATCH_NEXT).sum() == per_channel[WATCH_NEXT]


def test_watch_next_needs_related_lists(small_world):
    model = _model(small_world, "popularity")  # no related(): no watch-next lists
    model.behavior = BehaviorConf(p_watch_next=1.0)
    assert model.run().consumed.sum(axis=(0, 2))[WATCH_NEXT] == 0


def test_arms_share_the_world_and_the_draws(small_world):
    a = _model(small_world, "chronological").run()
    b = _model(small_world, "mf").run()
    # common random numbers: the same users are active each step in both arms
    assert np.array_equal(a.n_active, b.n_active)
    assert np.array_equal(a.x0, b.x0)
    # and an arm never mutates the shared world
    fresh = build_world(small_world_conf(), GraphConf(), n_steps=20, rng=np.random.default_rng(7))
    assert np.array_equal(fresh.population.x, small_world.population.x)
    assert fresh.catalog.available.all()
    assert small_world.catalog.available.all()


@pytest.mark.parametrize("name", ["chronological", "random"])
def test_identical_arms_give_identical_traces_and_zero_amplification(name):
    conf = small_run_conf(name, control=name)
    result = run_audit(conf)
    ctl = [r for r in result.runs if r.arm == "control"]
    trt = [r for r in result.runs if r.arm == "treatment"]
    for c, t in zip(ctl, trt, strict=True):
        assert c.final == t.final
        for key, values in t.series.items():
            if key.startswith("amplification."):
                assert np.all(values == 0.0), key


def test_same_config_and_seed_give_identical_metrics():
    first = run_audit(small_run_conf("mf"))
    second = run_audit(small_run_conf("mf"))
    assert [r.final for r in first.runs] == [r.final for r in second.runs]
    for a, b in zip(first.runs, second.runs, strict=True):
        for key in a.series:
            np.testing.assert_array_equal(a.series[key], b.series[key])


def test_replicates_differ():
    result = run_audit(small_run_conf("popularity"))
    r0, r1 = (r for r in result.runs if r.arm == "treatment")
    assert r0.final != r1.final


class Blank:
    """Blanks slot 0 of every candidate list."""

    def on_candidates(self, model, users, items, scores):
        items = items.copy()
        items[:, 0] = -1
        return items, scores


class Spy:
    def __init__(self):
        self.first_slots = []

    def on_slate(self, model, users, slates):
        self.first_slots.append(slates[:, 0].copy())


def test_hooks_chain_and_the_platform_closes_gaps(small_world):
    spy = Spy()
    model = _model(small_world, "popularity", interventions=[Blank(), Spy(), spy])
    model.n_candidates = 12
    model.run()
    # the blanked slot is dropped and later candidates move up: no hole at the top
    assert all((slots >= 0).all() for slots in spy.first_slots)


class Garbage:
    """A broken recommender: out-of-range ids, repeats and removed items."""

    retrain_every = 1
    privileged = False

    def fit(self, data):
        self.n_ = data.n_items
        return self

    def recommend(self, users, n, *, rng):
        items = np.tile(np.array([10**6, 0, 0, 1, 2, -5, 3, 4, 5, 6, 7, 8]), (len(users), 1))
        return items[:, :n], np.zeros((len(users), n), dtype=np.float32)


def test_invalid_recommendations_are_never_shown(small_world):
    recorder = Recorder(remove_per_step=0, seed=0)
    model = AuditModel(
        small_world,
        Garbage(),
        behavior=BehaviorConf(),
        n_steps=5,
        slate_size=10,
        n_candidates=12,
        rng=np.random.default_rng(0),
        recommender_rng=np.random.default_rng(1),
        interventions=[recorder],
    )
    model.run()
    for slates in recorder.slates:
        assert slates[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, -1]


def test_the_shared_world_is_read_only(small_world):
    with pytest.raises(ValueError, match="read-only"):
        small_world.catalog.topics[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        small_world.population.x[0] = 1.0


def test_amplification_against_no_feed_compares_exposure():
    result = run_audit(small_run_conf("popularity", control="none"))
    for run in result.runs:
        assert np.isfinite(run.series["amplification.mainstream"]).all()
    trt = next(r for r in result.runs if r.arm == "treatment")
    assert trt.final["amplification.mainstream"] > 0  # a feed adds exposure
