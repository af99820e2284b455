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

    server = make_server(RecommenderService(PopularityRecommender(), "popularity"), port=0)
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
    for path, body, answer in rec.traffic_:
        op = SPEC["paths"][path]["post" if body is not None else "get"]
        if body is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            OAS30Validator(inline_refs(schema)).validate(body)
        response = inline_refs(op["responses"]["200"])
        OAS30Validator(response["content"]["application/json"]["schema"]).validate(answer)
