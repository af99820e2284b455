"""Every reported interval stays within its estimand's range; verdicts read intervals."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ampaudit.audit import ArmRun, AuditResult
from ampaudit.estimands import (
    MIN_BASELINE_USERS,
    Estimate,
    difference,
    level,
    ratio_of_means,
    replicates_needed,
    verdict,
)
from ampaudit.report.analysis import COLUMNS, Audit, comparison, findings
from ampaudit.summary import cost_table, paired_vs_unpaired, summary_table, target_line

FRACTION = st.floats(0.0, 1.0, allow_nan=False)
#: shares that pile up at the bounds, where intervals are most likely to cross them
EDGY = st.one_of(FRACTION, st.sampled_from([0.0, 1.0, 1e-9, 1 - 1e-9, 0.5]))


def _within(est: Estimate | None, low: float, high: float) -> None:
    if est is None or est.refused:
        return
    assert low <= est.mean <= high, est
    if est.has_interval:
        assert low <= est.low <= est.mean <= est.high <= high, est
    else:
        assert est.note, est  # no interval is always explained


@st.composite
def audits(draw: st.DrawFn) -> dict:
    """Random finals of control, treatment and one intervention arm, 1-12 replicates."""
    n = draw(st.integers(1, 12))
    users = draw(st.sampled_from([5, 100, 3000]))
    keys = ("rec_share.extreme", "cons_share.extreme", "radicalised", "ctr", "rec_reach.extreme")
    finals = {}
    start = [draw(FRACTION) for _ in range(n)]  # arms of a replicate share the start
    for arm in ("control", "treatment", "+x"):
        finals[arm] = {
            r: {
                **{k: draw(EDGY) for k in keys},
                "drift": draw(FRACTION) - start[r],
                "collateral": float(draw(st.integers(0, 50))),
                "n_users": float(users),
            }
            for r in range(n)
        }
    return finals


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audits(), st.sampled_from([0.8, 0.95, 0.99]))
def test_every_interval_lies_within_its_estimands_range(finals, confidence):
    bounds = {
        "share": (0.0, 1.0),
        "count": (0.0, math.inf),
        "change": (-1.0, math.inf),
    }
    cells = comparison(finals, list(finals), confidence=confidence)
    for (_arm, key), cell in cells.items():
        column = next(c for c in COLUMNS if c.key == key)
        if column.versus and column.scale == "difference":
            value_range = (-1000.0, 1000.0)
        elif column.scale == "difference":
            value_range = (-1.0, 1.0)  # drift: a difference of means of opinions in [0, 1]
        else:
            value_range = bounds[column.scale]
        _within(cell.value, *value_range)
        if column.scale == "change":
            paired_range = (-1.0, math.inf)
        elif column.unit == "per 1,000":
            paired_range = (-1000.0, 1000.0)
        elif column.scale == "count":
            paired_range = (-math.inf, math.inf)
        else:
            paired_range = (
                (-value_range[1], value_range[1])
                if column.scale == "share"
                else (
                    -2.0,
                    2.0,
                )
            )
        _within(cell.paired, *paired_range)
    for f in findings(finals, list(finals), confidence=confidence):
        _within(f.harm_reduced, -math.inf, 100.0)  # a reduction never exceeds 100%
        _within(f.engagement_cost, -math.inf, 100.0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(1e-6, 1.0), st.floats(1e-6, 1.0)), min_size=1, max_size=12),
    st.sampled_from([0.9, 0.95]),
)
def test_swapping_the_arms_inverts_a_ratio_and_its_interval(pairs, confidence):
    a = {r: p[0] for r, p in enumerate(pairs)}
    b = {r: p[1] for r, p in enumerate(pairs)}
    ab = ratio_of_means(a, b, confidence=confidence)
    ba = ratio_of_means(b, a, confidence=confidence)
    assert (1 + ab.mean) * (1 + ba.mean) == pytest.approx(1.0, rel=1e-4)
    assert ab.has_interval == ba.has_interval
    if ab.has_interval:
        # stored as ratio - 1: a ratio r near 0 keeps only ~16 - log10(1/r) digits
        for x, y in ((ab.low, ba.high), (ab.high, ba.low)):
            if min(1 + x, 1 + y) > 1e-6:
                assert (1 + x) * (1 + y) == pytest.approx(1.0, rel=1e-4)
        assert ab.low >= -1
        assert ba.low >= -1


def _result(values: dict[str, list[dict[str, float]]]) -> AuditResult:
    result = AuditResult(
        entropy=1,
        labels={"control": "chronological", "treatment": "mf", "+x": "mf+x"},
        arms=list(values),
    )
    for arm, reps in values.items():
        for r, final in enumerate(reps):
            result.runs.append(ArmRun(arm, r, {}, dict(final)))
    return result


NUMBER_WORDS = re.compile(r"\b(inf|nan|NaN|Infinity)\b", re.IGNORECASE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audits())
def test_no_table_prints_inf_or_nan_as_a_number(finals):
    result = _result({arm: [finals[arm][r] for r in sorted(finals[arm])] for arm in finals})
    for wide in (False, True):
        text = summary_table(result, confidence=0.95, n_steps=10, wide=wide)
        text += "\n" + cost_table(result, confidence=0.95, wide=wide)
        text += "\n" + paired_vs_unpaired(result, confidence=0.95)
        assert not NUMBER_WORDS.search(text), text
        if not wide:
            assert [line for line in text.splitlines() if len(line) > 100] == [], text


def test_zero_over_zero_says_no_variation_not_inf():
    same = [{"radicalised": 0.01, "cons_share.extreme": 0.0, "ctr": 0.5}] * 3
    result = _result({"control": same, "treatment": same})
    line = paired_vs_unpaired(result, confidence=0.95)
    assert "no variation either way" in line
    assert "inf" not in line


class _Target:
    target_ci = 0.01
    target_metric = "radicalised"
    confidence = 0.95
    max_replicates = 20


def test_identical_differences_do_not_claim_the_target_is_reached():
    same = [{"radicalised": 0.01}] * 3
    line = target_line(_result({"control": same, "treatment": same}), _Target())
    assert "not reached with 3 replicates" in line
    assert "(half-width 0" not in line


# --- unit vectors ----------------------------------------------------------------------


def test_huszar_worked_example_and_refusal_of_a_tiny_baseline():
    # REFERENCES §1: treatment 300 of 1,000 reached, control 20 of 200 -> 2.0 (200%)
    assert ratio_of_means({0: 0.3}, {0: 0.1}, confidence=0.95).mean == pytest.approx(2.0)
    tiny = ratio_of_means(
        {0: 0.07, 1: 0.08}, {0: 0.001, 1: 0.002}, confidence=0.95, baseline_users=4.5
    )
    assert tiny.refused
    assert "fewer than 10" in tiny.note
    assert MIN_BASELINE_USERS == 10
    # the absolute difference is still there for the headline
    gain = difference({0: 0.07, 1: 0.08}, {0: 0.001, 1: 0.002}, confidence=0.95)
    assert gain.mean == pytest.approx(0.0735)


def test_the_reported_impossible_interval_is_now_bounded():
    # issue 12: "amplification 24.55 [-298.79, 347.89]" from per-replicate ratios
    trt = {0: 0.02, 1: 0.30, 2: 0.05}
    ctl = {0: 0.002, 1: 0.004, 2: 0.01}
    est = ratio_of_means(trt, ctl, confidence=0.95)
    assert est.low > -1
    logs = np.log(list(trt.values())) - np.log(list(ctl.values()))
    assert est.mean == pytest.approx(np.exp(logs.mean()) - 1)
    share = level([0.005, 0.006, 0.10], "share", confidence=0.95)
    assert 0 < share.low < share.mean < share.high < 1
    count = level([10.0, 12.0, 900.0], "count", confidence=0.95)
    assert 0 < count.low < count.mean < count.high


def test_a_difference_interval_is_cut_to_its_range_without_losing_coverage():
    est = difference({0: 1.0, 1: 0.0}, {0: 0.0, 1: 0.0}, confidence=0.95)
    assert (est.low, est.high) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("arm", "kind"),
    [
        ({0: 0.30, 1: 0.32, 2: 0.31}, "increases"),
        ({0: 0.10, 1: 0.12, 2: 0.11}, "decreases"),
        ({0: 0.2001, 1: 0.2, 2: 0.1999}, "no measurable change"),
        ({0: 0.10, 1: 0.30, 2: 0.21}, "inconclusive"),
    ],
)
def test_verdicts(arm, kind):
    base = {0: 0.2, 1: 0.2, 2: 0.2}
    said = verdict(difference(arm, base, confidence=0.95), margin=0.02, confidence=0.95)
    assert said.kind == kind
    assert (said.needed is not None) == (kind == "inconclusive")


def test_identical_replicates_are_inconclusive_not_certain():
    est = difference({0: 0.1, 1: 0.1, 2: 0.1}, {0: 0.1, 1: 0.1, 2: 0.1}, confidence=0.95)
    assert not est.has_interval
    assert "same value" in est.note
    said = verdict(est, margin=0.01, confidence=0.95)
    assert said.kind == "inconclusive"
    assert not said.conclusive


def test_replicates_needed_matches_the_t_rule():
    # 80% power at alpha 0.05 for d/s = 0.5: the classic one-sample answer is 34
    assert replicates_needed(0.5, 1.0, confidence=0.95) == 34
    assert replicates_needed(1.0, 1.0, confidence=0.95) == 10
    assert replicates_needed(1e-6, 1.0, confidence=0.95) > 1000


def test_arm_verdict_reconciles_exposure_and_consumption():
    finals = {
        "control": {
            r: {"rec_reach.extreme": 0.01, "cons_share.extreme": 0.01, "n_users": 3000.0}
            for r in range(4)
        },
        "treatment": {
            r: {
                "rec_reach.extreme": 0.07 + 0.005 * r,
                "cons_share.extreme": 0.0100 + 0.0001 * (-1) ** r,
                "n_users": 3000.0,
            }
            for r in range(4)
        },
    }
    from ampaudit.report.analysis import arm_sentence

    text = arm_sentence(
        Audit(finals, labels={"control": "chronological", "treatment": "mf"}),
        "treatment",
        "control",
        confidence=0.95,
    )
    assert "recommended extreme items to more users" in text
    assert "but what users consumed did not change measurably" in text


def test_terminal_cells_show_large_ratios_without_losing_their_interval():
    from ampaudit.report.analysis import COLUMN
    from ampaudit.summary import cell

    amp = COLUMN["amplification.extreme"]
    assert cell(amp, Estimate(26.79, 24.41, 29.40, 8, "change")) == "+2,679% [+2,441%, +2,940%]"
    assert cell(amp, Estimate(105.0, 79.0, 139.0, 8, "change")) == "x106 [x80, x140]"
    reach = COLUMN["reach_gain.extreme"]
    assert cell(reach, Estimate(844.6, 811.3, 877.9, 8)) == "+845 [+811, +878]"
