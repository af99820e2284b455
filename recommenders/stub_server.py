"""The reference recommender service: any in-process recommender behind the HTTP protocol.

``ampaudit serve-stub --recommender NAME --port N`` runs it on 127.0.0.1. It keeps
its own mirror of the platform, built only from what the adapter sends, exactly
as a platform's real service would keep its own logs.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from ampaudit.core.platform import InteractionLog, ItemView, PlatformData, StepBatch

from .protocol import PROTOCOL, csr_from_json

__all__ = ["PlatformMirror", "RecommenderService", "make_server"]

MAX_REQUEST_BYTES = 512 * 2**20


class PlatformMirror:
    """The service's copy of the platform, updated from sync payloads."""

    def __init__(self) -> None:
        self.data: PlatformData | None = None
        self._features = np.zeros((0, 0), dtype=np.float32)
        self._created = np.zeros(0, dtype=np.int32)
        self._creator = np.zeros(0, dtype=np.int32)
        self._score = np.zeros(0, dtype=np.float32)
        self._available = np.zeros(0, dtype=bool)

    def apply(self, payload: dict[str, Any]) -> PlatformData:
        """Apply one sync payload and return the updated platform view."""
        if "n_users" in payload:
            follows = csr_from_json(payload["follows"])
            social = csr_from_json(payload["social"]) if "social" in payload else None
            self.data = PlatformData(
                step=0,
                n_users=int(payload["n_users"]),
                items=self._view(),
                log=InteractionLog(int(payload["n_users"])),
                follows=follows,
                social=social,
            )
        if self.data is None:
            raise ValueError("the first sync must carry n_users and the follow graph")
        new = payload.get("new_items")
        if new:
            features = np.asarray(new["features"], dtype=np.float32)
            if self._features.size == 0:
                self._features = features
            else:
                self._features = np.concatenate([self._features, features])
            self._created = np.concatenate([self._created, np.asarray(new["created"], np.int32)])
            self._creator = np.concatenate([self._creator, np.asarray(new["creator"], np.int32)])
            self._score = np.concatenate([self._score, np.asarray(new["score"], np.float32)])
            self._available = np.concatenate([self._available, np.ones(len(features), bool)])
        self._available[np.asarray(payload.get("removed", []), dtype=np.int64)] = False
        self._available[np.asarray(payload.get("restored", []), dtype=np.int64)] = True
        events = payload.get("events") or {}
        if events.get("users"):
            log = self.data.log
            users = np.asarray(events["users"], dtype=np.int32)
            items = np.asarray(events["items"], dtype=np.int32)
            steps = np.asarray(events["steps"], dtype=np.int32)
            channels = np.asarray(events["channels"], dtype=np.int8)
            for step in np.unique(steps):  # the log appends one step at a time
                at = steps == step
                log.append(users[at], items[at], int(step), channels[at])
        self.data.step = int(payload["step"])
        self.data.items = self._view()
        return self.data

    def _view(self) -> ItemView:
        return ItemView(self._features, self._created, self._creator, self._score, self._available)


class RecommenderService:
    """Wraps one recommender: the state behind the HTTP handler (thread-safe)."""

    def __init__(self, recommender: Any, name: str) -> None:
        self.prototype = recommender
        self.recommender = copy.deepcopy(recommender)
        self.name = name
        self.mirror = PlatformMirror()
        self.lock = threading.Lock()

    def _sync(self, payload: dict[str, Any]) -> PlatformData:
        """Apply a sync; a first sync (it carries ``n_users``) starts a fresh session.

        One audit arm at a time: a new session discards the previous mirror and
        learned state, as a fresh platform would.
        """
        if "n_users" in payload:
            self.recommender = copy.deepcopy(self.prototype)
            self.mirror = PlatformMirror()
        return self.mirror.apply(payload)

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``."""
        return {
            "status": "ok",
            "protocol": PROTOCOL,
            "name": self.name,
            "retrain_every": int(self.recommender.retrain_every),
        }

    def fit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/fit``: sync, then retrain."""
        data = self._sync(body["sync"])
        self.recommender.fit(data)
        return {"ok": True}

    def observe(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/observe``: sync, then an online update with the step's feed."""
        data = self._sync(body["sync"])
        observe = getattr(self.recommender, "observe", None)
        if observe is not None:
            imp = body["impressions"]
            slates = np.asarray(imp["slates"], dtype=np.int64).reshape(len(imp["users"]), imp["k"])
            observe(
                StepBatch(
                    data=data,
                    users=np.asarray(imp["users"], dtype=np.int64),
                    slates=slates,
                    clicked=np.asarray(imp["clicked"], dtype=np.int64),
                )
            )
        return {"ok": True}

    def recommend(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/recommend``: one batch of users; draws from the sent generator state."""
        rng = np.random.default_rng()
        rng.bit_generator.state = body["rng_state"]
        users = np.asarray(body["users"], dtype=np.int64)
        items, scores = self.recommender.recommend(users, int(body["n"]), rng=rng)
        return {
            "items": items.tolist(),
            "scores": scores.astype(float).tolist(),
            "rng_state": rng.bit_generator.state,
        }

    def related(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/related``: watch-next lists, when the recommender has them."""
        related = getattr(self.recommender, "related", None)
        if related is None:
            raise LookupError("this recommender has no related-items list")
        items = related(np.asarray(body["items"], dtype=np.int64), int(body["n"]))
        return {"items": items.tolist()}


def make_server(service: RecommenderService, host: str = "127.0.0.1", port: int = 0):
    """Build (not start) a threading HTTP server for ``service``; ``port=0`` picks one."""
    routes = {
        "/v1/fit": service.fit,
        "/v1/observe": service.observe,
        "/v1/recommend": service.recommend,
        "/v1/related": service.related,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep audits quiet; errors are returned to the client

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path == "/v1/health":
                self._send(200, service.health())
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            handler = routes.get(self.path)
            if handler is None:
                self._send(404, {"error": f"no route {self.path}"})
                return
            length = int(self.headers.get("Content-Length", 0))
            if length > MAX_REQUEST_BYTES:
                self._send(413, {"error": "request too large"})
                return
            try:
                body = json.loads(self.rfile.read(length))
                with service.lock:
                    self._send(200, handler(body))
            except LookupError as exc:
                self._send(404, {"error": str(exc)})
            except Exception as exc:
                self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

    return ThreadingHTTPServer((host, port), Handler)
