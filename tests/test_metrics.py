"""Metric definitions against REFERENCES §1 unit-test vectors and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ampaudit.metrics import amplification_ratio, exposure_share, gini, half_share, reach
from ampaudit.stats import mean_ci


def test_amplification_worked_example():
    # treatment 300 of 1,000 reached, control 20 of 200 -> 2.0 (200%)
    assert amplification_ratio(300, 1000, 20, 200) == pytest.approx(2.0)


def test_amplification_identical_arms_is_exactly_zero():
    reached = np.array([0, 3, 17, 40])
    out = amplification_ratio(reached[1:], 500, reached[1:], 500)
    assert np.array_equal(out, np.zeros(3))


def test_amplification_invariant_to_duplicating_an_arm():
    assert amplification_ratio(300, 1000, 20, 200) == pytest.approx(
        amplification_ratio(600, 2000, 20, 200)
    )
    assert amplification_ratio(300, 1000, 20, 200) == pytest.approx(
        amplification_ratio(300, 1000, 40, 400)
    )


def test_amplification_undefined_without_control_reach():
    assert np.isnan(amplification_ratio(5, 100, 0, 100))
    assert amplification_ratio(0, 100, 0, 100) == 0.0  # equal (zero) rates: no amplification


@given(arrays(np.int64, (6, 5), elements=st.integers(0, 1000)))
def test_shares_sum_to_one_or_zero(counts):
    shares = exposure_share(counts)
    totals = shares.sum(axis=1)
    nonempty = counts.sum(axis=1) > 0
    assert np.allclose(totals[nonempty], 1.0)
    assert np.all(totals[~nonempty] == 0)


def test_gini_extremes():
    assert gini(np.ones(10)) == 0.0
    n = 8
    one = np.zeros(n)
    one[3] = 5.0
    assert gini(one) == pytest.approx((n - 1) / n)
    assert gini(np.zeros(4)) == 0.0


def test_gini_hand_computed():
    # values 1,2,3,4: sum (2i-n-1) v = -3*1 -1*2 +1*3 +3*4 = 10; / (4*10) = 0.25
    assert gini(np.array([4.0, 1.0, 3.0, 2.0])) == pytest.approx(0.25)


def test_half_share_hand_computed():
    # sorted 10, 0, 0, 0: the top user alone holds half -> 1 of 4
    assert half_share(np.array([0, 0, 0, 10])) == 0.25
    # equal values: exactly half the users hold exactly half
    assert half_share(np.ones(4)) == 0.5
    assert half_share(np.ones(5)) == 0.6  # 3 of 5 users are needed to reach 2.5
    # 6, 3, 1 of 10: the top user holds 60% -> 1 of 5 users (two hold nothing)
    assert half_share(np.array([1, 0, 6, 0, 3])) == 0.2
    # 4, 3, 2, 1 of 10: top two hold 7 >= 5 -> 2 of 4
    assert half_share(np.array([1, 2, 3, 4])) == 0.5


def test_half_share_nothing_consumed():
    assert half_share(np.zeros(7)) == 0.0
    assert half_share(np.array([])) == 0.0


@given(arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 50)))
def test_half_share_bounds_and_definition(values):
    share = half_share(values)
    total = values.sum()
    if total == 0:
        assert share == 0.0
        return
    k = round(share * len(values))
    top = np.sort(values)[::-1]
    # k users hold at least half, k - 1 users do not; never more than the consumers
    assert top[:k].sum() >= total / 2
    assert top[: k - 1].sum() < total / 2
    assert 1 / len(values) <= share <= np.count_nonzero(values) / len(values)
    assert half_share(np.random.default_rng(0).permutation(values)) == share


def test_reach_at_least_any_single_step_share():
    # cumulative reached counts are non-decreasing, so final reach bounds every step
    rng = np.random.default_rng(0)
    exposed = rng.random((20, 100)) < 0.05
    per_step = exposed.mean(axis=1)
    cumulative = np.logical_or.accumulate(exposed, axis=0).sum(axis=1)
    assert reach(cumulative[-1], 100) >= per_step.max()


def test_mean_ci_contains_mean_and_degenerates_cleanly():
    m, lo, hi = mean_ci(np.array([0.2, 0.4, 0.3, 0.5]))
    assert lo < m < hi
    assert mean_ci(np.array([1.0, 1.0]))[1:] == (1.0, 1.0)
    single = mean_ci(np.array([0.7]))
    assert single[0] == 0.7
    assert np.isnan(single[1])


def test_paired_cis_are_narrower_for_world_driven_outcomes():
    import re

    from ampaudit.audit import run_audit
    from ampaudit.summary import paired_vs_unpaired

    from .conftest import small_run_conf

    result = run_audit(small_run_conf("mf", n_steps=15, replicates=4))
    line = paired_vs_unpaired(result, "mean_opinion")
    paired, unpaired = map(float, re.findall(r"(\d+\.\d+) (?:paired|unpaired)", line))
    assert paired < unpaired


def test_group_and_individual_amplification_can_disagree():
    from ampaudit.metrics import group_amplification, individual_amplification

    # each creator reaches 2 of 10 users in both arms (individual ratio 0), but under
    # treatment the two audiences coincide, under control they are disjoint
    t = np.zeros((10, 2), bool)
    t[:2, :] = True
    c = np.zeros((10, 2), bool)
    c[:2, 0] = True
    c[2:4, 1] = True
    assert individual_amplification(t, c).tolist() == [0.0, 0.0]
    assert group_amplification(t, c) == pytest.approx(-0.5)


def test_relative_amplification_refuses_without_a_baseline():
    from ampaudit.metrics import relative_amplification

    with pytest.raises(ValueError, match="named baseline"):
        relative_amplification(
            3.0, 2.0, content_set="extreme", baseline="", outcome="reach", horizon="100 steps"
        )
    r = relative_amplification(
        3.0,
        2.0,
        content_set="extreme",
        baseline="chronological",
        outcome="reach",
        horizon="100 steps",
    )
    assert r.value == pytest.approx(0.5)
    assert "chronological" in str(r)


def test_survival_curve_is_non_increasing_in_a_run():
    from ampaudit.audit import run_audit

    from .conftest import small_run_conf

    run = run_audit(small_run_conf("mf", n_steps=10, replicates=1)).runs[0]
    curve = run.series["not_yet_radicalised"]
    assert len(curve) == 10
    assert np.all(np.diff(curve) <= 0)
    assert curve[0] <= 1.0


def test_target_ci_adds_replicates_until_reached_or_capped():
    from ampaudit.audit import run_audit
    from ampaudit.config import validate

    from .conftest import small_run_conf

    loose = small_run_conf(
        "popularity",
        n_steps=5,
        replicates=2,
        target_ci=10.0,
        target_metric="mean_opinion",
        max_replicates=6,
    )
    validate(loose)
    assert {r.replicate for r in run_audit(loose).runs} == {0, 1}
    tight = small_run_conf(
        "popularity",
        n_steps=5,
        replicates=2,
        target_ci=1e-12,
        target_metric="mean_opinion",
        max_replicates=4,
    )
    validate(tight)
    assert {r.replicate for r in run_audit(tight).runs} == {0, 1, 2, 3}


def test_group_breakdown_includes_the_at_risk_minority():
    from ampaudit.audit import run_audit

    from .conftest import small_run_conf

    run = run_audit(small_run_conf("mf", n_steps=8, replicates=1)).runs[0]
    groups = {k.split(".")[1] for k in run.final if k.startswith("group.")}
    assert "community0" in groups
    assert 0.0 <= run.final["group.community0.radicalised"] <= 1.0


def test_bootstrap_needs_enough_replicates():
    from ampaudit.stats import bootstrap_ci

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 10"):
        bootstrap_ci(np.arange(5.0), rng=rng)
    m, lo, hi = bootstrap_ci(rng.normal(size=30), rng=rng)
    assert lo < m < hi


def test_intervention_costs_count_restrictive_actions_on_legitimate_items_once():
    from ampaudit.core.categories import CATEGORIES
    from ampaudit.metrics import intervention_costs

    def counts(**by_cat):
        row = np.zeros(len(CATEGORIES))
        for cat, n in by_cat.items():
            row[CATEGORIES.index(cat)] = n
        return np.stack([row, row])  # two steps

    from ampaudit.interventions import INTERVENTIONS

    actions = {
        "downrank.demoted": counts(news=2, extreme=5),
        "moderation_queue.removed": counts(counter=1, extreme=3),
        "moderation_queue.wrongful_removal": counts(counter=1),
        "moderation_queue.restored": counts(counter=1),
        "moderation_queue.queue_backlog": counts(news=7),
        "redirect.inserted": counts(counter=9),
    }
    # the kinds the built-ins declare, as the simulator puts them in Trace.action_kinds
    kinds = {}
    for key in actions:
        name, action = key.split(".")
        kinds[key] = INTERVENTIONS[name].actions[action]
    costs = intervention_costs(actions, kinds)
    assert costs["collateral.news"] == 4  # demoted twice per step, backlog is no action
    assert costs["collateral.counter"] == 2  # the wrongful removal counted once, as removed
    assert costs["collateral.mainstream"] == 0
    assert costs["collateral"] == 6
    assert costs["wrongful_removals"] == 2
    assert costs["restored"] == 2
    assert intervention_costs({}, {})["collateral"] == 0


def test_intervention_costs_follow_declared_kinds_not_action_names():
    from ampaudit.core.categories import CATEGORIES
    from ampaudit.core.intervention import UndeclaredActionError
    from ampaudit.metrics import intervention_costs

    news = np.zeros((1, len(CATEGORIES)))
    news[0, CATEGORIES.index("news")] = 3
    # a third party's own verb counts when declared restrictive; a familiar verb
    # declared neutral does not
    costs = intervention_costs(
        {"mine.hidden": news, "other.demoted": news},
        {"mine.hidden": "restrictive", "other.demoted": "neutral"},
    )
    assert costs["collateral.news"] == costs["collateral"] == 3
    with pytest.raises(UndeclaredActionError, match=r"'mine\.hidden' has no declared kind"):
        intervention_costs({"mine.hidden": news}, {})
    with pytest.raises(UndeclaredActionError, match="unknown kind 'harsh'"):
        intervention_costs({"mine.hidden": news}, {"mine.hidden": "harsh"})


def test_group_metrics_use_the_runs_threshold_and_pool_the_others():
    from ampaudit.core.categories import CATEGORIES, CHANNELS
    from ampaudit.core.trace import Trace
    from ampaudit.metrics import group_metrics

    trace = Trace.empty(1, 4, np.array([0.1, 0.2, 0.7, 0.8]))
    trace.x = np.array([0.1, 0.65, 0.7, 0.9])
    trace.groups = np.array([0, 1, 2, 2])  # two communities, then the at-risk minority
    trace.radical_threshold = 0.6
    consumed = np.zeros((3, len(CHANNELS), len(CATEGORIES)), dtype=np.int64)
    extreme, mainstream = CATEGORIES.index("extreme"), CATEGORIES.index("mainstream")
    consumed[0, 0, mainstream] = 3
    consumed[1, 0, extreme] = 1
    consumed[2, 1, extreme] = 4
    trace.consumed_by_group = consumed
    out = group_metrics(trace)
    assert out["group.community1.radicalised"] == 1.0  # 0.65 >= 0.6, not >= 0.7
    assert out["group.others.radicalised"] == 0.5
    assert out["group.at_risk.radicalised"] == 1.0
    assert out["group.others.cons_share.extreme"] == 0.25
    assert out["group.at_risk.cons_share.extreme"] == 1.0
    assert out["group.others.drift"] == pytest.approx(0.225)
