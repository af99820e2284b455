"""The HTTP/JSON protocol between the ``remote`` adapter and a recommender service.

Both sides use these helpers, so the wire format lives in one place (and in
``openapi.yaml`` beside this file, which is the normative text: a service in any
language is written from it). Arrays travel as JSON lists; float32 values survive
the round trip exactly (a float32 is exactly representable as the JSON float64
that carries it). Random generators travel as their NumPy PCG64 state with the two
128-bit words as decimal strings, because JSON parsers that store numbers as
doubles would corrupt them.

An adapter may also ask (``Accept``) for ``/v1/recommend`` answers in the compact
binary encoding :data:`ARRAYS_MEDIA_TYPE` (:func:`arrays_to_bytes`): the same
answer with the id and score arrays as raw little-endian int32/float32 instead of
JSON lists. It is an optional speed-up, never required: a service that ignores
``Accept`` answers JSON and the adapter reads that.

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

import json
import re
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp

from ampaudit.core.platform import PlatformData

__all__ = [
    "ARRAYS_MEDIA_TYPE",
    "CAPABILITIES",
    "PROTOCOL",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "SyncState",
    "accepts_arrays",
    "arrays_from_bytes",
    "arrays_to_bytes",
    "compatible",
    "csr_from_json",
    "csr_to_json",
    "loads",
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

#: Media type of the binary encoding of ``/v1/recommend`` answers (see openapi.yaml).
ARRAYS_MEDIA_TYPE = "application/x-ampaudit-arrays"

_ARRAYS_MAGIC = b"AMPA"
_ARRAYS_ALIGN = 8  # the header is space-padded so the arrays start 8-byte aligned
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


def loads(raw: bytes) -> Any:
    """Parse a JSON message: orjson, or Python's parser for what orjson refuses.

    orjson is several times faster on the long id lists, but refuses the
    ``NaN``/``Infinity`` literals that Python's ``json`` writes (a service written
    in Python may send them, and the reference service pads scores with
    ``-Infinity``); those few messages go through ``json``, so both parsers
    accept exactly what ``json.loads`` accepts.

    Raises
    ------
    ValueError
        If neither parser accepts ``raw``.

    Examples
    --------
    >>> loads(b'{"scores": [1.5, -Infinity]}')
    {'scores': [1.5, -inf]}
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def accepts_arrays(accept: str | None) -> bool:
    """Whether an ``Accept`` header prefers :data:`ARRAYS_MEDIA_TYPE` to JSON.

    The arrays encoding wins when it is listed with a non-zero quality at least
    that of ``application/json`` (an absent JSON entry counts as quality 0).

    Examples
    --------
    >>> accepts_arrays("application/x-ampaudit-arrays, application/json;q=0.5")
    True
    >>> accepts_arrays("application/json"), accepts_arrays(None)
    (False, False)
    >>> accepts_arrays("application/x-ampaudit-arrays;q=0, application/json")
    False
    """
    quality: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    mine = quality.get(ARRAYS_MEDIA_TYPE, 0.0)
    return mine > 0 and mine >= quality.get("application/json", 0.0)


def arrays_to_bytes(header: Mapping[str, Any], items: Any, scores: Any) -> bytes:
    """A recommend answer in the binary encoding :data:`ARRAYS_MEDIA_TYPE`.

    Layout (openapi.yaml, ``RecommendArrays``): ``AMPA``, the header length ``H``
    as a little-endian uint32, ``H`` bytes of a UTF-8 JSON object (``header`` plus
    ``shape: [rows, n]``, space-padded so that ``8 + H`` is a multiple of 8), then
    ``rows × n`` little-endian int32 ids and ``rows × n`` little-endian float32
    scores, both row-major.

    Parameters
    ----------
    header : mapping
        The answer's other fields (``session``, ``seq``, ``rng_state``).
    items : array-like of shape (rows, n)
        Item ids (each fits an int32).
    scores : array-like of shape (rows, n)
        Scores; cast to float32 (the in-process type, so they travel exactly).

    Examples
    --------
    >>> raw = arrays_to_bytes({"seq": 2}, [[3, -1]], [[0.5, -np.inf]])
    >>> raw[:4], len(raw) % 8, arrays_from_bytes(raw)[1].tolist()
    (b'AMPA', 0, [[3, -1]])
    """
    ids = np.asarray(items, dtype=np.int64)
    if ids.ndim != 2 or (ids.size and (ids.min() < -(2**31) or ids.max() >= 2**31)):
        raise ValueError("items must be a 2-d array of int32 ids")
    values = np.asarray(scores, dtype=np.float32)
    if values.shape != ids.shape:
        raise ValueError(f"scores of shape {values.shape} for items of shape {ids.shape}")
    # Python's json: the header is small, and it writes any integer (orjson stops at 64 bits)
    head = json.dumps({**header, "shape": list(ids.shape)}, separators=(",", ":")).encode()
    head += b" " * (-(len(head) + 8) % _ARRAYS_ALIGN)
    return b"".join(
        [
            _ARRAYS_MAGIC,
            struct.pack("<I", len(head)),
            head,
            ids.astype("<i4").tobytes(),
            values.astype("<f4").tobytes(),
        ]
    )


def arrays_from_bytes(raw: bytes) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Split a :data:`ARRAYS_MEDIA_TYPE` body into its header, ids and scores.

    Only the layout is checked here (the lengths must add up exactly, so a claimed
    shape never allocates more than was received); what the values may be is the
    reader's check.

    Returns
    -------
    header : dict
        The JSON header, ``shape`` included.
    items : ndarray of shape (rows, n)
        int32 ids, read-only (a view of ``raw``).
    scores : ndarray of shape (rows, n)
        float32 scores, read-only.

    Raises
    ------
    ProtocolError
        Saying which part of the layout is wrong.
    """
    if len(raw) < 8 or raw[:4] != _ARRAYS_MAGIC:
        raise ProtocolError(f"does not start with {_ARRAYS_MAGIC!r} and a header length")
    (size,) = struct.unpack_from("<I", raw, 4)
    if 8 + size > len(raw):
        raise ProtocolError(f"declares a {size}-byte header in a {len(raw)}-byte body")
    try:
        header = loads(raw[8 : 8 + size])  # exactly what a JSON answer may hold
    except ValueError:
        start = raw[8 : 8 + min(size, 60)]
        raise ProtocolError(f"has a header that is not JSON: {start!r}") from None
    if not isinstance(header, dict):
        raise ProtocolError("has a header that is not a JSON object")
    shape = header.get("shape")
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(type(v) is int and 0 <= v < 2**31 for v in shape)
    ):
        raise ProtocolError(f"has no shape [rows, n] of two integers >= 0: {str(shape)[:60]}")
    count = shape[0] * shape[1]
    start = 8 + size
    if len(raw) - start != 8 * count:
        raise ProtocolError(
            f"holds {len(raw) - start} array bytes, but shape {shape} "
            f"needs {8 * count} (int32 ids, then float32 scores)"
        )
    items = np.frombuffer(raw, dtype="<i4", count=count, offset=start).reshape(shape)
    scores = np.frombuffer(raw, dtype="<f4", count=count, offset=start + 4 * count)
    return header, items, scores.reshape(shape)


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

    The first payload carries the users, the run's tie-breaking seed and the follow
    and social graphs (complete snapshots; the simulated graphs do not change during
    an audit); every payload
    carries new items (public features only), availability changes and new
    consumption events.
    """
    payload: dict[str, Any] = {"step": int(data.step)}
    if not state.started:
        payload["n_users"] = int(data.n_users)
        payload["seed"] = int(data.seed)
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
