"""The HTTP/JSON protocol between the ``remote`` adapter and a recommender service.

Both sides use these helpers, so the wire format lives in one place (and in
``openapi.yaml`` beside this file, which is the normative text: a service in any
language is written from it). Arrays travel as JSON lists; float32 values survive
the round trip exactly (a float32 is exactly representable as the JSON float64
that carries it). Random generators travel as their NumPy PCG64 state with the two
128-bit words as decimal strings, because JSON parsers that store numbers as
doubles would corrupt them.

Every request but ``GET /v1/health`` belongs to a **session** (one audit arm, or
one conformance check) and carries ``session`` and a sequence number ``seq``
(1, 2, ...). A service applies ``seq = last + 1``, answers a repeat of ``last``
with its stored answer without applying it again (so a resend after a timeout is
safe), and refuses anything else with 409. Answers echo both, and the answers to
``fit``/``observe`` report how many items, events and impressions the session
has applied, so the adapter notices a service that applied something twice or
skipped something.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from ampaudit.core.platform import PlatformData

__all__ = [
    "CAPABILITIES",
    "PROTOCOL",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "SyncState",
    "compatible",
    "csr_from_json",
    "csr_to_json",
    "rng_state_from_json",
    "rng_state_to_json",
    "sync_payload",
]

#: Protocol name, and the version this ampaudit speaks (``major.minor``).
PROTOCOL_NAME = "ampaudit-recommender"
PROTOCOL_VERSION = (1, 1)
#: What ``GET /v1/health`` reports as ``protocol``.
PROTOCOL = f"{PROTOCOL_NAME}/{PROTOCOL_VERSION[0]}.{PROTOCOL_VERSION[1]}"
#: Optional endpoints a service declares in ``capabilities``.
CAPABILITIES = ("related",)

_PROTOCOL = re.compile(rf"{PROTOCOL_NAME}/(\d+)(?:\.(\d+))?")
_WORD = re.compile(r"[0-9]{1,39}")
_U128 = 2**128
_U32 = 2**32


class ProtocolError(ValueError):
    """A message does not follow the protocol (one line saying how)."""


def compatible(protocol: object) -> bool:
    """Whether a service's declared ``protocol`` can serve this adapter.

    The same major version, and at least this minor version (1.1 added sessions,
    sequence numbers, capabilities and the string-encoded generator state).

    Examples
    --------
    >>> compatible("ampaudit-recommender/1.1"), compatible("ampaudit-recommender/1.3")
    (True, True)
    >>> compatible("ampaudit-recommender/1"), compatible("ampaudit-recommender/2.0")
    (False, False)
    """
    match = _PROTOCOL.fullmatch(protocol) if isinstance(protocol, str) else None
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return major == PROTOCOL_VERSION[0] and minor >= PROTOCOL_VERSION[1]


def rng_state_to_json(state: Mapping[str, Any]) -> dict[str, Any]:
    """A NumPy PCG64 ``bit_generator.state`` in its wire form (128-bit words as strings).

    Examples
    --------
    >>> wire = rng_state_to_json(np.random.default_rng(0).bit_generator.state)
    >>> sorted(wire), type(wire["state"]["inc"]).__name__
    (['bit_generator', 'has_uint32', 'state', 'uinteger'], 'str')
    """
    return {
        "bit_generator": state["bit_generator"],
        "state": {k: str(int(v)) for k, v in state["state"].items()},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def rng_state_from_json(wire: Any) -> dict[str, Any]:
    """Parse and range-check a wire generator state into NumPy's form.

    Raises
    ------
    ProtocolError
        Saying which part is missing or out of range.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> rng_state_from_json(rng_state_to_json(rng.bit_generator.state)) == rng.bit_generator.state
    True
    """
    if not isinstance(wire, dict):
        raise ProtocolError(f"rng_state is not an object: {str(wire)[:80]}")
    if wire.get("bit_generator") != "PCG64":
        raise ProtocolError(f"rng_state.bit_generator={wire.get('bit_generator')!r}, need 'PCG64'")
    words = wire.get("state")
    if not isinstance(words, dict) or set(words) != {"state", "inc"}:
        raise ProtocolError("rng_state.state must hold exactly 'state' and 'inc'")
    parsed = {}
    for key, text in words.items():
        # the spec's pattern [0-9]{1,39}: str.isdigit alone also takes "²", which int refuses
        if not isinstance(text, str) or not _WORD.fullmatch(text) or int(text) >= _U128:
            raise ProtocolError(
                f"rng_state.state.{key} must be a decimal string of an integer in [0, 2**128): "
                f"{str(text)[:60]!r}"
            )
        parsed[key] = int(text)
    has = wire.get("has_uint32")
    value = wire.get("uinteger")
    if type(has) is not int or has not in (0, 1):  # not 1.0 or True
        raise ProtocolError(f"rng_state.has_uint32 must be 0 or 1: {has!r}")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _U32:
        raise ProtocolError(f"rng_state.uinteger must be an integer in [0, 2**32): {value!r}")
    return {"bit_generator": "PCG64", "state": parsed, "has_uint32": has, "uinteger": value}


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
    """What the adapter has already told the service (items, availability, events).

    ``impressions`` counts the impression rows (users shown a slate) sent so far.
    """

    def __init__(self) -> None:
        self.started = False
        self.n_items = 0
        self.n_events = 0
        self.impressions = 0
        self.available = np.zeros(0, dtype=bool)


def sync_payload(data: PlatformData, state: SyncState) -> dict[str, Any]:
    """The platform changes since the last sync, and advance ``state``.

    The first payload carries the users and the follow and social graphs (complete
    snapshots; the simulated graphs do not change during an audit); every payload
    carries new items (public features only), availability changes and new
    consumption events.
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
