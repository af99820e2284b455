"""The ``remote`` recommender: an audit of a recommender that runs as its own service.

The platform keeps its model; the auditor sees only what comes back over HTTP, and
treats it as untrusted: every response is size-limited, parsed, schema-checked and
range-checked, requests time out and are retried a bounded number of times, and
anything wrong stops the run with one clear :class:`RemoteRecommenderError`
rather than a guess. One request per step for recommendations (the whole batch),
one for the step's impressions and clicks, one per refit.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from ampaudit.core.errors import check_range
from ampaudit.core.platform import PlatformData, StepBatch
from ampaudit.core.ranking import has_repeats

from .protocol import PROTOCOL, SyncState, sync_payload

__all__ = ["RemoteRecommender", "RemoteRecommenderConf", "RemoteRecommenderError"]


class RemoteRecommenderError(RuntimeError):
    """The recommender service failed or answered something unusable."""


class RemoteRecommender:
    """Adapter to a recommender service speaking ``ampaudit-recommender/1`` (see openapi.yaml).

    Parameters
    ----------
    url : str
        Base URL of the service, e.g. ``http://127.0.0.1:8765``.
    timeout_s : float, default=30.0
        Seconds to wait for each response.
    retries : int, default=2
        Extra attempts after a connection error, a timeout or a 5xx answer (with
        exponential back-off from 0.1 s); malformed answers are never retried.
    max_response_mb : float, default=64.0
        Larger responses are refused.

    Attributes
    ----------
    retrain_every : int
        Taken from the service's ``/v1/health`` at the first fit.
    service_name_ : str
        The name the service reports.
    """

    privileged = False
    stochastic = False

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

    # -- transport -----------------------------------------------------------------
    def _request(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.url.rstrip("/") + path
        raw = None if body is None else json.dumps(body).encode()
        limit = int(self.max_response_mb * 2**20)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(0.1 * 2 ** (attempt - 1))
            req = urllib.request.Request(
                url,
                data=raw,
                method="GET" if raw is None else "POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    payload = resp.read(limit + 1)
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    last = exc
                    continue
                detail = exc.read(2000).decode(errors="replace")
                raise RemoteRecommenderError(
                    f"remote recommender at {url} answered HTTP {exc.code}: {detail}"
                ) from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = exc
                continue
            if len(payload) > limit:
                raise RemoteRecommenderError(
                    f"remote recommender at {url} sent more than {self.max_response_mb} MB"
                )
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise RemoteRecommenderError(
                    f"remote recommender at {url} sent invalid JSON: {payload[:80]!r}"
                ) from exc
        raise RemoteRecommenderError(
            f"remote recommender at {url} did not answer after {self.retries + 1} attempts "
            f"(timeout {self.timeout_s} s): {last}"
        )

    # -- the recommender contract ----------------------------------------------------
    def fit(self, data: PlatformData) -> Self:
        """Send the platform's changes and ask the service to retrain."""
        check_range("RemoteRecommender.timeout_s", self.timeout_s, low=0, low_open=True)
        check_range("RemoteRecommender.retries", self.retries, low=0, high=10)
        check_range("RemoteRecommender.max_response_mb", self.max_response_mb, low=0, low_open=True)
        if not hasattr(self, "sync_"):
            health = self._request("/v1/health")
            if not isinstance(health, dict) or health.get("protocol") != PROTOCOL:
                raise RemoteRecommenderError(
                    f"{self.url} does not speak {PROTOCOL}: /v1/health said {str(health)[:200]}"
                )
            every = health.get("retrain_every", 1)
            if not isinstance(every, int) or every < 1:
                raise RemoteRecommenderError(f"{self.url}: bad retrain_every {every!r}")
            self.retrain_every = every
            self.service_name_ = str(health.get("name", "remote"))
            self.sync_ = SyncState()
        self.n_items_, self.step_ = data.n_items, int(data.step)
        self._request("/v1/fit", {"sync": sync_payload(data, self.sync_)})
        return self

    def observe(self, batch: StepBatch) -> None:
        """Send the step's changes, impressions and clicks."""
        self.n_items_, self.step_ = batch.data.n_items, int(batch.data.step)
        self._request(
            "/v1/observe",
            {
                "sync": sync_payload(batch.data, self.sync_),
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
        answer = self._request(
            "/v1/recommend",
            {
                "step": self.step_,
                "users": np.asarray(users).tolist(),
                "n": int(n),
                "rng_state": rng.bit_generator.state,
            },
        )
        items, scores = self._validate(answer, len(users), n)
        self._advance(rng, answer.get("rng_state"))
        return items, scores

    def related(self, items: np.ndarray, n: int) -> np.ndarray:
        """Watch-next lists from the service (``-1`` padded), validated like slates."""
        answer = self._request("/v1/related", {"items": np.asarray(items).tolist(), "n": int(n)})
        ids, _ = self._validate({**answer, "scores": None}, len(items), n, scores=False)
        return ids

    # -- validation ------------------------------------------------------------------
    def _fail(self, what: str) -> RemoteRecommenderError:
        return RemoteRecommenderError(f"remote recommender at {self.url} {what}")

    def _validate(
        self, answer: Any, n_rows: int, n: int, *, scores: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise self._fail(f"sent no 'items' list: {str(answer)[:120]}")
        rows = answer["items"]
        if len(rows) != n_rows or any(not isinstance(r, list) or len(r) != n for r in rows):
            raise self._fail(f"sent items of the wrong shape (expected {n_rows} lists of {n})")
        if not all(isinstance(v, int) and not isinstance(v, bool) for r in rows for v in r):
            raise self._fail("sent non-integer item ids")
        items = np.array(rows, dtype=np.int64).reshape(n_rows, n)
        bad = items[(items < -1) | (items >= self.n_items_)]
        if bad.size:
            raise self._fail(
                f"sent item ids outside -1..{self.n_items_ - 1}: {sorted(set(bad.tolist()))[:5]}"
            )
        if has_repeats(items):
            raise self._fail("sent an item twice in one user's list")
        if not scores:
            return items, np.zeros(items.shape, dtype=np.float32)
        raw_scores = answer.get("scores")
        if (
            not isinstance(raw_scores, list)
            or len(raw_scores) != n_rows
            or any(not isinstance(r, list) or len(r) != n for r in raw_scores)
        ):
            raise self._fail(f"sent scores of the wrong shape (expected {n_rows} lists of {n})")
        flat = [v for r in raw_scores for v in r]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
            raise self._fail("sent non-numeric scores")
        if any(math.isnan(v) for v in flat):
            raise self._fail("sent NaN scores")
        return items, np.array(flat, dtype=np.float32).reshape(n_rows, n)

    def _advance(self, rng: np.random.Generator, state: Any) -> None:
        """Move ``rng`` to the state the service reached, after checking its form."""
        current = rng.bit_generator.state
        if (
            not isinstance(state, dict)
            or state.get("bit_generator") != current["bit_generator"]
            or not isinstance(state.get("state"), dict)
            or set(state["state"]) != set(current["state"])
            or not all(isinstance(v, int) for v in state["state"].values())
        ):
            raise self._fail(f"sent an invalid generator state: {str(state)[:120]}")
        rng.bit_generator.state = state


@dataclass
class RemoteRecommenderConf:
    """Hydra config of :class:`RemoteRecommender`."""

    _target_: str = "ampaudit.recommenders.RemoteRecommender"
    url: str = "http://127.0.0.1:8765"
    timeout_s: float = 30.0
    retries: int = 2
    max_response_mb: float = 64.0
