"""The people recommender: partners for social influence."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import PeopleRecommender
from ampaudit.recommenders.testing import toy_platform

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
