"""The HTTP/JSON protocol between the ``remote`` adapter and a recommender service.

Both sides use these helpers, so the wire format lives in one place (and in
``openapi.yaml`` beside this file). Arrays travel as JSON lists; float32 values
survive the round trip exactly (a float32 is exactly representable as the JSON
float64 that carries it). Random generators travel as their NumPy bit-generator
state, so a service can draw exactly what an in-process recommender would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ampaudit.core.platform import PlatformData

__all__ = ["PROTOCOL", "SyncState", "csr_from_json", "csr_to_json", "sync_payload"]

#: Protocol name and version, reported by ``GET /v1/health``.
PROTOCOL = "ampaudit-recommender/1"


def csr_to_json(mat: sp.csr_matrix) -> dict[str, Any]:
    """A CSR matrix's structure (values are 1) as JSON lists."""
    return {
        "shape": list(mat.shape),
        "indptr": mat.indptr.tolist(),
        "indices": mat.indices.tolist(),
    }


def csr_from_json(obj: dict[str, Any]) -> sp.csr_matrix:
    """Rebuild a binary CSR matrix from :func:`csr_to_json` output."""
    indices = np.asarray(obj["indices"], dtype=np.int32)
    return sp.csr_matrix(
        (
            np.ones(len(indices), dtype=np.float32),
            indices,
            np.asarray(obj["indptr"], dtype=np.int64),
        ),
        shape=tuple(obj["shape"]),
    )


class SyncState:
    """What the adapter has already told the service (items, availability, events)."""

    def __init__(self) -> None:
        self.started = False
        self.n_items = 0
        self.n_events = 0
        self.available = np.zeros(0, dtype=bool)


def sync_payload(data: PlatformData, state: SyncState) -> dict[str, Any]:
    """The platform changes since the last sync, and advance ``state``.

    The first payload carries the users, the follow and social graphs; every
    payload carries new items (public features only), availability changes and
    new consumption events.
    """
    payload: dict[str, Any] = {"step": int(data.step)}
    if not state.started:
        payload["n_users"] = int(data.n_users)
        payload["follows"] = csr_to_json(data.follows)
        if data.social is not None:
            payload["social"] = csr_to_json(data.social)
        state.started = True
    items = data.items
    lo, hi = state.n_items, data.n_items
    if hi > lo:
        payload["new_items"] = {
            "features": items.features[lo:hi].tolist(),
            "created": items.created[lo:hi].tolist(),
            "creator": items.creator[lo:hi].tolist(),
            "score": items.score[lo:hi].tolist(),
        }
    old = np.ones(hi, dtype=bool)
    old[: len(state.available)] = state.available[:hi]
    now = np.asarray(items.available[:hi])
    payload["removed"] = np.flatnonzero(old & ~now).tolist()
    payload["restored"] = np.flatnonzero(~old & now).tolist()
    state.available = now.copy()
    state.n_items = hi
    log = data.log
    e0, e1 = state.n_events, len(log)
    payload["events"] = {
        "users": log.users[e0:e1].tolist(),
        "items": log.items[e0:e1].tolist(),
        "steps": log.steps[e0:e1].tolist(),
        "channels": log.channels[e0:e1].tolist(),
    }
    state.n_events = e1
    return payload
