"""Opinion-dynamics components: exact hand cases and invariants (REFERENCES §2)."""

from __future__ import annotations

import numpy as np
import pytest
from ampaudit.simulations.opinion import (
    OpinionConf,
    anchoring,
    deffuant,
    hegselmann_krause,
    opinion_step,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ampaudit.core.errors import ConfigError

X = np.array([0.0, 0.25, 0.5, 1.0])  # dyadic: every expected value below is exact


# -- Deffuant: hand-made cases ------------------------------------------------------
def test_deffuant_symmetric_pair_meets_in_the_middle_and_far_pairs_do_not_move():
    out = deffuant(X, np.array([0, 2]), np.array([1, 3]), epsilon=0.3, mu=0.5, symmetric=True)
    assert out.tolist() == [0.125, 0.125, 0.5, 1.0]
    assert X.tolist() == [0.0, 0.25, 0.5, 1.0]  # the input is left alone


def test_deffuant_one_sided_moves_only_the_initiator():
    out = deffuant(X, np.array([0, 2]), np.array([1, 3]), epsilon=0.3, mu=0.5)
    assert out.tolist() == [0.125, 0.25, 0.5, 1.0]


def test_deffuant_bound_is_strict_and_minus_one_is_no_meeting():
    out = deffuant(X, np.array([1, 0]), np.array([2, -1]), epsilon=0.25, mu=0.5, symmetric=True)
    assert out.tolist() == X.tolist()  # |0.5 - 0.25| = 0.25 is not < 0.25


def test_deffuant_per_agent_bounds_are_each_agents_own():
    latitude = np.array([0.1, 0.3, 0.3, 0.3])
    out = deffuant(X, np.array([0]), np.array([1]), epsilon=latitude, mu=0.5, symmetric=True)
    # agent 0 does not listen (0.25 >= 0.1), agent 1 does
    assert out.tolist() == [0.0, 0.125, 0.5, 1.0]


def test_pairwise_schedule_is_sequential_in_the_given_order():
    i, j = np.array([0, 1]), np.array([1, 2])
    kw = {"epsilon": 0.3, "mu": 0.5, "symmetric": True, "schedule": "pairwise"}
    # (0,1) first: both at 0.125, then 1 and 2 are 0.375 apart: no second meeting
    assert deffuant(X, i, j, order=np.array([0.1, 0.2]), **kw).tolist() == [
        0.125,
        0.125,
        0.5,
        1.0,
    ]
    # (1,2) first: both at 0.375, then 0 and 1 are 0.375 apart
    assert deffuant(X, i, j, order=np.array([0.2, 0.1]), **kw).tolist() == [
        0.0,
        0.375,
        0.375,
        1.0,
    ]


def test_per_step_schedule_splits_an_agents_pull_over_its_meetings():
    # agent 1 meets both 0 and 2: each meeting moves it (and its partner) by mu / 2
    out = deffuant(X, np.array([0, 1]), np.array([1, 2]), epsilon=0.3, mu=0.5, symmetric=True)
    assert out.tolist() == [0.0625, 0.25, 0.4375, 1.0]


def test_pairwise_matches_a_plain_sequential_loop():
    rng = np.random.default_rng(5)
    x = rng.random(30)
    i, j = rng.integers(30, size=200), rng.integers(30, size=200)
    order = rng.random(200)
    eps = rng.uniform(0.1, 0.5, size=30)
    got = deffuant(x, i, j, epsilon=eps, mu=0.3, symmetric=True, schedule="pairwise", order=order)
    want = x.copy()
    for r in np.argsort(order, kind="stable"):  # the reference: one meeting at a time
        a, b = i[r], j[r]
        gap = want[b] - want[a]
        new_a = want[a] + 0.3 * gap if abs(gap) < eps[a] else want[a]
        new_b = want[b] - 0.3 * gap if abs(gap) < eps[b] else want[b]
        want[a], want[b] = new_a, new_b
    np.testing.assert_array_equal(got, want)


# -- Deffuant: invariants -------------------------------------------------------------
@st.composite
def meetings(draw):
    n = draw(st.integers(2, 40))
    x = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    m = draw(st.integers(0, 3 * n))
    i = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    j = np.array(draw(st.lists(st.integers(-1, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    order = np.array(draw(st.lists(st.floats(0, 1), min_size=m, max_size=m)))
    eps = draw(st.floats(0.01, 1))
    mu = draw(st.floats(0.01, 0.5))
    return x, i, j, order, eps, mu


@settings(max_examples=150, deadline=None)
@given(meetings(), st.sampled_from(["per_step", "pairwise"]))
def test_symmetric_deffuant_conserves_the_mean_and_never_raises_the_variance(case, schedule):
    x, i, j, order, eps, mu = case
    out = deffuant(x, i, j, epsilon=eps, mu=mu, symmetric=True, schedule=schedule, order=order)
    assert abs(out.mean() - x.mean()) <= 1e-12
    assert out.var() <= x.var() + 1e-12
    assert np.all((out >= x.min()) & (out <= x.max()))


@settings(max_examples=100, deadline=None)
@given(meetings(), st.sampled_from(["per_step", "pairwise"]), st.booleans())
def test_deffuant_stays_in_range_and_far_agents_do_not_move(case, schedule, symmetric):
    x, i, j, order, eps, mu = case
    out = deffuant(x, i, j, epsilon=eps, mu=mu, symmetric=symmetric, schedule=schedule, order=order)
    assert np.all((out >= 0) & (out <= 1))
    involved = np.zeros(len(x), dtype=bool)
    involved[i[j >= 0]] = True
    if symmetric:
        involved[j[j >= 0]] = True
    assert np.array_equal(out[~involved], x[~involved])


# -- Hegselmann-Krause --------------------------------------------------------------------
def test_hk_hand_case():
    assert hegselmann_krause(X, epsilon=0.3).tolist() == [0.125, 0.25, 0.375, 1.0]
    # bound inclusive: |0.5 - 0.25| = 0.25 <= 0.25
    assert hegselmann_krause(X, epsilon=0.25).tolist() == [0.125, 0.25, 0.375, 1.0]
    assert hegselmann_krause(X, epsilon=0.1).tolist() == X.tolist()


def test_hk_only_the_given_agents_update_and_per_agent_bounds():
    assert hegselmann_krause(X, epsilon=0.3, agents=np.array([2])).tolist() == [
        0.0,
        0.25,
        0.375,
        1.0,
    ]
    lat = np.array([0.3, 0.1, 0.1, 0.6])
    assert hegselmann_krause(X, epsilon=lat).tolist() == [0.125, 0.25, 0.5, 0.75]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.floats(0, 1))
def test_hk_matches_the_dense_definition_and_keeps_the_range(xs, eps):
    x = np.array(xs)
    near = np.abs(x[None, :] - x[:, None]) <= eps
    dense = (near * x[None, :]).sum(axis=1) / near.sum(axis=1)
    out = hegselmann_krause(x, epsilon=eps)
    # the sorted search rounds x ± eps, so exact ties at the bound may fall either way
    ties = np.isclose(np.abs(x[None, :] - x[:, None]), eps, rtol=0, atol=1e-12).any(axis=1)
    np.testing.assert_allclose(out[~ties], dense[~ties], atol=1e-12)
    assert np.all((out >= x.min()) & (out <= x.max()))


def test_hk_collapsed_clusters_stay_put_exactly():
    x = np.repeat([0.1, 0.7], 500) + 0.0
    assert np.array_equal(hegselmann_krause(x, epsilon=0.2), x)


# -- anchoring and the dispatcher ---------------------------------------------------------
def test_anchoring_pulls_toward_the_anchor_and_zero_is_a_no_op():
    assert anchoring(np.array([0.9]), np.array([0.1]), 0.5).tolist() == [0.5]
    x = np.random.default_rng(0).random(10)
    assert np.array_equal(anchoring(x, np.zeros(10), 0.0), x)


def test_opinion_step_dispatches_and_uses_latitude_when_epsilon_is_null():
    lat = np.full(4, 0.3)
    agents, partners = np.array([0, 2]), np.array([1, -1])
    d = opinion_step(OpinionConf(mu=0.5), X, agents, partners, latitude=lat)
    assert d.tolist() == [0.125, 0.25, 0.5, 1.0]
    hk = opinion_step(OpinionConf(model="hk", epsilon=0.3), X, agents, partners)
    assert hk.tolist() == [0.125, 0.25, 0.5, 1.0]  # agent 2 sat this step out
    with pytest.raises(ValueError, match="latitude"):
        opinion_step(OpinionConf(), X, agents, partners)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("model", "voter", r"behavior\.opinion\.model='voter'.*one of deffuant, hk"),
        ("epsilon", 0.0, r"behavior\.opinion\.epsilon=0\.0.*> 0"),
        ("mu", 0.7, r"behavior\.opinion\.mu=0\.7.*<= 0\.5"),
        ("schedule", "async", r"behavior\.opinion\.schedule='async'.*per_step, pairwise"),
    ],
)
def test_opinion_conf_names_the_bad_field(field, value, expected):
    conf = OpinionConf(**{field: value})
    with pytest.raises(ConfigError, match=expected):
        conf.validate()


# -- convergence and the round-1 update ---------------------------------------------------
def test_largest_move_over_everyone_and_over_a_graph():
    import scipy.sparse as sp
    from ampaudit.simulations.opinion import largest_move

    x = np.array([0.0, 0.1, 0.5, 1.0])
    assert largest_move(x, epsilon=0.45, mu=0.5) == pytest.approx(0.2)  # 0.1 and 0.5
    assert largest_move(x, epsilon=0.05, mu=0.5) == 0.0  # nobody within reach
    # on a path 0 - 1, 2 - 3 only the edge (0, 1) is within 0.45
    path = sp.csr_matrix(([1, 1, 1, 1], ([0, 1, 2, 3], [1, 0, 3, 2])), shape=(4, 4))
    assert largest_move(x, epsilon=0.45, mu=0.5, social=path) == pytest.approx(0.05)
    lat = np.array([0.2, 0.05, 0.05, 0.6])  # each agent's own bound
    assert largest_move(x, epsilon=lat, mu=0.5) == pytest.approx(0.25)  # 1.0 hears 0.5


def test_default_conf_is_the_round_one_social_update_bit_for_bit():
    rng = np.random.default_rng(12)
    x, lat = rng.random(500), rng.uniform(0.1, 0.3, 500)
    active = np.flatnonzero(rng.random(500) < 0.4)
    peers = np.where(rng.random(len(active)) < 0.5, rng.integers(500, size=len(active)), -1)
    got = opinion_step(OpinionConf(), x, active, peers, latitude=lat, order=rng.random(500))
    # round 1's social_influence, verbatim
    want = x.copy()
    met = peers >= 0
    users, partners = active[met], peers[met]
    xi, xj = want[users], want[partners]
    near = np.abs(xj - xi) < lat[users]
    want[users] = np.where(near, xi + 0.05 * (xj - xi), xi)
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("opinion", "people"),
    [
        (OpinionConf(), None),
        (OpinionConf(epsilon=0.2, mu=0.5, symmetric=True, schedule="pairwise"), None),
        (OpinionConf(model="hk", epsilon=0.1), None),
        (OpinionConf(symmetric=True), {"mode": "similar", "signal": "opinion", "gamma": 2.0}),
        (OpinionConf(), {"mode": "similar", "window": 5}),
    ],
)
def test_the_audit_runs_every_opinion_model_on_the_same_draws(small_world, opinion, people):
    from ampaudit.recommenders import PeopleRecommender, PopularityRecommender
    from ampaudit.simulations import AuditModel, BehaviorConf

    def run(opinion, people):
        rng = np.random.default_rng(4)
        model = AuditModel(
            small_world,
            PopularityRecommender(),
            behavior=BehaviorConf(opinion=opinion),
            n_steps=8,
            slate_size=5,
            n_candidates=10,
            rng=rng,
            recommender_rng=np.random.default_rng(5),
            people=None if people is None else PeopleRecommender(**people),
        )
        trace = model.run()
        return trace, rng.random()

    trace, after = run(opinion, people)
    baseline, base_after = run(OpinionConf(), None if people is None else {"mode": "similar"})
    assert np.all((trace.x >= 0) & (trace.x <= 1))
    # common random numbers: the same users are active, the stream ends in the same place
    assert np.array_equal(trace.n_active, baseline.n_active)
    assert after == base_after
