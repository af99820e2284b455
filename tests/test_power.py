"""Replicates for a conclusive paired difference: formula, edge cases and realised power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from ampaudit.power import replicates_for_power


def _pilot(d: float, s: float) -> np.ndarray:
    """Three values with mean exactly ``d`` and sample SD exactly ``s``."""
    return np.array([d - s, d, d + s])


@given(st.floats(0.05, 5.0), st.floats(0.05, 5.0))
def test_smallest_count_that_satisfies_the_t_formula(d, s):
    needed = replicates_for_power(_pilot(d, s), max_n=10_000)

    def enough(m):
        t_sum = stats.t.ppf(0.975, m - 1) + stats.t.ppf(0.8, m - 1)
        return m >= (t_sum * s / d) ** 2

    if math.isinf(needed):  # beyond the search
        assert not enough(10_000)
        return
    n = int(needed)
    assert n >= 2
    assert enough(n)
    assert n == 2 or not enough(n - 1)


def test_larger_effects_need_fewer_replicates():
    counts = [replicates_for_power(_pilot(d, 1.0)) for d in (0.25, 0.5, 1.0, 2.0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > 100
    assert counts[-1] <= 5


def test_no_effect_and_too_few_values():
    assert math.isinf(replicates_for_power(np.array([1.0, -1.0, 0.0])))
    assert math.isnan(replicates_for_power(np.array([0.3])))
    assert replicates_for_power(np.array([0.2, 0.2, np.nan])) == 2.0  # no spread


def test_realised_power_is_at_least_the_target():
    # with the true d and s, intervals of n replicates exclude 0 in >= 80% of audits
    d, s = 0.6, 1.0
    n = int(replicates_for_power(_pilot(d, s)))
    rng = np.random.default_rng(12)
    draws = rng.normal(d, s, size=(4000, n))
    half = stats.t.ppf(0.975, n - 1) * draws.std(axis=1, ddof=1) / np.sqrt(n)
    power = float(np.mean(draws.mean(axis=1) - half > 0))
    assert power == pytest.approx(0.8, abs=0.03)
