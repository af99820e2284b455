"""The HTTP protocol: the OpenAPI file is valid, and real traffic conforms to it."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.recommenders import PopularityRecommender, RemoteRecommender
from ampaudit.recommenders.protocol import (
    ARRAYS_MEDIA_TYPE,
    ProtocolError,
    arrays_from_bytes,
    arrays_to_bytes,
)
from ampaudit.recommenders.stub_server import RecommenderService, make_server
from ampaudit.recommenders.testing import toy_platform
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from tests.helpers import SPEC, inline_refs


def test_spec_is_valid_openapi():
    validate(SPEC)


class Recording(RemoteRecommender):
    def _request(self, path, body=None, *, arrays=False):
        answer = super()._request(path, body, arrays=arrays)
        self.traffic_.append((path, body, answer))
        return answer

    def _parse(self, path, media, payload, *, arrays):
        self.media_.append((path, media))
        return super()._parse(path, media, payload, arrays=arrays)


@pytest.mark.parametrize("accept_arrays", [True, False], ids=["arrays", "json"])
def test_live_traffic_conforms_to_the_spec(accept_arrays):
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
        rec.accept_arrays = accept_arrays
        rec.traffic_, rec.media_ = [], []
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
        if isinstance(answer.get("items"), np.ndarray):  # the binary encoding, as JSON
            assert set(response["content"]) == {"application/json", ARRAYS_MEDIA_TYPE}
            shape = answer.pop("shape")
            assert shape == list(answer["items"].shape)
            answer = {**answer, "items": answer["items"].tolist()}
            answer["scores"] = answer["scores"].tolist()
        OAS30Validator(response["content"]["application/json"]["schema"]).validate(answer)
    # the content type is negotiated for recommend answers only
    expected = ARRAYS_MEDIA_TYPE if accept_arrays else "application/json"
    assert dict(rec.media_) == {
        "/v1/health": "application/json",
        "/v1/fit": "application/json",
        "/v1/recommend": expected,
        "/v1/observe": "application/json",
    }


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


def test_arrays_round_trip_bit_for_bit():
    items = np.array([[3, 0, -1], [2**31 - 1, 1, -1]])
    scores = np.array([[0.1, -0.0, -np.inf], [np.inf, 1e-45, 3.4e38]], dtype=np.float32)
    raw = arrays_to_bytes({"session": "s", "seq": 7}, items, scores)
    header, got_items, got_scores = arrays_from_bytes(raw)
    assert header == {"session": "s", "seq": 7, "shape": [2, 3]}
    assert got_items.dtype == np.dtype("<i4")
    assert np.array_equal(got_items, items)
    assert got_scores.tobytes() == scores.astype("<f4").tobytes()
    assert (8 + int.from_bytes(raw[4:8], "little")) % 8 == 0  # arrays start aligned


def _arrays(header=None, rows=2, n=3):
    head = b'{"session":"s","seq":1,"shape":[%d,%d]}' % (rows, n)
    if header is not None:
        head = header
    return b"AMPA" + len(head).to_bytes(4, "little") + head + bytes(8 * rows * n)


#: Malformed binary bodies -> what the one-line ProtocolError says.
MALFORMED = {
    "empty": (b"", "does not start with b'AMPA'"),
    "magic": (b"NPZ!" + _arrays()[4:], "does not start with b'AMPA'"),
    "header_beyond_body": (b"AMPA" + (2**32 - 1).to_bytes(4, "little") + b"{}", "-byte header"),
    "header_not_json": (_arrays(b"{not json"), "header that is not JSON"),
    "header_not_object": (_arrays(b"[1, 2]"), "not a JSON object"),
    "no_shape": (_arrays(b'{"seq": 1}'), "no shape"),
    "negative_shape": (_arrays(b'{"shape": [-2, -3]}', 2, 3), "no shape"),
    "bool_shape": (_arrays(b'{"shape": [true, 3]}', 1, 3), "no shape"),
    "three_dims": (_arrays(b'{"shape": [1, 2, 3]}'), "no shape"),
    "truncated": (_arrays()[:-1], "holds 47 array bytes, but shape [2, 3] needs 48"),
    "trailing": (_arrays() + b"\0", "holds 49 array bytes"),
    "huge_claim": (_arrays(b'{"shape": [2147483647, 2147483647]}', 0, 0), "needs"),
}


@pytest.mark.parametrize(("raw", "expected"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_arrays_are_one_protocol_error(raw, expected):
    with pytest.raises(ProtocolError) as info:
        arrays_from_bytes(raw)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
