"""Sweeps through a real Hydra launcher (joblib, 2 workers) and the tidy export."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import ampaudit, local_client, local_runs


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sweep")
    proc = ampaudit(
        "run",
        "--multirun",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "recommender=random,popularity",
        "interventions=[],[downrank]",
        "audit.replicates=2",
        "world=small",
        "audit.n_steps=5",
        "audit.progress=false",
        "seed=9",
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return cwd


def test_joblib_sweep_files_every_run_under_its_parent(swept):
    runs = local_runs(swept)
    parents = {r.info.run_id: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 4  # 2 recommenders x 2 intervention lists
    # arms: control + treatment (+ treatment+downrank), each x 2 replicates
    assert len(children) == 2 * (2 * 2) + 2 * (3 * 2)
    assert all(c.data.tags["mlflow.parentRunId"] in parents for c in children)
    assert {r.info.status for r in runs} == {"FINISHED"}
    points = {(p.data.tags["recommender"], p.data.tags["interventions"]) for p in parents.values()}
    assert points == {(r, i) for r in ("random", "popularity") for i in ("none", "downrank")}


def test_export_matches_what_mlflow_holds(swept, tmp_path):
    out = tmp_path / "export.parquet"
    proc = ampaudit(
        "export",
        "ampaudit",
        "-o",
        str(out),
        "--uri",
        f"sqlite:///{swept / 'mlflow.db'}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    keys = ["audit", "arm", "replicate", "metric", "step"]
    assert not table.duplicated(keys).any()  # one row per (job, metric, step)
    client = local_client(swept)
    exp = client.get_experiment_by_name("ampaudit")
    child = client.search_runs([exp.experiment_id], "tags.arm = 'treatment'", max_results=1)[0]
    parent = child.data.tags["mlflow.parentRunId"]
    history = sorted(
        client.get_metric_history(child.info.run_id, "cons_share.extreme"), key=lambda m: m.step
    )
    rows = table[
        (table.audit == parent)
        & (table.arm == "treatment")
        & (table.replicate == int(child.data.tags["replicate"]))
        & (table.metric == "cons_share.extreme")
    ].sort_values("step")
    assert rows["value"].tolist() == pytest.approx([m.value for m in history])


def test_export_of_a_missing_experiment_is_one_clear_error(tmp_path):
    proc = ampaudit(
        "export",
        "nope",
        "-o",
        str(tmp_path / "x.csv"),
        "--uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        timeout=300,
    )
    assert proc.returncode == 2
    assert "experiment 'nope' not found" in proc.stderr


def _sweep(cwd, *extra, launcher="basic"):
    return ampaudit(
        "run",
        "--multirun",
        f"hydra/launcher={launcher}",
        "recommender=random,popularity",
        "world=small",
        "audit.n_steps=5",
        "audit.replicates=2",
        "audit.progress=false",
        "seed=21",
        *extra,
        cwd=cwd,
        timeout=600,
    )


def _exported(cwd):
    """The sweep's tidy export, sorted, with audits identified by name."""
    out = cwd / "export.parquet"
    proc = ampaudit(
        "export", "ampaudit", "-o", out, "--uri", f"sqlite:///{cwd / 'mlflow.db'}", timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    table = table.assign(audit=table["audit_name"]).drop(columns=["audit_name"])
    keys = ["audit", "arm", "replicate", "metric", "step"]
    return table.sort_values(keys).reset_index(drop=True)


def _create_store(cwd):
    """Create the store and experiment before a run starts: polling a database that
    the run is still creating races MLflow's schema setup in two processes
    (REFERENCES, "SQLite races")."""
    from ampaudit.tracking import MlflowTracker

    MlflowTracker(f"sqlite:///{cwd / 'mlflow.db'}", "ampaudit")


def test_rerunning_a_sweep_skips_finished_audits(tmp_path):
    assert _sweep(tmp_path).returncode == 0
    before = len(local_runs(tmp_path))
    again = _sweep(tmp_path)
    assert again.returncode == 0
    assert again.stdout.count("Already finished") == 2
    assert len(local_runs(tmp_path)) == before
    forced = _sweep(tmp_path, "tracking.skip_finished=false")
    assert forced.returncode == 0
    assert len(local_runs(tmp_path)) == 2 * before


def test_same_sweep_gives_identical_metrics_under_basic_joblib_and_submitit(tmp_path):
    tables = {}
    for launcher in ("basic", "joblib", "submitit_local"):
        cwd = tmp_path / launcher
        cwd.mkdir()
        assert _sweep(cwd, launcher=launcher).returncode == 0
        tables[launcher] = _exported(cwd)
    pd.testing.assert_frame_equal(tables["basic"], tables["joblib"])
    pd.testing.assert_frame_equal(tables["basic"], tables["submitit_local"])


def test_a_terminated_audit_ends_killed_not_running(tmp_path):
    import signal
    import time

    _create_store(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ampaudit.cli",
            "run",
            "world.n_users=3000",
            "audit.n_steps=400",
            "audit.replicates=1",
            "audit.progress=false",
            "seed=5",
            "recommender=popularity",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the audit has opened its runs
        if len(local_runs(tmp_path)) >= 2:
            break
        assert proc.poll() is None, "the audit ended before it could be stopped"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    statuses = {r.info.status for r in local_runs(tmp_path)}
    assert "RUNNING" not in statuses
    assert "KILLED" in statuses


def test_ray_launcher_gives_the_same_metrics_as_basic(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="install the ray extra")
    tables = {}
    for launcher, extra in (("basic", ()), ("ray", ("+hydra.launcher.ray.init.num_cpus=2",))):
        cwd = tmp_path / launcher
        cwd.mkdir()
        proc = _sweep(cwd, *extra, launcher=launcher)
        assert proc.returncode == 0, proc.stderr[-2000:]
        tables[launcher] = _exported(cwd)
    pd.testing.assert_frame_equal(tables["basic"], tables["ray"])


def test_killing_a_sweep_then_rerunning_completes_only_the_missing_audits(tmp_path):
    import signal
    import time

    args = [
        sys.executable,
        "-m",
        "ampaudit.cli",
        "run",
        "--multirun",
        "recommender=random,popularity",
        "world.n_users=2000",
        "audit.n_steps=150",
        "audit.replicates=1",
        "audit.progress=false",
        "seed=8",
    ]
    _create_store(tmp_path)
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stop once the first audit is done, mid-second
        runs = local_runs(tmp_path)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        if any(p.info.status == "FINISHED" for p in parents) and len(parents) == 2:
            break
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    parents = [r for r in local_runs(tmp_path) if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED"]
    rerun = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.count("Already finished") == 1
    parents = [r for r in local_runs(tmp_path) if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(p.info.status for p in parents) == ["FINISHED", "FINISHED", "KILLED"]
    assert "RUNNING" not in {r.info.status for r in local_runs(tmp_path)}
