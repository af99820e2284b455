"""MLflow logging, read back from a real (temporary) SQLite store."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import PopularityRecommender
from mlflow.tracking import MlflowClient

from ampaudit.audit import run_audit
from ampaudit.tracking import MlflowTracker, flatten

from .conftest import small_run_conf


@pytest.fixture
def tracker(tmp_path):
    return MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "test-audit")


def _runs(tracker):
    client = MlflowClient(tracking_uri=tracker.uri)
    return client, client.search_runs([tracker.experiment_id], max_results=100)


def test_parent_and_children_are_logged_and_finished(tracker):
    conf = small_run_conf("popularity", n_steps=7, replicates=2)
    result = run_audit(
        conf, tracker=tracker, params={"world.n_users": "300"}, config_yaml="seed: 1234\n"
    )
    client, runs = _runs(tracker)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    assert len(children) == 4
    assert parents[0].info.run_id == result.parent_run_id
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {(c.data.tags["arm"], c.data.tags["replicate"]) for c in children} == {
        ("control", "0"),
        ("control", "1"),
        ("treatment", "0"),
        ("treatment", "1"),
    }
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == result.parent_run_id
        assert child.data.tags["seed_entropy"] == "1234"
        assert child.data.params["world.n_users"] == "300"
        history = client.get_metric_history(child.info.run_id, "rec_share.extreme")
        assert sorted(m.step for m in history) == list(range(7))
        mine = next(r for r in result.runs if r.run_id == child.info.run_id)
        np.testing.assert_allclose(
            [m.value for m in sorted(history, key=lambda m: m.step)],
            mine.series["rec_share.extreme"],
        )
        assert child.data.metrics["final.drift"] == pytest.approx(mine.final["drift"])
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"config.yaml", "metrics.parquet"} <= artifacts


class Exploding(PopularityRecommender):
    def recommend(self, users, n, *, rng):
        if self.data_.step >= 3:
            raise RuntimeError("boom")
        return super().recommend(users, n, rng=rng)


def test_a_crash_marks_runs_failed_not_running(tracker, monkeypatch):
    import ampaudit.audit as audit

    monkeypatch.setattr(audit, "make_recommender", lambda spec: Exploding())
    with pytest.raises(RuntimeError, match="boom"):
        run_audit(small_run_conf("popularity"), tracker=tracker)
    _, runs = _runs(tracker)
    assert runs
    assert {r.info.status for r in runs} == {"FAILED"}


def test_flatten_nested_config():
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2]}) == {"a.b.c": "1", "d": "[1, 2]"}


def test_a_run_whose_params_fail_is_not_left_running(tracker, monkeypatch):
    calls = {"n": 0}
    real = tracker.client.log_batch

    def flaky(run_id, **kwargs):
        if kwargs.get("params"):
            calls["n"] += 1
            if calls["n"] == 2:  # the first child's params
                raise RuntimeError("database is locked")
        return real(run_id, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", flaky)
    with pytest.raises(RuntimeError, match="locked"):
        run_audit(small_run_conf("popularity"), tracker=tracker, params={"a": "1"})
    _, runs = _runs(tracker)
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FAILED"}


def test_a_stop_landing_inside_create_run_leaves_no_run_running(tracker, monkeypatch):
    """SIGTERM after the run's row is written but before its id is recorded (CI saw this)."""
    import signal

    from ampaudit.app import _terminate_as_interrupt

    real = tracker.client.create_run
    calls = {"n": 0}

    def stopped_midway(*args, **kwargs):
        run = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # the first child: the row exists, the caller has not seen it
            signal.raise_signal(signal.SIGTERM)
        return run

    monkeypatch.setattr(tracker.client, "create_run", stopped_midway)
    previous = signal.getsignal(signal.SIGTERM)
    _terminate_as_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_audit(small_run_conf("popularity"), tracker=tracker)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _, runs = _runs(tracker)
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"KILLED"}
    assert tracker.open_runs == []


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (KeyboardInterrupt(), "KILLED", "interrupted (Ctrl-C)"),
        (KeyboardInterrupt("signal 15"), "KILLED", "interrupted (signal 15)"),
        (
            RuntimeError("database is locked\nTraceback ..."),
            "FAILED",
            "RuntimeError: database is locked",
        ),
        (RuntimeError("x" * 10_000), "FAILED", "RuntimeError: " + "x" * 485 + "…"),
    ],
)
def test_runs_ended_after_an_error_say_why(tracker, exc, status, reason):
    parent = tracker.start_parent("audit", {}, {})
    tracker.start_child(parent, "control-0", {}, {})
    tracker.end_after_error(exc)
    _, runs = _runs(tracker)
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {status}
    assert {r.data.tags.get("error") for r in runs} == {reason}


def test_a_reason_that_cannot_be_recorded_still_ends_the_runs(tracker, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    tracker.start_parent("audit", {}, {})
    monkeypatch.setattr(tracker.client, "set_tag", broken)
    tracker.end_after_error(ValueError("boom"))
    _, runs = _runs(tracker)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert tracker.open_runs == []
