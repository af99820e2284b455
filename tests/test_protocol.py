"""The HTTP protocol: the OpenAPI file is valid, and real traffic conforms to it."""

from __future__ import annotations

import numpy as np
from ampaudit.recommenders import PopularityRecommender, RemoteRecommender
from ampaudit.recommenders.stub_server import RecommenderService, make_server
from ampaudit.recommenders.testing import toy_platform
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from tests.helpers import SPEC, inline_refs


def test_spec_is_valid_openapi():
    validate(SPEC)


class Recording(RemoteRecommender):
    def _request(self, path, body=None):
        answer = super()._request(path, body)
        self.traffic_.append((path, body, answer))
        return answer


def test_live_traffic_conforms_to_the_spec():
    import threading

    class Counting(RecommenderService):
        served = 0

        def handle(self, path, body):
            Counting.served += 1
            return super().handle(path, body)

    server = make_server(Counting(PopularityRecommender(), "popularity"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rec = Recording(url=f"http://127.0.0.1:{server.server_address[1]}")
        rec.traffic_ = []
        data = toy_platform(n_users=5, n_items=9)
        rec.fit(data)
        items, _ = rec.recommend(np.arange(5), 4, rng=np.random.default_rng(0))
        from ampaudit.core.platform import StepBatch

        rec.observe(
            StepBatch(
                data=data, users=np.arange(5), slates=items, clicked=np.array([0, -1, 1, -1, 2])
            )
        )
    finally:
        server.shutdown()
        server.server_close()
    paths = [p for p, _, _ in rec.traffic_]
    assert paths == ["/v1/health", "/v1/fit", "/v1/recommend", "/v1/observe"]
    assert Counting.served == 3  # each POST once: nothing was silently resent
    for path, body, answer in rec.traffic_:
        op = SPEC["paths"][path]["post" if body is not None else "get"]
        if body is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            OAS30Validator(inline_refs(schema)).validate(body)
        response = inline_refs(op["responses"]["200"])
        OAS30Validator(response["content"]["application/json"]["schema"]).validate(answer)


def test_generator_state_on_the_wire_is_exact_and_checked():
    import json

    import pytest
    from ampaudit.recommenders.protocol import (
        ProtocolError,
        rng_state_from_json,
        rng_state_to_json,
    )

    rng = np.random.default_rng(2**100)
    rng.integers(2**32)  # leaves a cached 32-bit half: has_uint32 = 1
    state = rng.bit_generator.state
    wire = json.loads(json.dumps(rng_state_to_json(state)))
    assert rng_state_from_json(wire) == state
    literal = {**wire, "state": {k: int(v) for k, v in wire["state"].items()}}
    as_doubles = {**wire, "state": {k: str(float(v)) for k, v in wire["state"].items()}}
    too_big = {**wire, "state": {**wire["state"], "inc": str(2**128)}}
    no_cache = {k: v for k, v in wire.items() if k != "has_uint32"}
    for bad in (literal, as_doubles, too_big, no_cache, {**wire, "uinteger": -1}, None):
        with pytest.raises(ProtocolError):
            rng_state_from_json(bad)


def test_the_spec_states_what_the_adapter_enforces():
    """Limits, exclusions and sync semantics are in the spec, with the adapter's defaults."""
    from ampaudit.recommenders import RemoteRecommenderConf
    from ampaudit.recommenders.protocol import PROTOCOL

    text = " ".join(SPEC["info"]["description"].split())
    conf = RemoteRecommenderConf()
    worst = (conf.retries + 1) * conf.timeout_s + sum(0.1 * 2**i for i in range(conf.retries))
    for fact in (
        f"`timeout_s` seconds (default {conf.timeout_s:g})",
        f"up to `retries` times (default {conf.retries})",
        f"`max_response_mb` (default {conf.max_response_mb:g}) MB",
        f"({worst:g} s with the defaults)",
        "MUST NOT contain items that are currently removed, nor items the user already consumed",
        "are complete snapshots",
        "are deltas",
        "a service that draws nothing returns the state unchanged",
    ):
        assert fact in text, fact
    health = SPEC["components"]["schemas"]["Health"]
    assert PROTOCOL.rsplit("/", 1)[1] == SPEC["info"]["version"]
    assert {"name", "version"} <= set(health["required"])
    rng = SPEC["components"]["schemas"]["RngState"]
    assert set(rng["required"]) == {"bit_generator", "state", "has_uint32", "uinteger"}
    assert rng["properties"]["state"]["properties"]["inc"]["type"] == "string"
