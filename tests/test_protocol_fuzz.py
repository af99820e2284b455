"""The reference service and the adapter, fuzzed against ``openapi.yaml``.

Schemathesis sends every operation requests generated from the spec (valid and
invalid) and checks the answers against it; Hypothesis feeds the adapter answers
generated from the spec's response schemas, conforming or not. Everything stays on
127.0.0.1, runs a fixed number of examples, and is derandomized.
"""

from __future__ import annotations

import http.client
import json
import math
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ampaudit.recommenders
import numpy as np
import pytest
import schemathesis
from ampaudit.recommenders import RemoteRecommender, RemoteRecommenderError
from ampaudit.recommenders.protocol import (
    SyncState,
    rng_state_from_json,
    rng_state_to_json,
    sync_payload,
)
from ampaudit.recommenders.testing import stub_service, toy_platform
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from openapi_schema_validator import OAS30Validator
from schemathesis import GenerationMode

from ampaudit.core.platform import StepBatch
from ampaudit.core.ranking import has_repeats
from tests.helpers import SPEC, inline_refs

SPEC_PATH = Path(ampaudit.recommenders.__file__).parent / "openapi.yaml"
#: Examples per operation and mode: enough to reach every branch of validation on this
#: two-core machine in seconds, and fixed, so a failure reproduces.
MAX_EXAMPLES = 20
CONFIG = schemathesis.Config.from_dict(
    {"seed": 1729, "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True}}
)
schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)

#: The checks, chosen deliberately:
#: - not_a_server_error: a 5xx tells the adapter to retry a request the service could
#:   never serve; refusing bad input is a 4xx.
#: - status_code_conformance, content_type_conformance, response_schema_conformance,
#:   response_headers_conformance: every answer, error or not, is one the spec documents.
#: - negative_data_rejection: a request the schema forbids is refused (4xx), never
#:   applied; a service that applied it would corrupt the session.
#: - unsupported_method: a method a path does not offer gets 405 + Allow, not a page.
#: Left out: positive_data_acceptance, because the protocol answers 400 to requests that
#: are schema-valid but out of range (a user beyond n_users, unequal list lengths),
#: which JSON Schema cannot express; test_a_valid_session_... below checks acceptance
#: with requests that satisfy those rules too. missing_required_header and the auth
#: checks have nothing to check (no headers, no security), use_after_free and
#: ensure_resource_availability need links the spec does not declare, and
#: max_response_time would make the result depend on the machine's load.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.unsupported_method,
]
#: In a live session the test puts in its own session and seq, which can turn a
#: generated invalid body into a valid one: it checks rejection itself, against the
#: body actually sent.
SESSION_CHECKS = CHECKS[:5]


@pytest.fixture(scope="module", params=["popularity", "item_knn"])
def service(request):
    """A ``serve-stub`` process; item_knn also offers ``related``."""
    with stub_service(request.param) as url:
        yield url


@schema.parametrize()
def test_every_operation_answers_as_the_spec_says(case, service):
    case.call_and_validate(base_url=service, checks=CHECKS)


# -- live sessions ---------------------------------------------------------------------
# Most generated requests name a session the service does not know, and stop at its
# 404. These tests open a real session first (a valid fit, seq 1), then send the
# generated request as its seq 2, so validation and the recommender itself are reached.

N_USERS, N_ITEMS, N_DIMS = 5, 8, 3
PLATFORM = toy_platform(n_users=N_USERS, n_items=N_ITEMS, n_dims=N_DIMS)
OPENING = {"sync": sync_payload(PLATFORM, SyncState())}
OPENED = {"items": N_ITEMS, "events": len(PLATFORM.log), "impressions": 0}
CONSUMED = PLATFORM.consumed()
SESSION_EXAMPLES = 15
SESSION_SETTINGS = settings(
    max_examples=SESSION_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SESSION_PATHS = ["/v1/fit", "/v1/observe", "/v1/recommend", "/v1/related"]


def _post(url: str, path: str, body: object) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _open_session(url: str) -> str:
    sid = uuid.uuid4().hex  # fresh per example: examples never share state
    status, answer = _post(url, "/v1/fit", {"session": sid, "seq": 1, **OPENING})
    assert (status, answer.get("state")) == (200, OPENED), answer
    return sid


def _applied(path: str, body: dict[str, Any]) -> dict[str, int]:
    """What a successful fit/observe with ``body`` adds to the session's state."""
    sync = body["sync"]
    new = sync.get("new_items") or {}
    return {
        "items": len(new.get("features", [])),
        "events": len(sync["events"]["users"]),
        "impressions": len(body["impressions"]["users"]) if path == "/v1/observe" else 0,
    }


def _request_schema(path: str) -> dict[str, Any]:
    return inline_refs(SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"])[
        "schema"
    ]


def _check_the_session_still_holds(url, sid, path, body, status, answer):
    """A resend gets the same outcome; the next request sees exactly what was applied."""
    assert _post(url, path, body) == (status, answer), "a resend must get the same outcome"
    state = dict(OPENED)
    if status == 200 and path in ("/v1/fit", "/v1/observe"):
        for key, added in _applied(path, body).items():
            state[key] += added
    empty = {
        "step": 9,
        "events": {"users": [], "items": [], "steps": [], "channels": []},
    }
    impressions = {"users": [], "k": 1, "slates": [], "clicked": []}
    probe = {"session": sid, "seq": 3, "sync": empty, "impressions": impressions}
    status3, answer3 = _post(url, "/v1/observe", probe)
    assert status3 == 200, answer3
    assert answer3["state"] == state, f"{path} answered {status} but the session holds otherwise"


@pytest.mark.parametrize("path", SESSION_PATHS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_in_a_live_session(service, path, mode):
    """Generated bodies as seq 2 of a real session: documented answers, nothing half-applied."""
    operation = schema[path]["POST"]
    validator = OAS30Validator(_request_schema(path))

    @SESSION_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if not isinstance(case.body, dict):
            return  # a non-object body never reaches a session; the module test covers it
        sid = _open_session(service)
        case.body = {**case.body, "session": sid, "seq": 2}
        response = case.call(base_url=service)
        case.validate_response(response, checks=SESSION_CHECKS)
        if not validator.is_valid(case.body):
            assert 400 <= response.status_code < 500, response.text
        _check_the_session_still_holds(
            service, sid, path, case.body, response.status_code, response.json()
        )

    run()


# -- the adapter, fed generated answers --------------------------------------------------
# The spec's response schemas, put where schemathesis generates from (request bodies),
# give answers that conform (positive) and answers that break the schema (negative).

ANSWER_SCHEMAS = ["Health", "SyncedResponse", "RecommendResponse", "RelatedResponse"]
answers = schemathesis.openapi.from_dict(
    {
        "openapi": "3.0.3",
        "info": {"title": "ampaudit answers", "version": "1"},
        "components": SPEC["components"],
        "paths": {
            f"/{name}": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                        },
                    },
                    "responses": {"200": {"description": "unused"}},
                }
            }
            for name in ANSWER_SCHEMAS
        },
    },
    config=CONFIG,
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
#: Suspect values, each drawn about a quarter of the time (``|`` picks branches evenly),
#: so that most answers get past the first check and reach the later ones.
WORD = st.from_regex(r"[0-9]{1,39}", fullmatch=True)
BAD_WORD = st.sampled_from(["²", "٣", "-1", " 7", str(2**128)])
GOOD_STATES = st.fixed_dictionaries(
    {
        "bit_generator": st.just("PCG64"),
        "state": st.fixed_dictionaries({"state": WORD, "inc": WORD}),
        "has_uint32": st.sampled_from([0, 1]),
        "uinteger": st.integers(0, 2**32 - 1),
    }
).filter(lambda s: all(int(w) < 2**128 for w in s["state"].values()))
RNG_STATES = st.fixed_dictionaries(
    {
        "bit_generator": st.sampled_from(["PCG64", "PCG64", "PCG64", "MT19937"]),
        "state": st.fixed_dictionaries({"state": WORD | WORD | WORD | BAD_WORD, "inc": WORD}),
        "has_uint32": st.sampled_from([0, 1, 0, 1, 1.0, True, 2]),
        "uinteger": st.sampled_from([0, 7, 2**32 - 1, 0, 7, 2**32, 1.5]),
    }
)
ID = st.integers(0, N_ITEMS - 1)
IDS = ID | ID | ID | st.sampled_from([-1, -2, N_ITEMS, True, 1.0, 2**64])
SCORE = st.floats(-1e3, 1e3)
SCORES = SCORE | SCORE | SCORE | st.sampled_from([math.nan, math.inf, 1e300, 2**1024, None, "1"])
MOSTLY = st.sampled_from([True, True, True, False])


def _from(name: str, mode: GenerationMode) -> st.SearchStrategy[Any]:
    return answers[f"/{name}"]["POST"].as_strategy(generation_mode=mode).map(lambda c: c.body)


def _answers(name: str) -> st.SearchStrategy[Any]:
    return _from(name, GenerationMode.POSITIVE) | _from(name, GenerationMode.NEGATIVE) | JSON


@st.composite
def _lists(draw, n_rows: int, n: int, values: st.SearchStrategy[Any]) -> list[list[Any]]:
    """Rows of ``n`` values, usually ``n_rows`` of them: the shapes the adapter expects."""
    rows = draw(st.sampled_from([n_rows, n_rows, n_rows + 1, max(n_rows - 1, 0)]))
    width = draw(st.sampled_from([n, n, n, n + 1, max(n - 1, 0)]))
    unique = draw(MOSTLY)
    return [
        draw(st.lists(values, min_size=width, max_size=width, unique=unique)) for _ in range(rows)
    ]


class Scripted(RemoteRecommender):
    """The adapter with a fake transport: every answer is ``script(path, request)``."""

    def __init__(self, script, **kwargs) -> None:
        super().__init__(url="http://127.0.0.1:9", retries=0, **kwargs)
        self.script = script

    def _attempt(self, method, path, raw, accept):
        request = None if raw is None else json.loads(raw)
        answer = self.script(path, request)
        if isinstance(answer, bytes):
            return 200, "application/json", answer
        try:
            return 200, "application/json", json.dumps(answer).encode()
        except ValueError:  # what no JSON encoder sends (an int beyond str's limit)
            return 200, "application/json", b"{"


def _echo(answer: Any, request: dict[str, Any], fix: bool) -> Any:
    """``answer``, made to echo ``request``'s session and seq when ``fix``."""
    if fix and isinstance(answer, dict):
        return {**answer, "session": request["session"], "seq": request["seq"]}
    return answer


HEALTH = {
    "status": "ok",
    "protocol": "ampaudit-recommender/1.1",
    "name": "fuzzed",
    "version": "1",
    "capabilities": ["related"],
}


def _opened(script=None) -> Scripted:
    """An adapter that has fitted :data:`PLATFORM` (answers right), then answers ``script``."""

    def opening(path, request):
        if path == "/v1/health":
            return HEALTH
        return {"session": request["session"], "seq": request["seq"], "ok": True, "state": OPENED}

    rec = Scripted(opening)
    rec.fit(PLATFORM)
    rec.script = script
    return rec


def _assert_one_line(exc: RemoteRecommenderError) -> None:
    message = str(exc)
    if currently_in_test_context():  # which refusal, for --hypothesis-show-statistics
        event(" ".join(message.split()[4:7]))
    assert message.startswith("remote recommender at http://127.0.0.1:9 ")
    assert "\n" not in message
    assert "\r" not in message


ADAPTER_SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@ADAPTER_SETTINGS
@given(answer=_answers("Health"), fix=MOSTLY)
def test_the_handshake_takes_any_answer(answer, fix):
    if fix and isinstance(answer, dict):  # often a compatible protocol, to reach the rest
        answer = {**answer, "protocol": "ampaudit-recommender/1.1"}
    rec = Scripted(lambda path, request: answer)
    try:
        rec._handshake()
    except RemoteRecommenderError as exc:
        _assert_one_line(exc)
        return
    assert isinstance(rec.retrain_every, int)
    assert rec.retrain_every >= 1
    assert isinstance(rec.stochastic, bool)
    assert rec.capabilities <= {"observe", "related"}
    assert all(isinstance(v, str) and v for v in rec.identity_.values())


@ADAPTER_SETTINGS
@given(answer=_answers("SyncedResponse"), fix_echo=MOSTLY, fix_state=MOSTLY)
def test_a_sync_takes_any_answer(answer, fix_echo, fix_state):
    def script(path, request):
        out = _echo(answer, request, fix_echo)
        if fix_state and isinstance(out, dict):
            out = {**out, "ok": True, "state": {**OPENED, "impressions": N_USERS}}
        return out

    rec = _opened(script)
    slates = np.full((N_USERS, 2), -1, dtype=np.int64)
    batch = StepBatch(
        data=PLATFORM, users=np.arange(N_USERS), slates=slates, clicked=np.full(N_USERS, -1)
    )
    try:
        rec.observe(batch)
    except RemoteRecommenderError as exc:
        _assert_one_line(exc)


@st.composite
def _good_lists(draw, n_rows: int, n: int) -> list[list[int]]:
    """Lists the adapter must accept: distinct ids of the catalog, some -1 padding."""
    slots = [*range(N_ITEMS), *[-1] * n]
    return [draw(st.permutations(slots))[:n] for _ in range(n_rows)]


@st.composite
def _shaped_answers(draw, n_rows: int, n: int, *, scores: bool) -> dict[str, Any]:
    """A right answer with at most one field made suspect, so every check is reached."""
    spoil = draw(st.sampled_from(["nothing", "items", "scores", "rng_state"]))
    answer: dict[str, Any] = {
        "items": draw(_lists(n_rows, n, IDS) if spoil == "items" else _good_lists(n_rows, n))
    }
    if scores:
        good = _lists(n_rows, n, SCORE).filter(lambda rows: len(rows) == n_rows)
        answer["scores"] = draw(_lists(n_rows, n, SCORES) if spoil == "scores" else good)
        answer["rng_state"] = draw(RNG_STATES | JSON if spoil == "rng_state" else GOOD_STATES)
    return answer


@ADAPTER_SETTINGS
@given(
    data=st.data(),
    users=st.lists(st.integers(0, N_USERS - 1), min_size=1, max_size=4),
    n=st.integers(1, 4),
    fix=MOSTLY,
)
def test_recommend_takes_any_answer(data, users, n, fix):
    shaped = _shaped_answers(len(users), n, scores=True)
    answer = data.draw(shaped if data.draw(MOSTLY) else _answers("RecommendResponse"))
    rec = _opened(lambda path, request: _echo(answer, request, fix))
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    try:
        items, scores = rec.recommend(np.array(users, dtype=np.int64), n, rng=rng)
    except RemoteRecommenderError as exc:
        _assert_one_line(exc)
        assert rng.bit_generator.state == before, "a refused answer must not move the generator"
        return
    assert items.dtype == np.int64
    assert items.shape == (len(users), n)
    assert scores.dtype == np.float32
    assert scores.shape == (len(users), n)
    assert ((items >= -1) & (items < N_ITEMS)).all()
    assert not has_repeats(items)
    state = rng.bit_generator.state  # what the service sent, and NumPy can draw from it
    assert rng_state_from_json(rng_state_to_json(state)) == state
    rng.random()


@ADAPTER_SETTINGS
@given(
    data=st.data(),
    items=st.lists(st.integers(0, N_ITEMS - 1), min_size=1, max_size=4),
    n=st.integers(1, 4),
    fix=MOSTLY,
)
def test_related_takes_any_answer(data, items, n, fix):
    shaped = _shaped_answers(len(items), n, scores=False)
    answer = data.draw(shaped if data.draw(MOSTLY) else _answers("RelatedResponse"))
    rec = _opened(lambda path, request: _echo(answer, request, fix))
    try:
        related = rec.related(np.array(items, dtype=np.int64), n)
    except RemoteRecommenderError as exc:
        _assert_one_line(exc)
        return
    assert related.dtype == np.int64
    assert related.shape == (len(items), n)
    assert ((related >= -1) & (related < N_ITEMS)).all()
    assert not has_repeats(related)


GOOD_STATE = {
    "bit_generator": "PCG64",
    "state": {"state": "1", "inc": "3"},
    "has_uint32": 0,
    "uinteger": 0,
}
#: What the fuzzing above found escaping as other exceptions, kept as fixed examples.
FOUND = {
    "an integer score beyond float": {"scores": [[2**1024]]},
    "a superscript digit": {"rng_state": {**GOOD_STATE, "state": {"state": "²", "inc": "3"}}},
    "an Arabic-Indic digit": {"rng_state": {**GOOD_STATE, "state": {"state": "٣", "inc": "3"}}},
    "a word of 4400 digits": {
        "rng_state": {**GOOD_STATE, "state": {"state": "9" * 4400, "inc": "3"}}
    },
    "has_uint32 as a float": {"rng_state": {**GOOD_STATE, "has_uint32": 1.0}},
}


@pytest.mark.parametrize("spoiled", FOUND.values(), ids=list(FOUND))
def test_recommend_refuses_what_fuzzing_found(spoiled):
    answer = {
        "items": [[1]],
        "scores": [[1.0]],
        "rng_state": GOOD_STATE,
        **spoiled,
    }
    rec = _opened(lambda path, request: _echo(answer, request, True))
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    with pytest.raises(RemoteRecommenderError) as caught:
        rec.recommend(np.array([0]), 1, rng=rng)
    _assert_one_line(caught.value)
    assert "scores beyond" in str(caught.value) or "generator state" in str(caught.value)
    assert rng.bit_generator.state == before


@pytest.mark.parametrize("path", ["/v1/recommend", "/v1/related"])
@pytest.mark.parametrize("n", [10**8, 10**12])
def test_an_answer_too_large_to_build_is_refused(service, path, n):
    """Found by probing past the fuzzing budget: n=10**12 was a 500 (MemoryError)."""
    sid = _open_session(service)
    body = {"session": sid, "seq": 2, "step": 0, "users": [0], "items": [0], "n": n}
    status, answer = _post(service, path, {**body, "rng_state": GOOD_STATE})
    assert status in (400, 404), answer  # 404: popularity does not offer related
    if status == 400:
        assert "exceeds" in answer["error"]


def test_observe_after_a_refused_opening_takes_any_sync(service):
    """Found by probing: a session whose first fit was refused, then a sync that is a list."""
    sid = uuid.uuid4().hex
    refused = {"sync": {**OPENING["sync"], "follows": {}}}
    assert _post(service, "/v1/fit", {"session": sid, "seq": 1, **refused})[0] == 400
    impressions = {"users": [], "k": 1, "slates": [], "clicked": []}
    body = {"session": sid, "seq": 2, "sync": [1], "impressions": impressions}
    assert _post(service, "/v1/observe", body)[0] == 400
