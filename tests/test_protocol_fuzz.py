"""The reference service and the adapter, fuzzed against ``openapi.yaml``.

Schemathesis sends every operation requests generated from the spec (valid and
invalid) and checks the answers against it; Hypothesis feeds the adapter answers
generated from the spec's response schemas, conforming or not. Everything stays on
127.0.0.1, runs a fixed number of examples, and is derandomized.
"""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ampaudit.recommenders
import pytest
import schemathesis
from ampaudit.recommenders.protocol import SyncState, sync_payload
from ampaudit.recommenders.testing import stub_service, toy_platform
from hypothesis import HealthCheck, given, settings
from openapi_schema_validator import OAS30Validator
from schemathesis import GenerationMode

from tests.helpers import SPEC, inline_refs

SPEC_PATH = Path(ampaudit.recommenders.__file__).parent / "openapi.yaml"
#: Examples per operation and mode: enough to reach every branch of validation on this
#: two-core machine in seconds, and fixed, so a failure reproduces.
MAX_EXAMPLES = 25
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
