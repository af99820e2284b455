"""Polarisation and diversity measures: REFERENCES §1 vectors and hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from ampaudit.polarization import (
    bimodality_coefficient,
    effective_clusters,
    entropy,
    esteban_ray,
    hill_number,
    jaccard_homogenisation,
    lorenz_curve,
    mean_pairwise_distance,
    reachability,
)


def test_bimodality_reference_vectors():
    values = np.arange(1, 12)
    uni = np.repeat(values, [3, 5, 5, 10, 17, 20, 17, 10, 5, 5, 3])
    bi = np.repeat(values, [2, 26, 14, 6, 2, 0, 2, 6, 14, 26, 2])
    assert bimodality_coefficient(uni) == pytest.approx(0.336, abs=5e-4)
    assert bimodality_coefficient(bi) == pytest.approx(0.795, abs=5e-4)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.6])
def test_esteban_ray_two_equal_masses_and_point_mass(alpha):
    assert esteban_ray(np.array([0.0] * 5 + [1.0] * 5), alpha=alpha) == pytest.approx(
        2 * 0.5 ** (2 + alpha)
    )
    assert esteban_ray(np.full(10, 0.4), alpha=alpha) == 0.0


def test_effective_clusters():
    assert effective_clusters(np.array([5, 5])) == 2.0
    assert effective_clusters(np.array([90, 10])) == pytest.approx(1.22, abs=0.005)


def test_mean_pairwise_distance_exact_and_uniform():
    x = np.array([0.1, 0.5, 0.9, 0.2])
    brute = np.abs(np.subtract.outer(x, x)).sum() / (4 * 3)
    assert mean_pairwise_distance(x) == pytest.approx(brute)
    u = np.random.default_rng(0).random(20000)
    assert mean_pairwise_distance(u) == pytest.approx(1 / 3, abs=0.01)


def test_entropy_and_hill():
    assert entropy(np.ones(5)) == pytest.approx(np.log(5))
    assert hill_number(np.ones(5)) == pytest.approx(5.0)
    assert hill_number(np.array([1, 1, 0]), q=2) == pytest.approx(2.0)


def test_lorenz_curve_of_equal_values_is_the_diagonal():
    x, y = lorenz_curve(np.ones(4))
    np.testing.assert_allclose(x, y)


def test_jaccard_identical_sets_is_one():
    consumed = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]]))
    assert jaccard_homogenisation(sp.csr_matrix(np.array([[1, 1], [1, 1]]))) == 1.0
    assert jaccard_homogenisation(consumed) == pytest.approx((1 + 1 + 1 / 3) / 3)


def test_reachability_is_monotone_in_walk_length():
    rng = np.random.default_rng(0)
    t = rng.random((20, 20))
    t /= t.sum(axis=1, keepdims=True)
    source = np.arange(20) < 5
    target = np.arange(20) >= 18
    values = [reachability(t, source, target, L) for L in range(6)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert values[0] == 0.0
