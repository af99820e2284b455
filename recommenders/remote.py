"""The ``remote`` recommender: an audit of a recommender that runs as its own service.

The platform keeps its model; the auditor sees only what comes back over HTTP, and
treats it as untrusted: every response is size-limited, must arrive whole within
the timeout, is parsed, schema-checked and range-checked; failed attempts are
retried a bounded number of times, and anything wrong stops the run with one clear
:class:`RemoteRecommenderError` rather than a guess. Requests of one arm form a
session with sequence numbers, so a resend after a timeout is never applied twice
by a conforming service, and a service that applied something twice, skipped
something or answered another request is caught (see :mod:`.protocol`).
"""

from __future__ import annotations

import http.client
import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

import numpy as np
import orjson

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import PlatformData, StepBatch
from ampaudit.core.ranking import has_repeats

from .protocol import (
    ARRAYS_MEDIA_TYPE,
    CAPABILITIES,
    PROTOCOL,
    ProtocolError,
    SyncState,
    arrays_from_bytes,
    compatible,
    loads,
    rng_state_from_json,
    rng_state_to_json,
    sync_payload,
)

__all__ = ["RemoteRecommender", "RemoteRecommenderConf", "RemoteRecommenderError"]

_ERROR_CHARS = 300  # of a service's error text quoted in a message
#: What ``/v1/recommend`` asks for: the binary arrays if the service offers them.
_ACCEPT_ARRAYS = f"{ARRAYS_MEDIA_TYPE}, application/json;q=0.5"


class RemoteRecommenderError(RuntimeError):
    """The recommender service failed or answered something unusable."""


class _RetryableError(Exception):
    """One attempt failed in a way a resend may cure (no answer, 5xx)."""


class RemoteRecommender:
    """Adapter to a recommender service speaking ``ampaudit-recommender/1.1`` (openapi.yaml).

    Parameters
    ----------
    url : str
        Base URL of the service, e.g. ``http://127.0.0.1:8765``.
    timeout_s : float, default=30.0
        Seconds each attempt may take, from connecting to the last byte of the answer.
    retries : int, default=2
        Extra attempts after no answer in time, a dropped connection or a 5xx answer
        (with back-off 0.1 s, 0.2 s, ...); the resend carries the same sequence number,
        so a conforming service never applies it twice. Malformed answers and 4xx
        answers are never retried. A request therefore stalls an audit at most
        ``(retries + 1) × timeout_s`` plus the back-off.
    max_response_mb : float, default=64.0
        Larger answers are refused.

    Attributes
    ----------
    retrain_every : int
        Taken from the service's ``/v1/health`` at the first fit.
    stochastic : bool
        Whether the service declares that its lists depend on the generator's draws.
    capabilities : frozenset of str
        ``observe``, plus the optional endpoints the service declares (``related``);
        empty until the first fit.
    identity_ : dict of str to str
        Who was audited: ``kind="remote"``, the ``name`` and ``version`` the service
        declares, and its ``url``.
    accept_arrays : bool
        Class attribute, default True: ``/v1/recommend`` asks (``Accept``) for the
        binary encoding ``application/x-ampaudit-arrays``, with JSON as the
        fallback a service that does not know it answers; False asks for JSON only.
    """

    privileged = False
    accept_arrays = True

    def __init__(
        self,
        *,
        url: str = "http://127.0.0.1:8765",
        timeout_s: float = 30.0,
        retries: int = 2,
        max_response_mb: float = 64.0,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_response_mb = max_response_mb
        self.retrain_every = 1
        self.stochastic = False
        self.capabilities: frozenset[str] = frozenset()
        self._conn: http.client.HTTPConnection | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> RemoteRecommender:
        """A copy is a new client: same settings, no session, no connection.

        Two copies continuing one session would collide on sequence numbers; like a
        scikit-learn ``clone``, a copy must be fitted before it recommends.
        """
        fresh = type(self)(
            url=self.url,
            timeout_s=self.timeout_s,
            retries=self.retries,
            max_response_mb=self.max_response_mb,
        )
        memo[id(self)] = fresh
        return fresh

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}

    # -- transport -----------------------------------------------------------------
    def _check_params(self) -> None:
        check_range("RemoteRecommender.timeout_s", self.timeout_s, low=0, low_open=True, high=3600)
        check_range("RemoteRecommender.retries", self.retries, low=0, high=10)
        check_range("RemoteRecommender.max_response_mb", self.max_response_mb, low=0, low_open=True)
        parts = urlsplit(str(self.url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("RemoteRecommender.url", self.url, "an http:// or https:// URL")
        if parts.path.rstrip("/").endswith("/v1"):
            raise ConfigError(
                "RemoteRecommender.url",
                self.url,
                "the service's base URL, without /v1 (the adapter adds /v1/health, ...)",
            )

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            parts = urlsplit(self.url)
            kind = "HTTPSConnection" if parts.scheme == "https" else "HTTPConnection"
            connect = getattr(http.client, kind)
            self._conn = connect(parts.hostname or "", parts.port, timeout=self.timeout_s)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _attempt(
        self, method: str, path: str, raw: bytes | None, accept: str
    ) -> tuple[int, str, bytes]:
        """One request; the whole answer must arrive within ``timeout_s``.

        Returns the status, the answer's media type (lower case, no parameters)
        and its body.
        """
        deadline = time.monotonic() + self.timeout_s
        limit = int(self.max_response_mb * 2**20)
        conn = self._connection()
        headers = {"Accept": accept}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=raw, headers=headers)
            resp = conn.getresponse()
            chunks, size = [], 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no complete answer within {self.timeout_s:g} s")
                if conn.sock is not None:
                    conn.sock.settimeout(remaining)
                chunk = resp.read(1 << 16)  # closes the response at its end (read1 does not)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    self._drop_connection()
                    raise self._fail(f"sent more than {self.max_response_mb:g} MB")
            if resp.will_close:
                self._drop_connection()
            media = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            return resp.status, media, b"".join(chunks)
        except RemoteRecommenderError:
            raise
        except (OSError, http.client.HTTPException) as exc:  # timeouts are OSErrors
            self._drop_connection()
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise _RetryableError(what) from None

    def _request(
        self, path: str, body: dict[str, Any] | None = None, *, arrays: bool = False
    ) -> Any:
        """Send ``body`` (GET when None) with retries; return the parsed answer.

        With ``arrays``, the answer may come in the binary encoding
        :data:`~.protocol.ARRAYS_MEDIA_TYPE`; it is returned like a JSON answer,
        with ``items`` and ``scores`` as read-only int32/float32 arrays.
        """
        base = urlsplit(self.url).path.rstrip("/")
        # orjson: several times faster than json on the long id lists of observe
        raw = None if body is None else orjson.dumps(body)
        accept = _ACCEPT_ARRAYS if arrays else "application/json"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(0.1 * 2 ** (attempt - 1))
            try:
                status, media, payload = self._attempt(
                    "GET" if raw is None else "POST", base + path, raw, accept
                )
            except _RetryableError as exc:
                last = f"no answer ({exc})"
                continue
            if status >= 500:
                last = f"HTTP {status}: {_error_text(payload)}"
                continue
            if status >= 400:
                raise self._fail(f"answered {path} with HTTP {status}: {_error_text(payload)}")
            if status != 200:
                raise self._fail(f"answered {path} with HTTP {status} (expected 200)")
            return self._parse(path, media, payload, arrays=arrays)
        raise self._fail(
            f"did not answer {path} after {self.retries + 1} attempts "
            f"(timeout {self.timeout_s:g} s each); last: {last}"
        )

    def _parse(self, path: str, media: str, payload: bytes, *, arrays: bool) -> Any:
        """A 200 answer's body: binary arrays when asked for and sent, else JSON."""
        if media != ARRAYS_MEDIA_TYPE:
            try:
                return loads(payload)
            except ValueError:
                raise self._fail(f"sent invalid JSON for {path}: {payload[:80]!r}") from None
        if not arrays:
            raise self._fail(f"answered {path} with {media}, which the request did not accept")
        try:
            header, items, scores = arrays_from_bytes(payload)
        except ProtocolError as exc:
            raise self._fail(f"sent an invalid {media} answer for {path}: it {exc}") from None
        return {**header, "items": items, "scores": scores}

    def _call(self, path: str, body: dict[str, Any], *, arrays: bool = False) -> dict[str, Any]:
        """A request of this session: numbered, and its answer must echo the number."""
        if not hasattr(self, "session_"):
            raise RemoteRecommenderError(
                f"remote recommender at {self.url}: fit() must come before {path}"
            )
        self.seq_ += 1
        answer = self._request(
            path, {"session": self.session_, "seq": self.seq_, **body}, arrays=arrays
        )
        if not isinstance(answer, dict):
            raise self._fail(f"answered {path} with {type(answer).__name__}, not an object")
        if answer.get("session") != self.session_ or answer.get("seq") != self.seq_:
            raise self._fail(
                f"answered {path} seq {self.seq_} with the answer to another request "
                f"(session {str(answer.get('session'))[:40]!r}, seq {answer.get('seq')!r})"
            )
        return answer

    def _sync_call(self, path: str, body: dict[str, Any]) -> None:
        """A request that changes the service's state; check what it says it holds."""
        answer = self._call(path, body)
        held = answer.get("state")
        sent = {
            "items": self.sync_.n_items,
            "events": self.sync_.n_events,
            "impressions": self.sync_.impressions,
        }
        if not isinstance(held, dict) or answer.get("ok") is not True:
            raise self._fail(f"answered {path} without ok=true and its state: {str(answer)[:120]}")
        for key, expected in sent.items():
            if held.get(key) != expected:
                raise self._fail(
                    f"holds {held.get(key)!r} {key} after {path} seq {self.seq_}, but the audit "
                    f"sent {expected}: it applied a request twice or missed one"
                )

    # -- the recommender contract ----------------------------------------------------
    def fit(self, data: PlatformData) -> Self:
        """Send the platform's changes and ask the service to retrain."""
        self._check_params()
        if not hasattr(self, "session_"):
            self._handshake()
        self.n_items_, self.step_ = data.n_items, int(data.step)
        self._sync_call("/v1/fit", {"sync": sync_payload(data, self.sync_)})
        return self

    def describe(self) -> dict[str, str]:
        """Who this adapter audits, from ``/v1/health`` (no session is opened).

        Returns
        -------
        dict of str to str
            ``kind="remote"``, the ``name`` and ``version`` the service declares, and
            its ``url``.
        """
        self._check_params()
        return self._identity(self._health())

    def _identity(self, health: dict[str, Any]) -> dict[str, str]:
        name, version = health["name"], health["version"]
        return {"kind": "remote", "name": name[:200], "version": version[:100], "url": self.url}

    def _health(self) -> dict[str, Any]:
        """``/v1/health``, checked: a compatible protocol and well-formed declarations."""
        health = self._request("/v1/health")
        if not isinstance(health, dict) or not compatible(health.get("protocol")):
            said = health.get("protocol") if isinstance(health, dict) else str(health)[:80]
            raise self._fail(
                f"speaks protocol {said!r}; this ampaudit needs {PROTOCOL} "
                "(same major version, minor version at least 1)"
            )
        every = health.setdefault("retrain_every", 1)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise self._fail(f"declared retrain_every={every!r}; need an integer >= 1")
        caps = health.setdefault("capabilities", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise self._fail(f"declared capabilities={str(caps)[:80]}; need a list of strings")
        stochastic = health.setdefault("stochastic", False)
        if not isinstance(stochastic, bool):
            raise self._fail(f"declared stochastic={stochastic!r}; need true or false")
        name, version = health.get("name"), health.get("version")
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            raise self._fail("declared no name and version (non-empty strings) on /v1/health")
        return health

    def _handshake(self) -> None:
        """Read ``/v1/health``, refuse an incompatible service, open a session."""
        health = self._health()
        self.retrain_every = health["retrain_every"]
        self.stochastic = health["stochastic"]
        # observe is how every service learns the platform's changes: never optional
        caps = (c for c in health["capabilities"] if c in CAPABILITIES)
        self.capabilities = frozenset({"observe", *caps})
        self.identity_ = self._identity(health)
        self.session_ = uuid.uuid4().hex
        self.seq_ = 0
        self.sync_ = SyncState()

    def observe(self, batch: StepBatch) -> None:
        """Send the step's changes, impressions and clicks."""
        self.n_items_, self.step_ = batch.data.n_items, int(batch.data.step)
        sync = sync_payload(batch.data, self.sync_)
        self.sync_.impressions += len(batch.users)
        self._sync_call(
            "/v1/observe",
            {
                "sync": sync,
                "impressions": {
                    "users": batch.users.tolist(),
                    "k": int(batch.slates.shape[1]),
                    "slates": batch.slates.ravel().tolist(),
                    "clicked": batch.clicked.tolist(),
                },
            },
        )

    def recommend(
        self, users: np.ndarray, n: int, *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One request for the whole batch; the response is validated, never repaired."""
        answer = self._call(
            "/v1/recommend",
            {
                "step": self.step_,
                "users": np.asarray(users).tolist(),
                "n": int(n),
                "rng_state": rng_state_to_json(rng.bit_generator.state),
            },
            arrays=self.accept_arrays,
        )
        items, scores = self._validate(answer, len(users), n)
        try:
            state = rng_state_from_json(answer.get("rng_state"))
        except ProtocolError as exc:
            raise self._fail(f"sent an invalid generator state: {exc}") from None
        rng.bit_generator.state = state
        return items, scores

    def related(self, items: np.ndarray, n: int) -> np.ndarray:
        """Watch-next lists from the service (``-1`` padded), validated like slates.

        Raises
        ------
        RemoteRecommenderError
            If the service does not declare the ``related`` capability.
        """
        if "related" not in self.capabilities:
            raise self._fail("does not declare the optional 'related' capability")
        answer = self._call("/v1/related", {"items": np.asarray(items).tolist(), "n": int(n)})
        ids, _ = self._validate(answer, len(items), n, scores=False)
        return ids

    # -- validation ------------------------------------------------------------------
    def _fail(self, what: str) -> RemoteRecommenderError:
        return RemoteRecommenderError(f"remote recommender at {self.url} {what}")

    def _validate(
        self, answer: dict[str, Any], n_rows: int, n: int, *, scores: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores of an answer, checked whole; a JSON answer or binary arrays.

        Every check is vectorised: the lists of a JSON answer are type-checked with
        one pass of ``map(type, ...)`` and then checked as arrays, like binary ones.
        """
        rows = answer.get("items")
        if isinstance(rows, np.ndarray):  # binary: int32 of a checked length already
            items = self._shaped(rows, n_rows, n, "items").astype(np.int64)
        else:
            items = self._json_ids(rows, n_rows, n, answer)
        bad = (items < -1) | (items >= self.n_items_)
        if bad.any():
            raise self._fail(self._out_of_range(items[bad].tolist()))
        if has_repeats(items):
            raise self._fail("sent an item twice in one list")
        if not scores:
            return items, np.zeros(items.shape, dtype=np.float32)
        raw_scores = answer.get("scores")
        if isinstance(raw_scores, np.ndarray):
            values = self._shaped(raw_scores, n_rows, n, "scores")
        else:
            flat = self._json_rows(raw_scores, n_rows, n, "scores")
            if not set(map(type, flat)) <= {int, float}:
                raise self._fail("sent non-numeric scores")
            try:
                values = np.array(flat, dtype=np.float64)
            except OverflowError:  # a JSON integer beyond any float: no score to rank by
                raise self._fail("sent scores beyond the float range") from None
        if np.isnan(values).any():
            raise self._fail("sent NaN scores")
        with np.errstate(over="ignore"):  # a finite float64 beyond float32 becomes ±inf
            return items, values.astype(np.float32).reshape(n_rows, n)

    def _shaped(self, array: np.ndarray, n_rows: int, n: int, name: str) -> np.ndarray:
        """A binary answer's ``name`` array, if it has ``n_rows`` rows of ``n``."""
        if array.shape != (n_rows, n):
            raise self._fail(f"sent {name} of shape {array.shape} (expected {n_rows} lists of {n})")
        return array

    def _json_rows(self, rows: Any, n_rows: int, n: int, name: str) -> list[Any]:
        """The values of ``n_rows`` JSON lists of ``n``, flattened (row-major)."""
        if (
            not isinstance(rows, list)
            or len(rows) != n_rows
            or not set(map(type, rows)) <= {list}
            or not set(map(len, rows)) <= {n}
        ):
            raise self._fail(f"sent {name} of the wrong shape (expected {n_rows} lists of {n})")
        return list(itertools.chain.from_iterable(rows))

    def _json_ids(self, rows: Any, n_rows: int, n: int, answer: dict[str, Any]) -> np.ndarray:
        if not isinstance(rows, list):
            raise self._fail(f"sent no 'items' list: {str(answer)[:120]}")
        flat = self._json_rows(rows, n_rows, n, "items")
        if not set(map(type, flat)) <= {int}:  # bool is not int here, as before
            raise self._fail("sent non-integer item ids")
        try:
            return np.array(flat, dtype=np.int64).reshape(n_rows, n)
        except OverflowError:  # beyond int64: certainly out of range
            raise self._fail(
                self._out_of_range([v for v in flat if not -1 <= v < self.n_items_])
            ) from None

    def _out_of_range(self, bad: list[int]) -> str:
        return f"sent item ids outside -1..{self.n_items_ - 1}: {sorted(set(bad))[:5]}"


def _error_text(payload: bytes) -> str:
    """The ``error`` a service put in its answer (or the answer's start), on one line."""
    try:
        parsed = loads(payload)
        text = parsed.get("error") if isinstance(parsed, dict) else None
    except ValueError:
        text = None
    if not isinstance(text, str):
        text = payload[:_ERROR_CHARS].decode(errors="replace") or "(empty body)"
    return " ".join(text.split())[:_ERROR_CHARS]


@dataclass
class RemoteRecommenderConf:
    """Hydra config of :class:`RemoteRecommender`."""

    _target_: str = "ampaudit.recommenders.RemoteRecommender"
    url: str = "http://127.0.0.1:8765"
    timeout_s: float = 30.0
    retries: int = 2
    max_response_mb: float = 64.0
