"""Chunked top-n selection over score matrices: the kernel every scorer shares."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = [
    "chunk_rows",
    "has_repeats",
    "mask_consumed",
    "random_member",
    "related_by_similarity",
    "tie_keys",
    "top_n",
    "top_n_chunked",
]

#: Default memory budget for one dense score chunk, in bytes.
DEFAULT_CHUNK_BYTES = 64 * 2**20


def chunk_rows(n_items: int, budget_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that a float32 ``(rows, n_items)`` block fits the budget."""
    return max(1, budget_bytes // (4 * max(n_items, 1)))


def mask_consumed(scores: np.ndarray, users: np.ndarray, consumed: sp.csr_matrix) -> None:
    """Set ``scores[r, j] = -inf`` in place where user ``users[r]`` consumed item ``j``.

    Parameters
    ----------
    scores : ndarray of shape (len(users), n_items)
        Score block (modified in place).
    users : ndarray of shape (n_rows,)
        User id of each row.
    consumed : scipy.sparse.csr_matrix of shape (n_users, >= n_items)
        Consumption matrix; columns past ``n_items`` are ignored.
    """
    indptr = consumed.indptr
    starts, ends = indptr[users], indptr[users + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return
    rows = np.repeat(np.arange(len(users)), lengths)
    # positions of each user's entries in consumed.indices, without a Python loop
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = consumed.indices[np.repeat(starts, lengths) + offsets]
    keep = cols < scores.shape[1]
    scores[rows[keep], cols[keep]] = -np.inf


def tie_keys(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A pseudo-random uint64 key per (row id, column id) pair, fixed by ``seed``.

    splitmix64 (Steele, Lea & Flood 2014) of a mix of the three: keys are
    independent of id order, and the same pair gets the same key in any batch, so a
    deterministic recommender gives a user the same list alone as in a batch.

    Examples
    --------
    >>> a = tie_keys(7, np.array([[0], [1]]), np.array([[0, 1], [0, 1]]))
    >>> a.dtype, len(np.unique(a))
    (dtype('uint64'), 4)
    """
    with np.errstate(over="ignore"):
        z = (
            np.uint64(seed % 2**64)
            + np.asarray(rows, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            + np.asarray(cols, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _redo_boundary_ties(
    scores: np.ndarray,
    part: np.ndarray,
    row_ids: np.ndarray,
    seed: int,
) -> None:
    """Re-pick, in place, rows whose m-th best value is shared beyond the m taken.

    ``argpartition`` settles such a tie by memory position, i.e. by item id; here
    the taken items are all those strictly above the boundary value plus the tied
    ones with the smallest :func:`tie_keys`.
    """
    m = part.shape[1]
    boundary = np.take_along_axis(scores, part, axis=1).min(axis=1)
    at_or_above = np.count_nonzero(scores >= boundary[:, None], axis=1)
    rows = np.flatnonzero((at_or_above > m) & (boundary > -np.inf))
    if len(rows) == 0:
        return
    sub, v = scores[rows], boundary[rows]
    ge_r, ge_c = np.nonzero(sub >= v[:, None])
    above = sub[ge_r, ge_c] > v[ge_r]
    above_r, above_c = ge_r[above], ge_c[above]
    tied_r, tied_c = ge_r[~above], ge_c[~above]
    need = m - np.bincount(above_r, minlength=len(rows))
    order = np.lexsort((tie_keys(seed, row_ids[rows][tied_r], tied_c), tied_r))
    tied_r, tied_c = tied_r[order], tied_c[order]
    rank = np.arange(len(tied_r)) - np.searchsorted(tied_r, tied_r)
    take = rank < need[tied_r]
    r = np.concatenate([above_r, tied_r[take]])
    c = np.concatenate([above_c, tied_c[take]])
    part[rows] = c[np.argsort(r, kind="stable")].reshape(len(rows), m)


def top_n(
    scores: np.ndarray,
    n: int,
    *,
    row_ids: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` columns per row, best first; ``-inf`` entries become ``-1`` padding.

    Ties are broken by :func:`tie_keys` of ``(seed, row id, column)``, never by id
    order: with binary or count data ties are common, and breaking them toward low
    (or high) ids would favour whatever the ids happen to be sorted by.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_items)
        Scores; ``-inf`` marks items that must not be recommended; NaN is
        treated as ``-inf``.
    n : int
        Number of items to return per row.
    row_ids : ndarray of shape (n_rows,), optional
        Who each row is (user ids); default ``0..n_rows-1``.
    seed : int, default=0
        Tie-breaking seed; the simulator passes one drawn from the run's stream.

    Returns
    -------
    items : ndarray of shape (n_rows, n)
        int64 item ids, -1 padded.
    top_scores : ndarray of shape (n_rows, n)
        float32 scores (``-inf`` where padded).

    Examples
    --------
    >>> items, s = top_n(np.array([[0.1, 0.9, -np.inf, 0.5]]), 3)
    >>> items.tolist()
    [[1, 3, 0]]
    """
    n_rows, n_items = scores.shape
    row_ids = np.arange(n_rows) if row_ids is None else np.asarray(row_ids)
    m = min(n, n_items)
    if m < n_items:
        # partition at the m-th largest without a negated copy of the block
        part = np.argpartition(scores, n_items - m, axis=1)[:, n_items - m :]
        # NaN partitions as the largest value: only rows holding one need a copy
        bad = np.flatnonzero(np.isnan(np.take_along_axis(scores, part, axis=1)).any(axis=1))
        if len(bad):
            scores = scores.copy()
            scores[bad] = np.where(np.isnan(scores[bad]), -np.inf, scores[bad])
            part[bad] = np.argpartition(scores[bad], n_items - m, axis=1)[:, n_items - m :]
        _redo_boundary_ties(scores, part, row_ids, seed)
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
        scores = np.where(np.isnan(scores), -np.inf, scores)
    part_scores = np.take_along_axis(scores, part, axis=1)
    # best first; equal scores in tie-key order
    keys = tie_keys(seed, row_ids[:, None], part)
    order = np.lexsort((keys, -part_scores.astype(np.float64)), axis=1)
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    invalid = top == -np.inf  # +inf is a (very) good score, not padding
    items[invalid] = -1
    if m < n:
        items = np.pad(items, ((0, 0), (0, n - m)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, n - m)), constant_values=-np.inf)
    return items, top


def top_n_chunked(
    users: np.ndarray,
    n: int,
    score_block: Callable[[np.ndarray], np.ndarray],
    *,
    n_items: int,
    available: np.ndarray,
    consumed: sp.csr_matrix | None,
    budget_bytes: int = DEFAULT_CHUNK_BYTES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Score users in memory-bounded chunks and keep each user's top ``n`` items.

    Parameters
    ----------
    users : ndarray of shape (n_users_batch,)
        Users to recommend for.
    n : int
        Slate length to return.
    score_block : callable
        ``score_block(user_chunk) -> ndarray of shape (len(user_chunk), n_items)``;
        may return a fresh float32 array that this function overwrites.
    n_items : int
        Number of items to score.
    available : ndarray of shape (n_items,)
        Availability mask; unavailable items are never returned.
    consumed : scipy.sparse.csr_matrix or None
        Items already consumed per user, excluded when given.
    budget_bytes : int, default=64 MiB
        Memory budget for one dense score block.
    seed : int, default=0
        Tie-breaking seed (see :func:`top_n`).

    Returns
    -------
    items, scores : ndarray of shape (len(users), n)
        As :func:`top_n`.
    """
    out_items = np.full((len(users), n), -1, dtype=np.int64)
    out_scores = np.full((len(users), n), -np.inf, dtype=np.float32)
    if n_items == 0 or len(users) == 0:
        return out_items, out_scores
    unavailable = np.flatnonzero(~available[:n_items])
    step = chunk_rows(n_items, budget_bytes)
    for start in range(0, len(users), step):
        chunk = users[start : start + step]
        block = score_block(chunk)
        if len(unavailable):
            block[:, unavailable] = -np.inf
        if consumed is not None:
            mask_consumed(block, chunk, consumed)
        items, scores = top_n(block, n, row_ids=chunk, seed=seed)
        out_items[start : start + len(chunk)] = items
        out_scores[start : start + len(chunk)] = scores
    return out_items, out_scores


def related_by_similarity(
    vectors: np.ndarray, items: np.ndarray, n: int, *, seed: int = 0
) -> np.ndarray:
    """The ``n`` items most cosine-similar to each of ``items`` (never the item itself).

    Parameters
    ----------
    vectors : ndarray of shape (n_items, n_dims)
        Item representations (topic vectors, latent factors).
    items : ndarray of shape (m,)
    n : int
    seed : int, default=0
        Tie-breaking seed (see :func:`top_n`).

    Returns
    -------
    ndarray of shape (m, n)
        int64 ids, best first, -1 padded.

    Examples
    --------
    >>> v = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> related_by_similarity(v, np.array([0, 2]), 1).tolist()
    [[1], [1]]
    """
    items = np.asarray(items, dtype=np.int64)
    norms = np.linalg.norm(vectors, axis=1)
    unit = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors), where=norms[:, None] > 0)
    sim = (unit[items] @ unit.T).astype(np.float32)
    sim[np.arange(len(items)), items] = -np.inf
    return top_n(sim, n, row_ids=items, seed=seed)[0]


def has_repeats(items: np.ndarray) -> bool:
    """Whether any row of ``items`` holds an id twice (``-1`` padding never counts).

    Examples
    --------
    >>> has_repeats(np.array([[1, -1, -1], [2, 3, 2]])), has_repeats(np.array([[1, -1, -1]]))
    (True, False)
    """
    padded = np.where(items >= 0, items, -np.arange(1, items.shape[1] + 1))
    rows = np.sort(padded, axis=1)
    return bool((rows[:, 1:] == rows[:, :-1]).any())


def random_member(
    indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Entry ``floor(u·len)`` of each CSR row: a uniform pick given uniforms ``u``.

    Parameters
    ----------
    indptr, indices : ndarray
        A CSR structure (e.g. a graph's adjacency).
    rows : ndarray of shape (n,)
    u : ndarray of shape (n,)
        Uniforms in [0, 1), drawn by the caller (fixed shape, common random numbers).

    Returns
    -------
    ndarray of shape (n,)
        The picked column of each row, ``-1`` for empty rows.

    Examples
    --------
    >>> random_member(np.array([0, 2, 2]), np.array([5, 7]), np.array([0, 1]), np.array([0.9, 0.5]))
    array([ 7, -1])
    """
    if len(indices) == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offset = np.minimum((u * lengths).astype(np.int64), np.maximum(lengths - 1, 0))
    picked = indices[np.minimum(starts + offset, len(indices) - 1)]
    return np.where(lengths > 0, picked, -1).astype(np.int64)
