"""Sock-puppet audits: scripted accounts walking a recommender."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import RemoteRecommenderConf
from ampaudit.recommenders.testing import stub_service

from ampaudit.config import make_recommender, validate
from ampaudit.core.errors import ConfigError
from ampaudit.sockpuppet import PERSONAS, run_sock_puppets, sock_table
from tests.helpers import ampaudit, local_client, local_runs

from .conftest import small_run_conf


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


def test_mixes_are_shares_by_depth_for_every_persona_and_start():
    result = _run(_conf("popularity"))
    assert {p for p, _ in result.rec_mix} == set(PERSONAS)
    for mix in result.rec_mix.values():
        assert mix.shape == (1, 6, 5)
        np.testing.assert_allclose(mix.sum(axis=2), 1.0)
    assert "seeded" in sock_table(result)


def test_item_knn_follows_the_seed_category():
    result = _run(_conf("item_knn", puppets_per_cell=6, depth=3))
    extreme_from_extreme = result.rec_mix[("seeded", "extreme")][0, 0, 4]
    extreme_from_mainstream = result.rec_mix[("seeded", "mainstream")][0, 0, 4]
    assert extreme_from_extreme > extreme_from_mainstream


def test_same_seed_same_walks():
    a, b = _run(_conf("item_knn")), _run(_conf("item_knn"))
    for key in a.rec_mix:
        np.testing.assert_array_equal(a.rec_mix[key], b.rec_mix[key])


def test_bad_persona_is_a_config_error():
    conf = small_run_conf("popularity", mode="sock_puppet")
    conf.audit.sock_puppet.personas = ["lurker"]
    with pytest.raises(ConfigError, match=r"audit\.sock_puppet\.personas"):
        validate(conf)


def test_sock_puppets_through_a_remote_service():
    with stub_service("item_knn") as url:
        conf = _conf("item_knn")
        remote = _conf("item_knn")
        remote.recommender = RemoteRecommenderConf(url=url, timeout_s=10)
        a, b = _run(conf), _run(remote)
    for key in a.rec_mix:
        np.testing.assert_array_equal(a.rec_mix[key], b.rec_mix[key])


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
    client = local_client(tmp_path)
    runs = local_runs(tmp_path)
    child = next(r for r in runs if r.data.tags.get("arm") == "sock_puppet")
    history = client.get_metric_history(child.info.run_id, "sock.top1.extreme.rec_share.extreme")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    assert {r.info.status for r in runs} == {"FINISHED"}

    parent = next(r for r in runs if "arm" not in r.data.tags)
    assert parent.data.tags["command"].endswith("seed=2")
    assert "job_key" in parent.data.tags
    assert "job_key" not in child.data.tags
    again = ampaudit(*args, cwd=tmp_path, timeout=300)  # a finished audit is not redone
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Already finished")
