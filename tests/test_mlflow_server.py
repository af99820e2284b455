"""Logging to a real ``mlflow server`` on 127.0.0.1, read back with MlflowClient."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ampaudit, audit_parents


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            (root / "artifacts").as_uri(),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a new database takes 15-20 s here
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not become healthy in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_a_sweep_logs_to_a_real_mlflow_server(server, tmp_path):
    proc = ampaudit(
        "run",
        "--multirun",
        f"tracking.uri={server}",
        "tracking.experiment=team",
        "recommender=random,popularity",
        "world=small",
        "audit.n_steps=4",
        "audit.replicates=1",
        "audit.progress=false",
        "seed=3",
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists()  # nothing stranded locally
    client = MlflowClient(tracking_uri=server)
    exp = client.get_experiment_by_name("team")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = audit_parents(runs)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2
    # the sweep's comparison report went to the server too, on the sweep's own run
    [sweep] = [r for r in runs if r.data.tags.get("mode") == "sweep"]
    assert "report.html" in {a.path for a in client.list_artifacts(sweep.info.run_id)}
    assert len(children) == 4
    assert {r.info.status for r in runs} == {"FINISHED"}
    child = children[0]
    assert child.data.params["world.n_users"] == "500"
    history = client.get_metric_history(child.info.run_id, "rec_share.extreme")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert "metrics.parquet" in artifacts


def test_report_of_an_experiment_on_the_server(server, tmp_path):

    run = ampaudit(
        "run",
        f"tracking.uri={server}",
        "tracking.experiment=panel",
        "world=small",
        "audit.n_steps=4",
        "audit.replicates=2",
        "audit.progress=false",
        "interventions=[downrank]",
        "seed=4",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = tmp_path / "report.html"
    proc = ampaudit("report", "panel", "-o", out, "--uri", server, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mf+downrank" in out.read_text()
    client = MlflowClient(tracking_uri=server)
    exp = client.get_experiment_by_name("panel")
    parent = next(
        r
        for r in client.search_runs([exp.experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    )
    # the page went to the server's artifact store, not a local folder
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert not (tmp_path / "mlflow.db").exists()
