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


#: A third-party intervention package, written outside the tree: one declared
#: restrictive action of its own name ("hidden"), and one it forgets to declare.
INTERVENTION_PLUGIN = '''
import numpy as np


class HideLowScoreIntervention:
    """Hide candidates the classifier scores below ``threshold`` (a badly aimed policy)."""

    name = ""
    actions = {"hidden": "restrictive"}

    def __init__(self, *, threshold=0.3):
        self.threshold = threshold

    def check_params(self):
        pass

    def reset(self, view, rng):
        self.rng = rng

    def on_candidates(self, view, users, items, scores):
        hide = (items >= 0) & (view.catalog.score[np.maximum(items, 0)] < self.threshold)
        view.record_action(self.name, "hidden", items[hide])
        return np.where(hide, -1, items), np.where(hide, -np.inf, scores)


class ForgetfulIntervention(HideLowScoreIntervention):
    """Records an action it does not declare."""

    def on_candidates(self, view, users, items, scores):
        view.record_action(self.name, "zapped", items[:, :1])
'''


@pytest.fixture
def installed_intervention(tmp_path):
    """A package with an ``ampaudit.interventions`` entry point, on ``sys.path`` meanwhile."""
    import sys

    (tmp_path / "ivpkg").mkdir()
    (tmp_path / "ivpkg" / "__init__.py").write_text(INTERVENTION_PLUGIN)
    dist = tmp_path / "ivpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ivpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ampaudit.interventions]\nhide_low = ivpkg:HideLowScoreIntervention\n"
        "forgetful = ivpkg:ForgetfulIntervention\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ivpkg", None)
        from hydra.core.config_store import ConfigStore

        stored = ConfigStore.instance().repo.get("interventions", {})
        for name in ("hide_low", "forgetful"):  # register_configs() stored them
            stored.pop(f"{name}.yaml", None)


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
