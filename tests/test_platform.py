"""The interaction log's incrementally built consumption matrix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ampaudit.core.platform import InteractionLog


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 8)), min_size=1, max_size=8),
    st.integers(0, 2**31),
)
def test_incremental_matches_full_rebuild_and_never_mutates_old(steps, seed):
    rng = np.random.default_rng(seed)
    log = InteractionLog(n_users=7, capacity=2)
    n_items, seen = 3, []
    for t, (n_events, grow) in enumerate(steps):
        n_items += grow
        log.append(
            rng.integers(7, size=n_events),
            rng.integers(n_items, size=n_events),
            t,
            np.zeros(n_events, dtype=np.int8),
        )
        mat = log.consumed(n_items)
        dense = np.zeros((7, n_items))
        np.add.at(dense, (log.users, log.items), 1)
        np.testing.assert_array_equal(mat.toarray(), dense)
        seen.append((mat, mat.toarray().copy()))
    for mat, snapshot in seen:  # matrices handed out earlier are unchanged
        np.testing.assert_array_equal(mat.toarray(), snapshot)


def test_log_since_finds_the_first_event_of_a_step():
    log = InteractionLog(n_users=3)
    for step, n in ((0, 2), (1, 0), (2, 3), (5, 1)):
        log.append(np.zeros(n, dtype=np.int64), np.arange(n), step, np.zeros(n, dtype=np.int8))
    assert [log.since(t) for t in (-3, 0, 1, 2, 3, 5, 6)] == [0, 0, 2, 2, 5, 5, 6]
