"""A platform's path from "my recommender" to "a panel report", as a platform walks it.

Services here are ``tests/plugins/stdlib_service.py``: written from the protocol's
OpenAPI document alone, with no ampaudit import, and without ``related``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ampaudit.recommenders.testing import running_service

from tests.helpers import ampaudit, local_runs, parent_run_id

PLUGINS = Path(__file__).parent / "plugins"
#: A quick audit: both arms, a few steps, and the walks in the same run.
QUICK = [
    "world=small",
    "audit.n_steps=3",
    "audit.replicates=1",
    "audit.progress=false",
    "audit.report=false",
    "audit.sock_puppet.depth=3",
    "audit.sock_puppet.warmup_steps=2",
    "audit.sock_puppet.puppets_per_cell=1",
    "seed=3",
]


def stdlib_service(name, version="1.0"):
    return running_service([sys.executable, str(PLUGINS / "stdlib_service.py"), name, version])


def test_a_service_written_from_the_spec_passes_the_checks_with_related_skipped():
    with stdlib_service("spec-only") as url:
        proc = ampaudit("check-recommender", url, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SKIP  check_related" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].endswith("0 failed, 1 skipped")


def _audit(url, cwd, mode):
    proc = ampaudit(
        "run", "recommender=remote", f"recommender.url={url}", f"audit.mode={mode}", *QUICK, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return parent_run_id(proc.stdout)


def _report(run_id, cwd):
    proc = ampaudit("report", run_id, "-o", "r.json", "--no-log", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads((cwd / "r.json").read_text())["audit"]


def test_two_services_in_one_experiment_each_report_their_own_evidence(tmp_path):
    with stdlib_service("alpha", "1.0") as url_a, stdlib_service("beta", "2.0") as url_b:
        compare_a = _audit(url_a, tmp_path, "compare")
        compare_b = _audit(url_b, tmp_path, "compare+sock_puppet")
        walks_a = _audit(url_a, tmp_path, "sock_puppet")  # the experiment's latest walks
    runs = {r.info.run_id: r for r in local_runs(tmp_path)}
    walks_b = runs[compare_b].data.tags["sock_puppet_run"]
    assert runs[walks_b].data.tags["companion_of"] == compare_b

    def children(parent):
        return sorted(
            run_id for run_id, r in runs.items() if r.data.tags.get("mlflow.parentRunId") == parent
        )

    for compare, walks, url, name, version in (
        (compare_a, walks_a, url_a, "alpha", "1.0"),  # found by identity
        (compare_b, walks_b, url_b, "beta", "2.0"),  # linked by the run itself
    ):
        audit = _report(compare, tmp_path)
        assert audit["system"] == f"service {name} {version} at {url}"
        assert audit["evidence"] == [
            {"what": "comparison", "run_id": compare, "runs": children(compare)},
            {"what": "sock-puppet walks", "run_id": walks, "runs": children(walks)},
        ]


@pytest.mark.parametrize("target", ["compare", "walks"])
def test_tags_name_the_service_audited(tmp_path, target):
    with stdlib_service("gamma", "0.9") as url:
        parent = _audit(url, tmp_path, "compare" if target == "compare" else "sock_puppet")
    tags = {r.info.run_id: r.data.tags for r in local_runs(tmp_path)}[parent]
    assert tags["system.kind"] == "remote"
    assert (tags["system.name"], tags["system.version"], tags["system.url"]) == (
        "gamma",
        "0.9",
        url,
    )
