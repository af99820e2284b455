"""Behaviour of the built-in recommenders: the contract, and that each really learns."""

from __future__ import annotations

import inspect

import ampaudit.recommenders
import numpy as np
import pytest
import scipy.sparse as sp
from ampaudit.recommenders import CONFS, REGISTRY
from ampaudit.recommenders.testing import toy_platform

from ampaudit.core.platform import InteractionLog, ItemView, PlatformData
from ampaudit.core.protocols import Recommender


def _platform(n_users, features, events, *, step=5, created=None, available=None):
    n_items = len(features)
    log = InteractionLog(n_users)
    for t, users, items in events:
        log.append(np.asarray(users), np.asarray(items), t, np.zeros(len(users), dtype=np.int8))
    view = ItemView(
        features=np.asarray(features, dtype=np.float32),
        created=np.arange(n_items, dtype=np.int32) if created is None else created,
        creator=np.zeros(n_items, dtype=np.int32),
        score=np.zeros(n_items, dtype=np.float32),
        available=np.ones(n_items, dtype=bool) if available is None else available,
    )
    return PlatformData(
        step=step, n_users=n_users, items=view, log=log, follows=sp.csr_matrix((n_users, 1))
    )


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_contract(name):
    rec = REGISTRY[name]()
    assert isinstance(rec, Recommender)
    data = toy_platform(n_users=5, n_items=12)
    data.items.available[3] = False
    assert rec.fit(data) is rec
    users = np.array([0, 2, 4])
    items, scores = rec.recommend(users, 8, rng=np.random.default_rng(0))
    assert items.shape == scores.shape == (3, 8)
    assert items.dtype == np.int64
    assert scores.dtype == np.float32
    consumed = data.consumed().toarray() > 0
    for row, u in zip(items, users, strict=True):
        shown = row[row >= 0]
        assert len(set(shown.tolist())) == len(shown)
        assert 3 not in shown
        assert not consumed[u, shown].any()
        assert shown.max(initial=0) < 12
    again, _ = rec.recommend(users, 8, rng=np.random.default_rng(0))
    assert np.array_equal(items, again)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_pads_with_minus_one_when_items_run_out(name):
    rec = REGISTRY[name]().fit(toy_platform(n_users=2, n_items=3))
    items, scores = rec.recommend(np.array([0, 1]), 6, rng=np.random.default_rng(0))
    assert (items[:, 3:] == -1).all()
    assert np.isneginf(scores[items == -1]).all()


@pytest.mark.parametrize("name", sorted(CONFS))
def test_config_mirrors_constructor(name):
    conf = CONFS[name]()
    cls = getattr(ampaudit.recommenders, conf._target_.rsplit(".", 1)[-1])
    params = set(inspect.signature(cls).parameters)
    fields = set(CONFS[name].__dataclass_fields__) - {"_target_"}
    assert params == fields
    defaults = {k: v.default for k, v in inspect.signature(cls).parameters.items()}
    assert defaults == {f: getattr(conf, f) for f in fields}


def test_chronological_is_newest_first():
    data = _platform(2, np.eye(5, 3), [], created=np.array([0, 4, 2, 3, 1], dtype=np.int32))
    items, _ = (
        REGISTRY["chronological"](source="all")
        .fit(data)
        .recommend(np.array([0]), 3, rng=np.random.default_rng(0))
    )
    assert items[0].tolist() == [1, 3, 2]


def test_chronological_following_shows_only_followed_creators():
    data = toy_platform(n_users=4, n_items=10)
    rec = REGISTRY["chronological"]().fit(data)
    items, _ = rec.recommend(np.arange(4), 10, rng=np.random.default_rng(0))
    for u, row in enumerate(items):
        shown = row[row >= 0]
        assert len(shown) > 0
        assert (data.items.creator[shown] == u % 2).all()
        assert np.all(np.diff(data.items.created[shown]) < 0)  # newest first


def test_popularity_counts_only_the_window():
    events = [(0, [0, 1, 2], [4, 4, 4]), (8, [0, 1], [2, 2]), (9, [2], [3])]
    data = _platform(4, np.eye(5, 3), events, step=10)
    rec = REGISTRY["popularity"](window=3).fit(data)
    items, _ = rec.recommend(np.array([3]), 2, rng=np.random.default_rng(0))
    assert items[0].tolist() == [2, 3]  # item 4 was popular, but outside the window


def test_content_learns_from_consumed_features():
    features = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    data = _platform(2, features, [(0, [0, 1], [0, 2])])
    items, _ = (
        REGISTRY["content"]().fit(data).recommend(np.array([0, 1]), 1, rng=np.random.default_rng(0))
    )
    assert items[:, 0].tolist() == [1, 3]


def test_mf_learns_block_structure():
    # two taste groups of users, each consuming from its own half of the items
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(60):
        half = u % 2
        for i in rng.choice(10, size=6, replace=False):
            users.append(u)
            items.append(int(i) * 2 + half)  # even items for group 0, odd for group 1
    data = _platform(60, np.zeros((20, 4)), [(0, users, items)])
    rec = REGISTRY["mf"](factors=4, iterations=15).fit(data)
    top, _ = rec.recommend(np.arange(60), 3, rng=np.random.default_rng(0))
    same_half = (top % 2) == (np.arange(60)[:, None] % 2)
    assert same_half.mean() > 0.9


def test_parameter_errors_name_the_parameter():
    from ampaudit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="window"):
        REGISTRY["popularity"](window=0).fit(toy_platform())
    with pytest.raises(ConfigError, match="factors"):
        REGISTRY["mf"](factors=0).fit(toy_platform())


def test_content_incremental_refit_matches_a_fresh_fit():
    data = toy_platform(n_users=6, n_items=10, seed=3)
    rec = REGISTRY["content"]().fit(data)
    rng = np.random.default_rng(0)
    for t in range(2, 5):
        data.log.append(
            rng.integers(6, size=4), rng.integers(10, size=4), t, np.zeros(4, dtype=np.int8)
        )
        rec.fit(data)
    fresh = REGISTRY["content"]().fit(data)
    np.testing.assert_allclose(rec.profiles_, fresh.profiles_, rtol=1e-5, atol=1e-6)


def _co_consumption():
    # users 0-9 consume items {0, 1}; users 10-19 consume {2, 3}; user 20 consumed only 0
    users = [u for u in range(10) for _ in (0, 1)] + [u for u in range(10, 20) for _ in (0, 1)]
    items = [i for _ in range(10) for i in (0, 1)] + [i for _ in range(10) for i in (2, 3)]
    return _platform(21, np.zeros((6, 2)), [(0, [*users, 20], [*items, 0])])


@pytest.mark.parametrize("name", ["item_knn", "user_knn"])
def test_knn_recommends_what_similar_histories_contain(name):
    rec = REGISTRY[name](k=5).fit(_co_consumption())
    top, _ = rec.recommend(np.array([20]), 1, rng=np.random.default_rng(0))
    assert top[0, 0] == 1


def test_item_knn_related_lists_co_consumed_items():
    rec = REGISTRY["item_knn"](k=5).fit(_co_consumption())
    related = rec.related(np.array([0, 2]), 1)
    assert related[:, 0].tolist() == [1, 3]


def test_bandit_learns_click_through_online():
    from ampaudit.core.platform import StepBatch

    data = _platform(3, np.zeros((4, 2)), [])
    rec = REGISTRY["bandit"](policy="epsilon", epsilon=0.0).fit(data)
    # item 2 is clicked whenever shown, the others never
    for _ in range(5):
        slates = np.array([[0, 1, 2, 3]] * 3)
        rec.observe(
            StepBatch(data=data, users=np.arange(3), slates=slates, clicked=np.array([2, 2, 2]))
        )
    top, _ = rec.recommend(np.array([0]), 1, rng=np.random.default_rng(0))
    assert top[0, 0] == 2
    assert rec.impressions_.tolist() == [15, 15, 15, 15]
    assert rec.clicks_.tolist() == [0, 0, 15, 0]


def test_social_ranks_what_neighbours_consumed():
    data = toy_platform(n_users=6, n_items=10)
    rec = REGISTRY["social"](exclude_consumed=False).fit(data)
    items, _scores = rec.recommend(np.array([0]), 1, rng=np.random.default_rng(0))
    neighbours = data.social[0].indices
    consumed_by_neighbours = data.consumed()[neighbours].sum(axis=0).A1
    assert consumed_by_neighbours[items[0, 0]] == consumed_by_neighbours.max()


def test_ideal_follows_the_oracle_and_needs_it():
    from ampaudit.core.errors import ConfigError

    data = toy_platform(n_users=3, n_items=8)
    rec = REGISTRY["ideal"](exclude_consumed=False).fit(data)
    items, _ = rec.recommend(np.array([1]), 3, rng=np.random.default_rng(0))
    assert items[0].tolist() == np.argsort(-data.oracle(np.array([1]))[0])[:3].tolist()
    data.oracle = None
    with pytest.raises(ConfigError, match="privileged"):
        REGISTRY["ideal"]().fit(data)


def test_thompson_draws_once_per_call_however_many_score_chunks():
    """One CTR draw per item per step, shared by the batch, even when scoring is chunked."""
    from ampaudit.core.ranking import chunk_rows

    data = toy_platform(n_users=40, n_items=300)
    rec = REGISTRY["bandit"](exclude_consumed=False, chunk_bytes=4096).fit(data)
    assert chunk_rows(data.n_items, rec.chunk_bytes) == 3  # 14 chunks for 40 users
    items, _ = rec.recommend(np.arange(40), 5, rng=np.random.default_rng(0))
    assert (items == items[0]).all()
