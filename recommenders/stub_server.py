"""The reference recommender service: any in-process recommender behind the HTTP protocol.

``ampaudit serve-stub --recommender NAME --port N`` runs it on 127.0.0.1. Each
session (an audit arm, or a conformance check) gets its own copy of the
recommender and its own mirror of the platform, built only from what the adapter
sends, exactly as a platform's real service would keep its own logs; several
sessions (arms of parallel sweep workers) are served at once.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from ampaudit.core.categories import CHANNELS
from ampaudit.core.platform import InteractionLog, ItemView, PlatformData, StepBatch

from .protocol import (
    ARRAYS_MEDIA_TYPE,
    PROTOCOL,
    ProtocolError,
    accepts_arrays,
    arrays_to_bytes,
    csr_from_json,
    loads,
    rng_state_from_json,
    rng_state_to_json,
)

__all__ = ["PlatformMirror", "RecommenderService", "make_server"]

MAX_REQUEST_BYTES = 512 * 2**20
#: Ids in one answer (rows × n): beyond this a request is refused with 400, because
#: its answer would not fit the memory it takes to build (nor the adapter's 64 MB).
MAX_ANSWER_IDS = 2**22
#: Sessions kept at once; the least recently used is forgotten beyond this.
MAX_SESSIONS = 32
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The protocol's paths and the one method each answers.
_ROUTES = {
    "/v1/health": "GET",
    "/v1/fit": "POST",
    "/v1/observe": "POST",
    "/v1/recommend": "POST",
    "/v1/related": "POST",
}


class RequestError(ValueError):
    """A request the service refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _ints(values: Any, name: str, *, low: int = 0, high: int | None = None) -> np.ndarray:
    """A JSON list of integers in ``[low, high)`` as int64, or a 400."""
    # one C-level pass over the types (bool is not int here), then numpy does the rest
    if not isinstance(values, list) or not set(map(type, values)) <= {int}:
        raise RequestError(400, f"{name} must be a list of integers")
    span = f"{name} must lie in [{low}, {high if high is not None else ''})"
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:  # beyond int64
        raise RequestError(400, span) from None
    if arr.size and (arr.min() < low or (high is not None and arr.max() >= high)):
        raise RequestError(400, span)
    return arr


def _count(value: Any, name: str, *, low: int = 0, high: int | None = None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise RequestError(400, f"{name} must be an integer {span}")
    return value


def _answer_size(n_rows: int, n: int) -> None:
    if n_rows * n > MAX_ANSWER_IDS:
        raise RequestError(400, f"an answer of {n_rows} lists of {n} exceeds {MAX_ANSWER_IDS} ids")


def _outcome(serve: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` of serving a request: 200, or the error as the protocol says."""
    try:
        result = serve()
    except RequestError as exc:
        return exc.status, {"error": str(exc)}
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}  # input the recommender refuses
    except Exception as exc:  # a bug in the recommender: say so, keep serving
        return 500, {"error": f"{type(exc).__name__}: {exc}"}
    return result if isinstance(result, tuple) else (200, result)


class PlatformMirror:
    """The service's copy of the platform, updated from sync payloads."""

    def __init__(self) -> None:
        self.data: PlatformData | None = None
        self.impressions = 0
        self._features = np.zeros((0, 0), dtype=np.float32)
        self._created = np.zeros(0, dtype=np.int32)
        self._creator = np.zeros(0, dtype=np.int32)
        self._score = np.zeros(0, dtype=np.float32)
        self._available = np.zeros(0, dtype=bool)

    @property
    def n_users(self) -> int:
        """Users of the mirrored platform (0 before the first sync)."""
        return 0 if self.data is None else self.data.n_users

    def state(self) -> dict[str, int]:
        """What this session has applied: items, consumption events, impression rows."""
        return {
            "items": len(self._created),
            "events": 0 if self.data is None else len(self.data.log),
            "impressions": self.impressions,
        }

    def apply(self, payload: Any) -> PlatformData:
        """Apply one sync payload and return the updated platform view.

        The payload is checked whole before anything changes, so a refused sync
        leaves the mirror as it was.
        """
        if not isinstance(payload, dict):
            raise RequestError(400, "sync must be an object")
        step = _count(payload.get("step"), "sync.step")
        # Only the first sync starts the mirror: a later one carrying n_users would
        # otherwise drop the items and events the session already holds.
        start = self.data is None
        if start and "n_users" not in payload:
            raise RequestError(400, "the first sync of a session must carry n_users and follows")
        if not start and "n_users" in payload:
            raise RequestError(400, "sync.n_users belongs to the first sync of a session only")
        n_users = _count(payload["n_users"], "sync.n_users", low=1) if start else self.n_users
        if not start and "seed" in payload:
            raise RequestError(400, "sync.seed belongs to the first sync of a session only")
        seed = _count(payload.get("seed", 0), "sync.seed", high=2**63 - 1) if start else 0
        follows = social = None
        if start or "follows" in payload:  # later snapshots replace the graphs
            follows = self._csr(payload.get("follows"), "sync.follows", rows=n_users)
        if "social" in payload:
            social = self._csr(payload["social"], "sync.social", rows=n_users)
        n_old = 0 if start else len(self._created)
        new = payload.get("new_items")
        parts = self._new_items(new, n_old) if new else None
        n_items = n_old + (0 if parts is None else len(parts[1]))
        removed = _ints(payload.get("removed", []), "sync.removed", high=n_items)
        restored = _ints(payload.get("restored", []), "sync.restored", high=n_items)
        events = payload.get("events")
        if not isinstance(events, dict):
            raise RequestError(400, "sync.events must be an object")
        users = _ints(events.get("users"), "sync.events.users", high=n_users)
        items = _ints(events.get("items"), "sync.events.items", high=n_items)
        steps = _ints(events.get("steps"), "sync.events.steps", high=2**31)
        channels = _ints(events.get("channels"), "sync.events.channels", high=len(CHANNELS))
        if not len(users) == len(items) == len(steps) == len(channels):
            raise RequestError(400, "sync.events lists must have equal lengths")
        # checked: now apply
        if start:
            self.__init__()  # type: ignore[misc]  # a new session starts from nothing
            self.data = PlatformData(
                step=step,
                n_users=n_users,
                items=self._view(),
                log=InteractionLog(n_users),
                follows=follows,  # type: ignore[arg-type]
                social=social,
                seed=seed,
            )
        assert self.data is not None
        if follows is not None:
            self.data.follows = follows
        if social is not None:
            self.data.social = social
        if parts is not None:
            features, created, creator, score = parts
            self._features = features if n_old == 0 else np.concatenate([self._features, features])
            self._created = np.concatenate([self._created, created])
            self._creator = np.concatenate([self._creator, creator])
            self._score = np.concatenate([self._score, score])
            self._available = np.concatenate([self._available, np.ones(len(created), bool)])
        self._available[removed] = False
        self._available[restored] = True
        for s in np.unique(steps):  # the log appends one step at a time
            at = steps == s
            self.data.log.append(
                users[at].astype(np.int32),
                items[at].astype(np.int32),
                int(s),
                channels[at].astype(np.int8),
            )
        self.data.step = step
        self.data.items = self._view()
        return self.data

    @staticmethod
    def _csr(obj: Any, name: str, *, rows: int) -> Any:
        if not isinstance(obj, dict):
            raise RequestError(400, f"{name} must be a CSR object")
        shape = obj.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(v) is int for v in shape)):
            raise RequestError(400, f"{name}.shape must be two integers")
        if shape[0] != rows or shape[1] < 0:
            raise RequestError(400, f"{name}.shape must be [n_users, n_columns >= 0]")
        indptr = _ints(obj.get("indptr"), f"{name}.indptr")
        indices = _ints(obj.get("indices"), f"{name}.indices", high=max(shape[1], 1))
        if len(indptr) != rows + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
            raise RequestError(400, f"{name}.indptr must run from 0 to len(indices) over n_users+1")
        if np.any(np.diff(indptr) < 0):
            raise RequestError(400, f"{name}.indptr must not decrease")
        return csr_from_json(obj)

    def _new_items(self, new: Any, n_old: int) -> tuple[np.ndarray, ...]:
        if not isinstance(new, dict):
            raise RequestError(400, "sync.new_items must be an object")
        features = new.get("features")
        if not isinstance(features, list) or not features:
            raise RequestError(400, "sync.new_items.features must be a non-empty list of rows")
        try:
            feats = np.asarray(features, dtype=np.float32)
            score = np.asarray(new.get("score"), dtype=np.float32)
        except (TypeError, ValueError):
            raise RequestError(400, "sync.new_items features and score must be numbers") from None
        n_dims = self._features.shape[1] if n_old else (feats.shape[1] if feats.ndim == 2 else -1)
        if feats.ndim != 2 or feats.shape[1] != n_dims or not np.isfinite(feats).all():
            raise RequestError(400, "sync.new_items.features must be finite rows of one length")
        m = len(feats)
        created = _ints(new.get("created"), "sync.new_items.created", low=-(2**31), high=2**31)
        creator = _ints(new.get("creator"), "sync.new_items.creator", high=2**31)
        if not (len(created) == len(creator) == m and score.shape == (m,)):
            raise RequestError(400, "sync.new_items lists must have one entry per item")
        return feats, created.astype(np.int32), creator.astype(np.int32), score

    def _view(self) -> ItemView:
        return ItemView(self._features, self._created, self._creator, self._score, self._available)


class Session:
    """One client's recommender, platform mirror and sequence position."""

    def __init__(self, recommender: Any) -> None:
        self.recommender = recommender
        self.mirror = PlatformMirror()
        self.seq = 0
        self.last: tuple[str, tuple[int, dict[str, Any]]] | None = None
        self.lock = threading.Lock()


class RecommenderService:
    """Wraps one recommender: the sessions behind the HTTP handler (thread-safe).

    Parameters
    ----------
    recommender : object
        The prototype; each session gets a deep copy.
    name, version : str
        What ``/v1/health`` declares (the audit records both).
    max_sessions : int, default=MAX_SESSIONS
        Sessions kept at once; the least recently used is forgotten beyond this.
    """

    def __init__(
        self,
        recommender: Any,
        name: str,
        *,
        version: str = "0",
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.prototype = recommender
        self.name = name
        self.version = version
        self.max_sessions = max_sessions
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``."""
        return {
            "status": "ok",
            "protocol": PROTOCOL,
            "name": self.name,
            "version": self.version,
            "retrain_every": int(self.prototype.retrain_every),
            "capabilities": ["related"] if hasattr(self.prototype, "related") else [],
            "stochastic": bool(getattr(self.prototype, "stochastic", False)),
        }

    def handle(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Serve one numbered request of a session: ``(HTTP status, answer)``.

        Every outcome of a sequence number, answer or error, is kept until the next
        one, so a resend gets the same outcome and is never applied twice.
        """
        route = {
            "/v1/fit": self.fit,
            "/v1/observe": self.observe,
            "/v1/recommend": self.recommend,
            "/v1/related": self.related,
        }.get(path)
        if route is None:
            raise RequestError(404, f"no route {path}")
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        sid, seq = body.get("session"), body.get("seq")
        if not isinstance(sid, str) or not _SESSION_ID.fullmatch(sid):
            raise RequestError(400, "session must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
        seq = _count(seq, "seq", low=1)
        session = self._session(sid, seq, body)
        with session.lock:
            if seq == session.seq and session.last is not None:
                if session.last[0] != path:
                    raise RequestError(409, f"seq {seq} of this session was {session.last[0]}")
                return session.last[1]  # a resend: answered again, not applied again
            if seq != session.seq + 1:
                raise RequestError(409, f"out of sequence: expected seq {session.seq + 1}")
            outcome = _outcome(lambda: {"session": sid, "seq": seq, **route(session, body)})
            session.seq, session.last = seq, (path, outcome)
            return outcome

    def _session(self, sid: str, seq: int, body: dict[str, Any]) -> Session:
        with self.lock:
            session = self.sessions.get(sid)
            if session is not None:
                self.sessions.move_to_end(sid)
                return session
            sync = body.get("sync")
            if seq != 1 or not isinstance(sync, dict) or "n_users" not in sync:
                raise RequestError(
                    404, f"unknown session {sid} (a session starts with seq 1 and n_users)"
                )
            session = self.sessions[sid] = Session(copy.deepcopy(self.prototype))
            while len(self.sessions) > self.max_sessions:
                self.sessions.popitem(last=False)
            return session

    def fit(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/fit``: sync, then retrain."""
        data = session.mirror.apply(body.get("sync"))
        session.recommender.fit(data)
        return {"ok": True, "state": session.mirror.state()}

    def observe(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/observe``: sync, then an online update with the step's feed."""
        imp = body.get("impressions")
        if not isinstance(imp, dict):
            raise RequestError(400, "impressions must be an object")
        k = _count(imp.get("k"), "impressions.k", low=1)
        sync = body.get("sync")
        # before the session's first applied sync, its users are the ones this sync declares
        first = sync.get("n_users") if isinstance(sync, dict) else None
        n_users = session.mirror.n_users or first or 0
        users = _ints(imp.get("users"), "impressions.users", high=n_users)
        clicked = _ints(imp.get("clicked"), "impressions.clicked", low=-1, high=k)
        slates = _ints(imp.get("slates"), "impressions.slates", low=-1)
        if len(clicked) != len(users) or len(slates) != len(users) * k:
            raise RequestError(400, "impressions: one click and k slate slots per user")
        data = session.mirror.apply(body.get("sync"))
        if len(slates) and slates.max() >= data.n_items:
            raise RequestError(400, "impressions.slates holds ids beyond the catalog")
        observe = getattr(session.recommender, "observe", None)
        if observe is not None:
            observe(
                StepBatch(
                    data=data, users=users, slates=slates.reshape(len(users), k), clicked=clicked
                )
            )
        session.mirror.impressions += len(users)
        return {"ok": True, "state": session.mirror.state()}

    def recommend(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/recommend``: one batch of users; draws from the sent generator state."""
        if session.mirror.data is None:
            raise RequestError(400, "fit must come before recommend")
        try:
            state = rng_state_from_json(body.get("rng_state"))
        except ProtocolError as exc:
            raise RequestError(400, str(exc)) from None
        users = _ints(body.get("users"), "users", high=session.mirror.n_users)
        n = _count(body.get("n"), "n", low=1)
        _answer_size(len(users), n)
        _count(body.get("step"), "step")
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        items, scores = session.recommender.recommend(users, n, rng=rng)
        # arrays, not lists: the handler encodes them as the client accepts (binary or JSON)
        return {
            "items": np.asarray(items),
            "scores": np.asarray(scores, dtype=np.float32),
            "rng_state": rng_state_to_json(rng.bit_generator.state),
        }

    def related(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/related``: watch-next lists, when the recommender has them."""
        related = getattr(session.recommender, "related", None)
        if related is None:
            raise RequestError(404, "this service does not offer related (see capabilities)")
        if session.mirror.data is None:
            raise RequestError(400, "fit must come before related")
        items = _ints(body.get("items"), "items", high=session.mirror.data.n_items)
        n = _count(body.get("n"), "n", low=1)
        _answer_size(len(items), n)
        return {"items": np.asarray(related(items, n)).tolist()}


def _encode(body: dict[str, Any], *, arrays: bool) -> tuple[str, bytes]:
    """``(media type, bytes)`` of an answer: the binary arrays when ``arrays``, else JSON."""
    if arrays and "items" in body:
        header = {k: v for k, v in body.items() if k not in ("items", "scores")}
        try:
            return ARRAYS_MEDIA_TYPE, arrays_to_bytes(header, body["items"], body["scores"])
        except (ValueError, TypeError, OverflowError):
            pass  # arrays the layout cannot hold (a recommender's bug): JSON shows them as is
    # Python's json, not orjson: orjson writes NaN and ±inf as null, and -inf pads scores
    return "application/json", json.dumps(body, allow_nan=True, default=_plain).encode()


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars in an answer as JSON-ready Python values."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def make_server(service: RecommenderService, host: str = "127.0.0.1", port: int = 0):
    """Build (not start) a threading HTTP server for ``service``; ``port=0`` picks one."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes; with Nagle's algorithm the body's last
        # segment waits for the client's delayed ACK of the headers (~40 ms on Linux),
        # three times a step
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep audits quiet; errors are returned to the client

        def _send(self, status: int, body: dict[str, Any]) -> None:
            arrays = (
                status == 200
                and self.path == "/v1/recommend"
                and accepts_arrays(self.headers.get("Accept"))
            )
            media, raw = _encode(body, arrays=arrays)
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def parse_request(self) -> bool:
            """Answer a method the path does not serve with a JSON 405 (or 404), not a 501 page.

            ``http.server`` answers a method without a ``do_`` handler (PUT, TRACE, ...)
            with 501, an HTML page a client takes for a failure of the service.
            """
            if not super().parse_request():
                return False
            allowed = _ROUTES.get(self.path)
            if self.command == allowed or (allowed is None and self.command in ("GET", "POST")):
                return True
            self.close_connection = True  # any body it sent stays unread
            if allowed is None:
                status, body = 404, {"error": f"no route {self.command} {self.path}"}
            else:
                status, body = 405, {"error": f"{self.path} answers {allowed} only"}
            raw = json.dumps(body).encode()
            self.send_response(status)
            if allowed is not None:
                self.send_header("Allow", allowed)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has headers only
                self.wfile.write(raw)
            return False

        def do_GET(self) -> None:
            if self.path == "/v1/health":
                self._send(200, service.health())
            else:
                self._send(404, {"error": f"no route GET {self.path}"})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                self._send(411, {"error": "a Content-Length is required"})
                return
            if length > MAX_REQUEST_BYTES or length < 0:
                self.close_connection = True
                self._send(413, {"error": f"requests are limited to {MAX_REQUEST_BYTES} bytes"})
                return
            raw = self.rfile.read(length)
            try:
                body = loads(raw)
            except ValueError as exc:
                self._send(400, {"error": f"the body is not JSON: {exc}"})
                return
            self._send(*_outcome(lambda: service.handle(self.path, body)))

    return _Server((host, port), Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled client never keeps the service from stopping

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timed-out attempt) is not the service's error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
