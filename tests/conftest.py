"""Shared fixtures: small worlds and configs that run in well under a second."""

from __future__ import annotations

import logging
import os
import textwrap

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


@pytest.fixture
def installed_plugin(tmp_path):
    """A package with an ``ampaudit.recommenders`` entry point, found on PYTHONPATH."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text(
        textwrap.dedent('''
        from ampaudit.recommenders import PopularityRecommender

        class FreshPopularity(PopularityRecommender):
            """Popularity over a short window."""

            def __init__(self, *, window=3, retrain_every=1, exclude_consumed=True,
                         chunk_bytes=64 * 2**20):
                super().__init__(window=window, retrain_every=retrain_every,
                                 exclude_consumed=exclude_consumed, chunk_bytes=chunk_bytes)
    ''')
    )
    dist = tmp_path / "mypkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ampaudit.recommenders]\nfreshpop = mypkg:FreshPopularity\n"
    )
    return tmp_path


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium for report tests: skipped locally without one, failed in CI."""
    from ampaudit.report.browser import find_chromium

    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return found
