"""The people recommender: partners for social influence."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import PeopleRecommender
from ampaudit.recommenders.people import partner_weights, sample_others
from ampaudit.recommenders.testing import toy_platform
from hypothesis import given, settings
from hypothesis import strategies as st

from ampaudit.config import validate
from ampaudit.core.errors import ConfigError

from ..conftest import small_run_conf


def _data():
    data = toy_platform(n_users=40, n_items=30, seed=1)
    # two camps: users < 20 consumed low-score items, the others high-score items
    data.items.score[:] = np.linspace(0, 1, 30, dtype=np.float32)
    users = np.repeat(np.arange(40), 3)
    items = np.where(users < 20, users % 5, 25 + users % 5)
    data.log.append(users, items, 1, np.zeros(len(users), dtype=np.int8))
    return data


def test_graph_mode_meets_neighbours():
    data = _data()
    users = np.arange(40)
    peers = PeopleRecommender(mode="graph").peers(users, data, rng=np.random.default_rng(0))
    for u, p in zip(users, peers, strict=True):
        assert p in data.social[u].indices


def test_random_mode_never_meets_oneself():
    users = np.arange(40).repeat(50)
    peers = PeopleRecommender(mode="random").peers(users, _data(), rng=np.random.default_rng(0))
    assert (peers != users).all()
    assert ((peers >= 0) & (peers < 40)).all()


def test_similarity_bias_brings_like_minded_users_together():
    data = _data()
    users = np.arange(40).repeat(50)
    x_hat = PeopleRecommender.estimated_opinions(data)
    gaps = {}
    for gamma in (0.0, 4.0):
        rec = PeopleRecommender(mode="similar", gamma=gamma)
        peers = rec.peers(users, data, rng=np.random.default_rng(0))
        gaps[gamma] = np.abs(x_hat[users] - x_hat[peers]).mean()
    assert gaps[4.0] < 0.5 * gaps[0.0]


def test_draw_count_is_fixed_across_modes():
    states = []
    for mode in ("graph", "random", "similar"):
        rng = np.random.default_rng(3)
        PeopleRecommender(mode=mode).peers(np.arange(10), _data(), rng=rng)
        states.append(rng.random())
    assert states[0] == states[1] == states[2]


def test_bad_mode_is_a_config_error():
    conf = small_run_conf()
    conf.people.mode = "telepathy"
    with pytest.raises(ConfigError, match=r"people\.mode='telepathy'"):
        validate(conf)


# -- partner selection on a signal (issue 13) -----------------------------------------


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 60), st.data())
def test_candidates_are_distinct_others(n_users, data):
    m = data.draw(st.integers(1, n_users - 1))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    users = rng.integers(n_users, size=7)
    cand = sample_others(users, rng.random((7, m)), n_users)
    assert cand.shape == (7, m)
    assert ((cand >= 0) & (cand < n_users)).all()
    assert (cand != users[:, None]).all()
    assert all(len(set(row)) == m for row in cand.tolist())  # without replacement


def test_candidates_are_uniform_over_the_others():
    rng = np.random.default_rng(11)
    n_draws, n_users, m = 40_000, 10, 4
    users = np.zeros(n_draws, dtype=np.int64)
    cand = sample_others(users, rng.random((n_draws, m)), n_users)
    freq = np.bincount(cand.ravel(), minlength=n_users)[1:] / n_draws
    p = m / (n_users - 1)  # each other user is in a sample with probability m / (N - 1)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n_draws))


def test_floor_caps_the_weight_of_near_identical_partners():
    w = partner_weights(np.array([[0.0, 1e-6, 1e-3, 2e-3, 0.5]]), gamma=1.0, floor=1e-3)
    assert w[0, 0] == w[0, 1] == w[0, 2] == 1.0
    assert w[0, 3] == pytest.approx(0.5)
    assert w[0, 4] == pytest.approx(2e-3)
    # a large gamma neither overflows nor loses the nearest candidate
    assert partner_weights(np.array([[1e-9, 0.5]]), gamma=300.0, floor=1e-3).tolist() == [
        [1.0, 0.0]
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "graph"},
        {"mode": "random"},
        {"mode": "similar"},
        {"mode": "similar", "signal": "opinion", "gamma": 0.0},
        {"mode": "similar", "signal": "opinion", "gamma": 8.0},
        {"mode": "similar", "window": 1},
        {"mode": "similar", "floor": 0.2},
    ],
)
def test_draw_count_is_fixed_whatever_the_mode_signal_and_gamma(params):
    opinions = np.linspace(0, 1, 40)
    rng = np.random.default_rng(3)
    PeopleRecommender(**params).peers(np.arange(10), _data(), rng=rng, opinions=opinions)
    assert rng.random() == _after(np.random.default_rng(3), 10, 16)


def _after(rng, n, m):
    rng.random((n, m + 1))
    return rng.random()


def test_whole_population_when_candidates_reach_it():
    # 40 users, n_candidates >= 39: everyone else is a candidate, so a strong bias
    # always finds the nearest user on the true opinions
    opinions = np.random.default_rng(2).permutation(40) / 39
    rec = PeopleRecommender(mode="similar", signal="opinion", gamma=60.0, n_candidates=500)
    rng = np.random.default_rng(4)
    users = np.arange(40)
    peers = rec.peers(users, _data(), rng=rng, opinions=opinions)
    gaps = np.abs(opinions[peers] - opinions[users])
    assert np.allclose(gaps, 1 / 39)
    assert rng.random() == _after(np.random.default_rng(4), 40, 39)  # N - 1 columns drawn


def test_gamma_has_no_effect_on_consumption_without_consumption_but_does_on_opinions():
    data = toy_platform(n_users=40, n_items=30, seed=1)
    data.log = type(data.log)(40)  # nobody has consumed anything
    opinions = np.random.default_rng(0).random(40)
    users = np.arange(40).repeat(20)

    def peers(signal, gamma):
        rec = PeopleRecommender(mode="similar", signal=signal, gamma=gamma)
        return rec.peers(users, data, rng=np.random.default_rng(9), opinions=opinions)

    assert np.array_equal(peers("consumption", 0.0), peers("consumption", 4.0))
    assert not np.array_equal(peers("opinion", 0.0), peers("opinion", 4.0))
    gap = {g: np.abs(opinions[peers("opinion", g)] - opinions[users]).mean() for g in (0, 4)}
    assert gap[4] < 0.5 * gap[0]


def test_window_averages_the_latest_items_only():
    data = toy_platform(n_users=3, n_items=4, seed=1)
    data.log = type(data.log)(3)
    data.items.score[:] = np.array([0.0, 0.2, 0.6, 1.0], dtype=np.float32)
    data.log.append(np.array([0, 0, 1]), np.array([0, 1, 3]), 0, np.zeros(3, dtype=np.int8))
    data.log.append(np.array([0, 1]), np.array([2, 2]), 1, np.zeros(2, dtype=np.int8))
    latest = PeopleRecommender.estimated_opinions(data, window=1)
    two = PeopleRecommender.estimated_opinions(data, window=2)
    every = PeopleRecommender.estimated_opinions(data)
    assert latest[:2] == pytest.approx([0.6, 0.6])
    assert two[:2] == pytest.approx([0.4, 0.8])
    assert every[:2] == pytest.approx([0.8 / 3, 0.8])
    assert latest[2] == pytest.approx(0.6)  # no history: the mean of those with one


def test_only_the_opinion_signal_is_privileged_and_it_needs_opinions():
    assert PeopleRecommender(signal="opinion").privileged
    assert not PeopleRecommender().privileged
    with pytest.raises(ValueError, match="opinions"):
        PeopleRecommender(mode="similar", signal="opinion").peers(
            np.arange(3), _data(), rng=np.random.default_rng(0)
        )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("signal", "mind", r"people\.signal='mind'.*consumption, opinion"),
        ("floor", 0.0, r"people\.floor=0\.0.*> 0"),
        ("window", 0, r"people\.window=0.*>= 1"),
        ("gamma", -1.0, r"people\.gamma=-1\.0"),
    ],
)
def test_bad_partner_selection_is_a_config_error(field, value, expected):
    conf = small_run_conf()
    setattr(conf.people, field, value)
    with pytest.raises(ConfigError, match=expected):
        validate(conf)
