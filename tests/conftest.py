"""Shared fixtures: small worlds and configs that run in well under a second."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from ampaudit.recommenders import CONFS
from ampaudit.simulations import BehaviorConf, GraphConf, WorldConf, build_world

from ampaudit.config import AuditSection, RunConf, TrackingConf

logging.getLogger("MESA").setLevel(logging.WARNING)


def small_world_conf(**overrides) -> WorldConf:
    base = {
        "n_users": 300,
        "n_items": 200,
        "new_items_per_step": 5,
        "n_creators": 30,
        "n_dims": 8,
        "activity_mean": 0.3,
    }
    base.update(overrides)
    return WorldConf(**base)


def small_run_conf(recommender: str = "popularity", **audit) -> RunConf:
    settings = {"n_steps": 12, "replicates": 2, "progress": False}
    settings.update(audit)
    return RunConf(
        world=small_world_conf(),
        graph=GraphConf(),
        behavior=BehaviorConf(),
        recommender=CONFS[recommender](),
        audit=AuditSection(**settings),
        tracking=TrackingConf(enabled=False),
        seed=1234,
    )


@pytest.fixture
def small_world():
    return build_world(small_world_conf(), GraphConf(), n_steps=20, rng=np.random.default_rng(7))


@pytest.fixture(scope="session")
def audited(tmp_path_factory):
    """``(folder, parent run id)`` of a real audit run through the CLI into a local store."""
    from tests.helpers import AUDIT, ampaudit, parent_run_id

    cwd = tmp_path_factory.mktemp("audit")
    proc = ampaudit("run", *AUDIT, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, parent_run_id(proc.stdout)
