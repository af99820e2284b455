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


# -- encodings: content negotiation, the JSON fallback, hostile answers in either ----


@contextlib.contextmanager
def _tampering_service(tamper):
    """The reference service in this process, its recommend answers passed through
    ``tamper(body, accepts_arrays) -> (media type, bytes) or None`` (None: as usual)."""
    import threading

    from ampaudit.recommenders import PopularityRecommender
    from ampaudit.recommenders.protocol import accepts_arrays
    from ampaudit.recommenders.stub_server import RecommenderService, make_server

    server = make_server(RecommenderService(PopularityRecommender(), "tampered"), port=0)

    class Handler(server.RequestHandlerClass):
        def _send(self, status, body):
            out = None
            if self.path == "/v1/recommend" and status == 200:
                out = tamper(body, accepts_arrays(self.headers.get("Accept")))
            if out is None:
                super()._send(status, body)
                return
            media, raw = out
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _recommend_through(url, *, accept_arrays=True, max_response_mb=64.0):
    import numpy as np
    from ampaudit.recommenders.testing import toy_platform

    rec = RemoteRecommender(url=url, timeout_s=10, retries=0, max_response_mb=max_response_mb)
    rec.accept_arrays = accept_arrays
    rec.fit(toy_platform(n_users=6, n_items=10))
    return rec.recommend(np.arange(6), 4, rng=np.random.default_rng(1))


@pytest.mark.parametrize("accept_arrays", [True, False], ids=["arrays", "json"])
def test_both_encodings_give_the_in_process_answer(accept_arrays):
    import numpy as np
    from ampaudit.recommenders import PopularityRecommender
    from ampaudit.recommenders.testing import toy_platform

    offered = []
    with _tampering_service(lambda body, arrays: offered.append(arrays)) as url:
        items, scores = _recommend_through(url, accept_arrays=accept_arrays)
    assert offered == [accept_arrays]  # the service saw what the adapter accepts
    local = PopularityRecommender().fit(toy_platform(n_users=6, n_items=10))
    want_items, want_scores = local.recommend(np.arange(6), 4, rng=np.random.default_rng(1))
    assert np.array_equal(items, want_items)
    assert items.dtype == np.int64
    assert scores.dtype == np.float32
    assert scores.tobytes() == want_scores.tobytes()  # -inf padding included


def test_a_json_only_service_is_answered_in_json(tmp_path):
    """A service written from the spec that ignores Accept: the adapter reads its JSON."""
    service = [sys.executable, str(PLUGINS / "stdlib_service.py")]
    with running_service(service) as url:
        assert RemoteRecommender.accept_arrays
        items, scores = _recommend_through(url)
        results = check_recommender(RemoteRecommender(url=url))
    assert items.shape == scores.shape == (6, 4)
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def _binary(body, *, items=None, scores=None, shape=None, **header):
    from ampaudit.recommenders.protocol import arrays_to_bytes

    head = {k: v for k, v in body.items() if k not in ("items", "scores")}
    raw = arrays_to_bytes(
        {**head, **header},
        body["items"] if items is None else items,
        body["scores"] if scores is None else scores,
    )
    if shape is not None:  # a header claiming another shape, bytes unchanged
        import json

        size = int.from_bytes(raw[4:8], "little")
        head = json.loads(raw[8 : 8 + size])
        new = json.dumps({**head, "shape": shape}).encode()
        new += b" " * (-(len(new) + 8) % 8)
        raw = b"AMPA" + len(new).to_bytes(4, "little") + new + raw[8 + size :]
    return "application/x-ampaudit-arrays", raw


def _json(body, **changes):
    import json

    plain = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in body.items()}
    return "application/json", json.dumps({**plain, **changes}, allow_nan=True).encode()


def _nan_scores(body):
    scores = body["scores"].copy()
    scores[0, 0] = float("nan")
    return scores


def _repeat_first(body):
    items = body["items"].copy()
    items[0, 1] = items[0, 0]
    return items


#: Hostile recommend answers -> what the one-line RemoteRecommenderError must say.
HOSTILE_ANSWERS = {
    "arrays_truncated": (
        lambda b, a: (lambda m, r: (m, r[:-3]))(*_binary(b)),
        "sent an invalid application/x-ampaudit-arrays answer for /v1/recommend: it holds",
    ),
    "arrays_bad_magic": (lambda b, a: (_binary(b)[0], b"PK\x03\x04" + _binary(b)[1][4:]), "AMPA"),
    "arrays_too_few_rows": (
        lambda b, a: _binary(b, items=b["items"][:-1], scores=b["scores"][:-1]),
        "sent items of shape (5, 4) (expected 6 lists of 4)",
    ),
    "arrays_shape_lies": (lambda b, a: _binary(b, shape=[4, 6]), "sent items of shape (4, 6)"),
    "arrays_out_of_range": (
        lambda b, a: _binary(b, items=b["items"] + 100),
        "sent item ids outside -1..9",
    ),
    "arrays_negative_ids": (
        lambda b, a: _binary(b, items=b["items"] * 0 - 2**31),
        "sent item ids outside -1..9: [-2147483648]",
    ),
    "arrays_repeat": (
        lambda b, a: _binary(b, items=_repeat_first(b)),
        "sent an item twice in one list",
    ),
    "arrays_nan": (lambda b, a: _binary(b, scores=_nan_scores(b)), "sent NaN scores"),
    "arrays_replay": (
        lambda b, a: _binary(b, seq=b["seq"] - 1),
        "with the answer to another request",
    ),
    "arrays_no_rng_state": (
        lambda b, a: _binary(b, rng_state=None),
        "sent an invalid generator state",
    ),
    "arrays_huge": (lambda b, a: _binary(b, padding="x" * 2**21), "sent more than 1 MB"),
    "arrays_not_asked": (
        lambda b, a: None if a else _binary(b),
        "which the request did not accept",
    ),
    "json_nan_literal": (lambda b, a: _json(b, scores=[[float("nan")] * 4] * 6), "sent NaN scores"),
    "json_bool_ids": (
        lambda b, a: _json(b, items=[[True, 1, 2, 3]] * 6),
        "sent non-integer item ids",
    ),
    "json_float_ids": (
        lambda b, a: _json(b, items=[[0.0, 1, 2, 3]] * 6),
        "sent non-integer item ids",
    ),
    "json_int64_overflow": (
        lambda b, a: _json(b, items=[[2**63 + 1, 1, 2, 3]] * 6),
        "sent item ids outside -1..9: [9223372036854775809]",
    ),
    "json_ragged": (lambda b, a: _json(b, items=[[0, 1, 2]] * 6), "sent items of the wrong shape"),
    "json_string_scores": (
        lambda b, a: _json(b, scores=[["1", 0, 0, 0]] * 6),
        "sent non-numeric scores",
    ),
    "json_score_beyond_float": (
        lambda b, a: _json(b, scores=[[10**400, 0, 0, 0]] * 6),
        "sent scores beyond the float range",
    ),
}


@pytest.mark.parametrize(
    ("tamper", "expected"), HOSTILE_ANSWERS.values(), ids=list(HOSTILE_ANSWERS)
)
def test_a_hostile_answer_in_either_encoding_is_one_clear_error(tamper, expected):
    from ampaudit.recommenders import RemoteRecommenderError

    # every case but one asks for arrays (a JSON-only adapter still gets JSON cases right)
    accept_arrays = "did not accept" not in expected
    with (
        _tampering_service(tamper) as url,
        pytest.raises(RemoteRecommenderError) as info,
    ):
        _recommend_through(url, accept_arrays=accept_arrays, max_response_mb=1)
    message = str(info.value)
    assert message.startswith(f"remote recommender at {url} ")
    assert expected in message
    assert "\n" not in message


def test_json_infinity_padding_is_read():
    """Python services (and the reference one) write -inf padding as ``-Infinity``."""
    import numpy as np

    def padded(body, arrays):
        scores = body["scores"].astype(float)
        scores[:, -1] = -np.inf
        items = body["items"].copy()
        items[:, -1] = -1
        return _json(body, items=items.tolist(), scores=scores.tolist())

    with _tampering_service(padded) as url:
        items, scores = _recommend_through(url)
    assert (items[:, -1] == -1).all()
    assert np.isneginf(scores[:, -1]).all()


def test_arrays_the_layout_cannot_hold_are_answered_in_json():
    """A recommender's malformed output reaches the adapter (as JSON) and is named."""
    import threading

    from ampaudit.recommenders import PopularityRecommender, RemoteRecommenderError
    from ampaudit.recommenders.stub_server import RecommenderService, make_server

    class Ragged(PopularityRecommender):
        def recommend(self, users, n, *, rng):
            items, scores = super().recommend(users, n, rng=rng)
            return items, scores[:, :-1]

    server = make_server(RecommenderService(Ragged(), "ragged"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RemoteRecommenderError, match="sent scores of the wrong shape"):
            _recommend_through(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
