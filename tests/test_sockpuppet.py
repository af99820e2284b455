"""Sock-puppet audits: scripted accounts walking a recommender."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import REGISTRY, RemoteRecommenderConf
from ampaudit.recommenders.testing import stub_service

from ampaudit.config import make_recommender, validate
from ampaudit.core.categories import CATEGORIES
from ampaudit.core.errors import ConfigError
from ampaudit.sockpuppet import (
    PERSONAS,
    Puppet,
    PuppetPlatform,
    SockPuppetConf,
    persona_population,
    plan_puppets,
    run_sock_puppets,
    sock_table,
    walk,
    walk_puppets,
    warm_up,
)
from tests.helpers import ampaudit, local_client, local_runs

from .conftest import small_run_conf

#: The puppet the single-walk tests use.
SEEDED = Puppet("seeded", "extreme", 0)


def _conf(name, **sock):
    conf = small_run_conf(name, mode="sock_puppet", replicates=1)
    for key, value in {"puppets_per_cell": 4, "depth": 6, "warmup_steps": 5, **sock}.items():
        setattr(conf.audit.sock_puppet, key, value)
    validate(conf)
    return conf


def _run(conf):
    return run_sock_puppets(
        conf, make_recommender=lambda: make_recommender(conf.recommender), entropy=conf.seed
    )


def _snapshot(conf):
    return warm_up(conf, 0, conf.seed, make_recommender=lambda: make_recommender(conf.recommender))


def _platform(conf, snapshot, puppet=SEEDED):
    rng = np.random.default_rng(puppet.seed_sequence(conf.seed, 0).spawn(3)[0])
    return PuppetPlatform(
        snapshot, persona_population(conf.audit.sock_puppet.taste, snapshot, [rng])
    )


def _walk(conf, platform, puppet=SEEDED):
    _, walk_seq, rec_seq = puppet.seed_sequence(conf.seed, 0).spawn(3)
    return walk(
        platform,
        [puppet],
        conf.audit.sock_puppet,
        slate_size=conf.audit.slate_size,
        choice=conf.behavior.choice,
        rank_discount=conf.behavior.rank_discount,
        rngs=[np.random.default_rng(walk_seq)],
        recommender_rng=np.random.default_rng(rec_seq),
    )


def test_mixes_are_shares_by_depth_for_every_persona_and_start():
    result = _run(_conf("popularity"))
    assert {p for p, _ in result.rec_mix} == set(PERSONAS)
    for cell, mix in result.rec_mix.items():
        assert mix.shape == (1, 6, 5)
        np.testing.assert_allclose(mix.sum(axis=2), 1.0)
        assert result.pick_rank[cell].shape == result.slate_rank[cell].shape == (1, 6)
        assert result.shown[cell].shape == (1, 4, 6, 5)
    table = sock_table(result)
    assert "seeded" in table
    assert "pick rank" in table


@pytest.mark.parametrize("name", ["user_knn", "mf"])
def test_a_puppet_walks_the_same_alone_and_among_a_hundred_others(name):
    conf = _conf(name, depth=5)
    snapshot = _snapshot(conf)
    n_events = len(snapshot.model.log)
    target = Puppet("utility", "extreme", 0)
    crowd = [*plan_puppets(SockPuppetConf(puppets_per_cell=5)), target]  # 100 others and it
    assert len(crowd) == 101
    alone = walk_puppets(snapshot, [target], conf, conf.seed, 0)
    among = walk_puppets(snapshot, crowd, conf, conf.seed, 0).take(np.array([100]))
    for field in ("shown", "picked", "pick_rank"):
        np.testing.assert_array_equal(getattr(alone, field), getattr(among, field))
    np.testing.assert_array_equal(alone.slate_rank, among.slate_rank)
    assert alone.shown.sum() > 0
    assert len(snapshot.model.log) == n_events  # no walk changed the platform
    if name == "user_knn":
        # The old behaviour, kept as isolation=shared: the crowd's histories make them
        # each other's neighbours, so the same puppet is shown something else.
        conf.audit.sock_puppet.isolation = "shared"
        alone = walk_puppets(snapshot, [target], conf, conf.seed, 0)
        among = walk_puppets(snapshot, crowd, conf, conf.seed, 0).take(np.array([100]))
        assert not np.array_equal(alone.shown, among.shown)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_built_in_recommender_walks_isolated_puppets(name):
    conf = _conf(name, puppets_per_cell=1, depth=3, reset_history=name == "bandit")
    result = _run(conf)
    for cell, shown in result.shown.items():
        # a fresh account follows nobody: its following-only timeline is empty, and an
        # empty slate is never "picked" from, whatever the choice model
        assert (shown.sum() == 0) == (name == "chronological"), cell
        assert (result.picked_rank[cell] < 0).all() == (name == "chronological"), cell


def test_puppets_sit_outside_the_social_graph_and_every_community():
    conf = _conf("user_knn")
    snapshot = _snapshot(conf)
    n_users = conf.world.n_users
    assert snapshot.model.world.n_users == n_users  # the world holds the population only
    for puppet in (Puppet("top1", "mainstream", 0), Puppet("utility", "extreme", 3)):
        platform = _platform(conf, snapshot, puppet)
        # one puppet per copy: every puppet is the same fresh account, whatever its cell
        assert platform.accounts.tolist() == [n_users]
        data = platform.platform_data()
        assert data.n_users == n_users + 1
        assert data.social is not None
        assert data.social[n_users].nnz == 0
        assert data.social[:, n_users].nnz == 0
        assert data.follows[n_users].nnz == 0
        assert platform.personas.community.tolist() == [-1]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("personas", ["lurker"]),
        ("taste", "category:cats"),
        ("taste", "tastes"),
        ("taste", "random:extreme"),
        ("start", "middle"),
        ("choice", "softmax"),
        ("reset_history", "yes"),
        ("isolation", "private"),
    ],
)
def test_each_bad_field_is_one_config_error(field, value):
    conf = small_run_conf("popularity", mode="sock_puppet")
    setattr(conf.audit.sock_puppet, field, value)
    with pytest.raises(ConfigError, match=rf"audit\.sock_puppet\.{field}="):
        validate(conf)


def test_utility_persona_with_a_proportional_choice_model():
    conf = _conf("popularity", personas=["utility"], choice="proportional", taste="random")
    result = _run(conf)
    picked = np.concatenate([r.ravel() for r in result.picked_rank.values()])
    assert (picked >= 0).any()


def test_reset_history_empties_the_accounts_log():
    conf = _conf("item_knn", depth=2)
    snapshot = _snapshot(conf)
    sp_conf = conf.audit.sock_puppet
    for reset, before_walk in ((False, sp_conf.seed_length), (True, 0)):
        sp_conf.reset_history = reset
        platform = _platform(conf, snapshot)
        _walk(conf, platform)
        log = platform.log
        own = log.users == platform.accounts[0]
        assert int((own & (log.steps < snapshot.t)).sum()) == before_walk
        assert int((own & (log.steps >= snapshot.t)).sum()) <= sp_conf.depth


def test_favourite_start_watches_the_puppets_own_top_items():
    conf = _conf("popularity", start="favourite", depth=2)
    snapshot = _snapshot(conf)
    puppet = Puppet("seeded", "favourite", 0)
    platform = _platform(conf, snapshot, puppet)
    walks = _walk(conf, platform, puppet)
    log = platform.log
    seeds = log.items[(log.users == platform.accounts[0]) & (log.steps < snapshot.t)]
    n_visible = snapshot.model.catalog.n_visible(snapshot.t)
    own = platform.utility[0, :n_visible]
    top = np.argsort(-own)[: conf.audit.sock_puppet.seed_length]
    assert sorted(seeds.tolist()) == sorted(top.tolist())
    assert walks.pick_rank.min() >= 0  # seeded puppets always click the first slot


def test_category_taste_centres_the_puppet_on_the_category():
    conf = _conf("popularity")
    snapshot = _snapshot(conf)
    rngs = [np.random.default_rng(0)]
    extreme = persona_population("category:extreme", snapshot, rngs)
    mainstream = persona_population("category:mainstream", snapshot, rngs)
    assert extreme.x[0] >= 0.8 > 0.35 >= mainstream.x[0]
    np.testing.assert_allclose(np.linalg.norm(extreme.taste, axis=1), 1.0, rtol=1e-6)


def test_utility_ranks_lie_among_the_visible_items():
    result = _run(_conf("item_knn"))
    n_ranked = result.n_ranked[:, None, :]  # (replicate, puppet, depth)
    for cell, ranks in result.picked_rank.items():
        picked = ranks >= 0
        assert picked.any()
        assert (ranks[picked] < np.broadcast_to(n_ranked, ranks.shape)[picked]).all()
        slate = result.slate_rank[cell]
        assert ((slate >= 0) & (slate < result.n_ranked)).all()


def test_item_knn_follows_the_seed_category():
    # Isolated puppets find the seed category only through the population's histories
    # (shared puppets co-watching extreme seeds made those items similar to each other),
    # so the world needs an at-risk minority that co-consumes extreme items: with the
    # default 3% of 300 users the signal depends on the seed.
    conf = _conf("item_knn", puppets_per_cell=6, depth=3, warmup_steps=20, personas=["seeded"])
    conf.world.at_risk_fraction = 0.1
    result = _run(conf)
    extreme = CATEGORIES.index("extreme")
    from_extreme = result.rec_mix[("seeded", "extreme")][0, :, extreme].mean()
    from_mainstream = result.rec_mix[("seeded", "mainstream")][0, :, extreme].mean()
    assert from_extreme > from_mainstream + 0.2


def test_same_seed_same_walks():
    a, b = _run(_conf("item_knn")), _run(_conf("item_knn"))
    for key in a.rec_mix:
        np.testing.assert_array_equal(a.rec_mix[key], b.rec_mix[key])
        np.testing.assert_array_equal(a.picked_rank[key], b.picked_rank[key])


@pytest.mark.parametrize("reset", [False, True])
def test_sock_puppets_through_a_remote_service(reset):
    # each puppet walks in its own session, several at once: the same walks as in-process
    with stub_service("item_knn") as url:
        conf = _conf("item_knn", puppets_per_cell=2, reset_history=reset)
        remote = _conf("item_knn", puppets_per_cell=2, reset_history=reset)
        remote.recommender = RemoteRecommenderConf(url=url, timeout_s=10)
        a, b = _run(conf), _run(remote)
    for key in a.rec_mix:
        np.testing.assert_array_equal(a.rec_mix[key], b.rec_mix[key])
        np.testing.assert_array_equal(a.picked_rank[key], b.picked_rank[key])


def test_cli_prints_depth_table_and_logs_series(tmp_path):
    args = (
        "run",
        "audit.mode=sock_puppet",
        "recommender=popularity",
        "world=small",
        "audit.replicates=1",
        "audit.sock_puppet.depth=4",
        "audit.sock_puppet.puppets_per_cell=3",
        "seed=2",
    )
    proc = ampaudit(*args, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for persona in PERSONAS:
        assert persona in proc.stdout
    assert "d=1" in proc.stdout
    assert "pick rank" in proc.stdout
    client = local_client(tmp_path)
    runs = local_runs(tmp_path)
    child = next(r for r in runs if r.data.tags.get("arm") == "sock_puppet")
    history = client.get_metric_history(child.info.run_id, "sock.top1.extreme.rec_share.extreme")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    ranks = client.get_metric_history(child.info.run_id, "sock.top1.extreme.utility_rank.pick")
    assert sorted(m.step for m in ranks) == [0, 1, 2, 3]
    assert {r.info.status for r in runs} == {"FINISHED"}

    parent = next(r for r in runs if "arm" not in r.data.tags)
    assert parent.data.tags["command"].endswith("seed=2")
    assert "job_key" in parent.data.tags
    assert "job_key" not in child.data.tags
    again = ampaudit(*args, cwd=tmp_path, timeout=300)  # a finished audit is not redone
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Already finished")


def test_cli_runs_the_utility_persona_under_another_choice_model(tmp_path):
    proc = ampaudit(
        "run",
        "audit.mode=sock_puppet",
        "behavior.choice=proportional",
        "tracking=none",
        "audit.replicates=1",
        "audit.n_steps=5",
        "audit.sock_puppet.depth=3",
        "audit.sock_puppet.warmup_steps=3",
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "utility" in proc.stdout
