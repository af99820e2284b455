"""The shared chunked top-n kernel."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ampaudit.core.ranking import mask_consumed, top_n, top_n_chunked


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**31))
def test_chunked_matches_dense_reference(n_users, n_items, n, seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((n_users, n_items)).astype(np.float32)
    available = rng.random(n_items) < 0.8
    consumed = sp.random(n_users, n_items, density=0.2, format="csr", random_state=seed)
    users = np.arange(n_users)
    items, _ = top_n_chunked(
        users,
        n,
        lambda ch: scores[ch].copy(),
        n_items=n_items,
        available=available,
        consumed=consumed,
        budget_bytes=4 * n_items * 3,  # three users per chunk
    )
    ref = scores.copy()
    ref[:, ~available] = -np.inf
    ref[consumed.toarray() != 0] = -np.inf
    for u in range(n_users):
        valid = np.flatnonzero(np.isfinite(ref[u]))
        order = valid[np.lexsort((valid, -ref[u, valid]))][:n]
        expected = np.full(n, -1)
        expected[: len(order)] = order
        assert items[u].tolist() == expected.tolist()


def test_mask_consumed_ignores_columns_beyond_block():
    consumed = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]]))
    block = np.zeros((2, 3))
    mask_consumed(block, np.array([0, 1]), consumed)
    assert np.isneginf(block).tolist() == [[False, True, False], [True, False, False]]


def test_top_n_orders_ties_by_id():
    items, _ = top_n(np.array([[1.0, 2.0, 2.0, 0.5]]), 3)
    assert items.tolist() == [[1, 2, 0]]


def test_nan_is_never_recommended_and_inf_is_the_best():
    items, _ = top_n(np.array([[np.nan, 0.5, 0.2], [np.inf, 0.5, 0.2]]), 2)
    assert items.tolist() == [[1, 2], [0, 1]]
