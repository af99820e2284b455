"""Choice model and opinion dynamics."""

from __future__ import annotations

import numpy as np
from ampaudit.simulations.behavior import (
    content_drift,
    taste_drift,
)
from ampaudit.simulations.choice import CHOICE_MODELS, choose
from ampaudit.simulations.population import Population
from hypothesis import given, settings
from hypothesis import strategies as st


def _population(x, latitude, susceptibility=None):
    n = len(x)
    x = np.asarray(x, dtype=float)
    return Population(
        x=x.copy(),
        x0=x.copy(),
        taste=np.tile(np.eye(1, 4, dtype=np.float32), (n, 1)),
        susceptibility=np.ones(n) if susceptibility is None else np.asarray(susceptibility),
        appetite=np.zeros(n),
        latitude=np.asarray(latitude, dtype=float),
        activity=np.ones(n),
        community=np.zeros(n, dtype=np.int32),
        at_risk=np.zeros(n, dtype=bool),
    )


def test_choice_frequencies_match_logit_probabilities():
    rng = np.random.default_rng(2026)
    n = 200_000
    utilities = np.array([1.2, 0.4, -np.inf, 0.9, -0.5])
    outside = 0.7
    chosen = choose(np.tile(utilities, (n, 1)), outside, rng.random((n, 6)))
    expo = np.exp(np.append(utilities, outside))
    expected = expo / expo.sum()
    observed = np.array([(chosen == j).mean() for j in range(5)] + [(chosen == -1).mean()])
    # 5 standard errors of a proportion at n = 200,000 (< 0.6 percentage points)
    tolerance = 5 * np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(observed - expected) <= tolerance + 1e-12)
    assert observed[2] == 0.0  # a missing option is never chosen


def test_position_bias_lowers_lower_slots():
    rng = np.random.default_rng(1)
    n = 50_000
    util = np.zeros((n, 3)) - 0.7 * np.log1p(np.arange(3))
    chosen = choose(util, 0.0, rng.random((n, 4)))
    freq = np.bincount(chosen[chosen >= 0], minlength=3)
    assert freq[0] > freq[1] > freq[2]


def test_proportional_choice_matches_luce_probabilities():
    rng = np.random.default_rng(7)
    n = 200_000
    utilities = np.array([1.2, 0.4, -np.inf, -0.3, 0.9])
    outside = 0.5
    chosen = choose(np.tile(utilities, (n, 1)), outside, rng.random((n, 6)), model="proportional")
    weights = np.maximum(np.append(np.nan_to_num(utilities, neginf=0), outside), 0)
    expected = weights / weights.sum()
    observed = np.array([(chosen == j).mean() for j in range(5)] + [(chosen == -1).mean()])
    tolerance = 5 * np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(observed - expected) <= tolerance + 1e-12)
    assert observed[2] == observed[3] == 0.0  # missing and negative options never chosen


def test_uniform_choice_spreads_over_offered_items_only():
    rng = np.random.default_rng(3)
    n = 60_000
    util = np.tile([5.0, -np.inf, -2.0, 0.0], (n, 1))
    chosen = choose(util, 10.0, rng.random((n, 5)), model="uniform")
    freq = np.bincount(chosen, minlength=4) / n
    assert freq[1] == 0  # never the missing item
    assert (chosen >= 0).all()  # nor the outside option
    np.testing.assert_allclose(freq[[0, 2, 3]], 1 / 3, atol=0.01)


def test_top1_and_rank_discounted_pick_the_best_and_break_ties_at_random():
    rng = np.random.default_rng(4)
    n = 20_000
    util = np.tile([1.0, 3.0, 3.0, -np.inf], (n, 1))
    top = choose(util, 0.0, rng.random((n, 5)), model="top1")
    assert set(np.unique(top)) == {1, 2}  # ties go either way, not to the lower position
    assert abs((top == 1).mean() - 0.5) < 0.02
    assert (choose(util, 9.0, rng.random((n, 5)), model="top1") == -1).all()
    # 3·2^-0.8 = 1.72 beats 3·3^-0.8 = 1.24 and 1.0: the higher slot wins the tie
    ranked = choose(util, 0.0, rng.random((n, 5)), model="rank_discounted")
    assert (ranked == 1).all()
    # a strong discount makes the top slot win
    first = choose(util, 0.0, rng.random((n, 5)), model="rank_discounted", rank_discount=3.0)
    assert (first == 0).all()


def test_every_choice_model_uses_the_draws_it_is_given_and_nothing_else():
    util = np.random.default_rng(0).normal(size=(50, 6))
    draws = np.random.default_rng(1).random((50, 7))
    for model in CHOICE_MODELS:
        a = choose(util, 0.2, draws, model=model)
        b = choose(util, 0.2, draws.copy(), model=model)
        np.testing.assert_array_equal(a, b)
        assert ((a >= -1) & (a < 6)).all()


opinions = st.lists(st.floats(0, 1), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(opinions, st.data())
def test_content_drift_stays_in_unit_interval_and_latitude(xs, data):
    n = len(xs)
    e = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    lat = np.array(data.draw(st.lists(st.floats(0.01, 1), min_size=n, max_size=n)))
    pop = _population(xs, lat)
    before = pop.x.copy()
    content_drift(pop, np.arange(n), e, rate=0.5)
    assert np.all((pop.x >= 0) & (pop.x <= 1))
    outside = np.abs(e - before) >= lat
    assert np.array_equal(pop.x[outside], before[outside])  # no movement beyond latitude
    # inside: moves toward the item, never past it
    inside = ~outside
    assert np.all(np.abs(e[inside] - pop.x[inside]) <= np.abs(e[inside] - before[inside]) + 1e-12)


def test_taste_drift():
    pop = _population([0.9], [0.2])
    taste_drift(pop, np.array([0]), np.array([[0, 1, 0, 0]], dtype=np.float32), 0.5)
    assert np.isclose(np.linalg.norm(pop.taste[0]), 1.0, atol=1e-6)
    assert np.isclose(pop.taste[0, 0], pop.taste[0, 1], atol=1e-6)


def test_no_model_picks_from_an_empty_slate_even_without_an_outside_option():
    empty = np.full((3, 4), -np.inf)
    draws = np.random.default_rng(0).random((3, 5))
    for model in CHOICE_MODELS:
        assert (choose(empty, -np.inf, draws, model=model) == -1).all(), model
