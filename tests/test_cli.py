"""The ``ampaudit`` command line, run as a real subprocess (Hydra and MLflow included)."""

from __future__ import annotations

import pytest

from ampaudit.config import AuditSection
from tests.helpers import ampaudit, local_client, local_runs


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("world.n_users=-5", ["world.n_users=-5", "expected a number >= 10"]),
        ("world.n_users=lots", ["world.n_users=lots", "could not be converted to Integer"]),
        ("recommender=oracle9", ["recommender/oracle9", "Available options", "popularity"]),
        ("audit.control=magic", ["audit.control='magic'", "one of none"]),
    ],
)
def test_bad_config_fails_fast_with_one_clear_message(tmp_path, override, expected):
    proc = ampaudit("run", override, cwd=tmp_path)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()  # nothing created before validation


def test_overrides_run_an_audit_and_log_it(tmp_path):
    proc = ampaudit(
        "run",
        "recommender=popularity",
        "audit.replicates=2",
        "world.n_users=1000",
        "audit.n_steps=8",
        "audit.progress=false",
        "seed=7",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "treatment (popularity)" in proc.stdout
    assert "control (chronological)" in proc.stdout
    runs = local_runs(tmp_path)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    assert len(runs) == 1 + 2 * 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert parents[0].data.params["world.n_users"] == "1000"
    # the panel report of the finished audit: in the job's folder and the parent run
    reports = list((tmp_path / "outputs").glob("*/*/report.html"))
    assert len(reports) == 1
    assert f"Panel report: {reports[0]}" in proc.stdout
    client = local_client(tmp_path)
    assert "report.html" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}


def test_help_lists_commands(tmp_path):
    proc = ampaudit("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "run" in proc.stdout
    assert "ui" in proc.stdout
    assert ampaudit("bogus", cwd=tmp_path).returncode == 2


@pytest.mark.slow
def test_default_audit_end_to_end(tmp_path):
    proc = ampaudit("run", "seed=11", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "treatment (mf)" in proc.stdout
    assert "amplification" in proc.stdout
    runs = local_runs(tmp_path)
    assert len(runs) == 1 + 2 * AuditSection().replicates  # the parent, two arms per replicate
    assert {r.info.status for r in runs} == {"FINISHED"}
