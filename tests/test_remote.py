"""Black-box audits over HTTP: a real service process on loopback, and hostile ones."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from ampaudit.recommenders import CONFS, RemoteRecommender, RemoteRecommenderConf
from ampaudit.recommenders.testing import running_service, stub_service

from ampaudit.audit import run_audit
from ampaudit.checks import check_recommender
from ampaudit.config import validate
from tests.helpers import ampaudit, local_runs

from .conftest import small_run_conf

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def stub():
    with contextlib.ExitStack() as services:
        yield lambda name: services.enter_context(stub_service(name))


@pytest.mark.parametrize("name", ["popularity", "random", "bandit"])
def test_remote_audit_is_identical_to_in_process(stub, name):
    url = stub(name)
    local = small_run_conf(name)
    remote = small_run_conf(name)
    remote.recommender = RemoteRecommenderConf(url=url, timeout_s=10)
    validate(remote)
    a, b = run_audit(local), run_audit(remote)
    assert [r.final for r in a.runs] == [r.final for r in b.runs]


def test_conformance_suite_over_http(stub):
    results = check_recommender(RemoteRecommender(url=stub("item_knn")))
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def test_related_over_http(stub):
    from ampaudit.recommenders.testing import toy_platform

    rec = RemoteRecommender(url=stub("item_knn")).fit(toy_platform(n_users=6, n_items=10))
    related = rec.related([0, 1], 3)
    assert related.shape == (2, 3)


def _remote_audit(url, cwd, *extra):
    return ampaudit(
        "run",
        "recommender=remote",
        f"recommender.url={url}",
        "recommender.timeout_s=1",
        "recommender.retries=1",
        "world=small",
        "audit.n_steps=3",
        "audit.replicates=1",
        "audit.progress=false",
        "audit.report=false",
        *extra,
        cwd=cwd,
        timeout=120,
    )


def _hostile(mode):
    return running_service([sys.executable, str(PLUGINS / "hostile_service.py"), mode])


#: The hostile-service matrix: mode -> what the one-line error must say.
HOSTILE = {
    "garbage": "sent invalid JSON for /v1/recommend",
    "out_of_range": "sent item ids outside",
    "nan": "sent NaN scores",
    "slow": "did not answer /v1/recommend after 2 attempts (timeout 1 s each)",
    "http500": "last: HTTP 500: model server overloaded",
    "huge": "sent more than 1 MB",
    "drop": "did not answer /v1/recommend after 2 attempts",
    "replay": "with the answer to another request",
    "rng_numbers": "rng_state.state.state must be a decimal string",
    "double_apply": "it applied a request twice or missed one",
}


@pytest.mark.parametrize(("mode", "expected"), HOSTILE.items(), ids=list(HOSTILE))
def test_a_hostile_service_fails_the_run_with_one_clear_message(tmp_path, mode, expected):
    with _hostile(mode) as url:
        run = _remote_audit(url, tmp_path, "recommender.max_response_mb=1")
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]], run.stderr  # one line
    assert errors[0].startswith(f"ampaudit: error: remote recommender at {url} ")
    assert expected in errors[0]
    assert "Traceback" not in run.stderr
    runs = local_runs(tmp_path)
    assert runs
    assert {r.info.status for r in runs} == {"FAILED"}
    reason = "RemoteRecommenderError: " + errors[0].removeprefix("ampaudit: error: ")
    assert {r.data.tags.get("error") for r in runs} == {reason}


def test_a_resent_observe_is_answered_not_applied_twice(tmp_path):
    """A conforming service answers the resend after a timeout from its memory."""
    with _hostile("slow_once") as url:
        run = _remote_audit(url, tmp_path, "seed=5", "tracking=none")
    assert run.returncode == 0, run.stderr
    local = ampaudit(
        "run",
        "recommender=popularity",
        "world=small",
        "audit.n_steps=3",
        "audit.replicates=1",
        "audit.progress=false",
        "seed=5",
        "tracking=none",
        cwd=tmp_path,
    )

    def treatment_row(out):
        return next(line for line in out.splitlines() if line.startswith("treatment")).split()[2:]

    assert treatment_row(run.stdout) == treatment_row(local.stdout)


def test_an_incompatible_protocol_is_refused_before_any_run(tmp_path):
    with _hostile("old_protocol") as url:
        run = _remote_audit(url, tmp_path)
    assert run.returncode == 2
    assert "speaks protocol 'ampaudit-recommender/1'; this ampaudit needs" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_unreachable_service_fails_before_any_run(tmp_path):
    run = ampaudit(
        "run",
        "recommender=remote",
        "recommender.url=http://127.0.0.1:9",
        "recommender.timeout_s=1",
        "recommender.retries=0",
        "world=small",
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 2
    assert "did not answer /v1/health after 1 attempts" in run.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_remote_conf_is_registered():
    assert CONFS["remote"] is RemoteRecommenderConf


def test_a_service_that_does_not_print_its_url_is_a_clear_error():
    with (
        pytest.raises(RuntimeError, match="service did not start: 'no port free"),
        running_service([sys.executable, "-c", "print('no port free')"]),
    ):
        pass


def test_two_sweep_workers_audit_one_service_at_once(tmp_path, stub):
    """joblib runs two audits in parallel against one service: sessions keep them apart."""
    url = stub("popularity")

    def sweep(cwd, *recommender):
        cwd.mkdir()
        proc = ampaudit(
            "run",
            "--multirun",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            *recommender,
            "seed=1,2",
            "world=small",
            "audit.n_steps=4",
            "audit.replicates=1",
            "audit.progress=false",
            "audit.report=false",
            cwd=cwd,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        children = [r for r in local_runs(cwd) if "arm" in r.data.tags]
        return {
            (r.data.tags["seed_entropy"], r.data.tags["arm"]): {
                k: v for k, v in r.data.metrics.items() if k.startswith("final.")
            }
            for r in children
        }

    remote = sweep(tmp_path / "remote", "recommender=remote", f"recommender.url={url}")
    local = sweep(tmp_path / "local", "recommender=popularity")
    assert len(remote) == 4
    assert remote == local
