"""Audits of logged impressions: exact reproduction of a simulated audit, DP, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ampaudit.audit import run_audit
from ampaudit.logaudit import LogError, audit_log
from tests.helpers import ampaudit

from .conftest import small_run_conf

KEYS = ("rec_share", "cons_share", "reach", "rec_reach", "amplification")


@pytest.fixture(scope="module")
def exported():
    conf = small_run_conf("mf", n_steps=12, replicates=2, export_log=True)
    return run_audit(conf)


def test_audit_log_reproduces_the_simulated_audit_exactly(exported):
    log, items, users = exported.logs
    results = audit_log(log, items, users=users, control="control")
    for run in exported.runs:
        mine = results[(run.arm, run.replicate)]
        for key, value in mine.items():
            if key.split(".")[0] in KEYS or key == "ctr":
                assert value == pytest.approx(run.final[key], abs=1e-12), key


@pytest.mark.slow
def test_dp_estimates_are_off_by_at_most_their_stated_error_over_repetitions(exported):
    log, items, users = exported.logs
    exact = audit_log(log, items, users=users)
    key = ("treatment", 0)
    runs = [
        audit_log(log, items, users=users, epsilon=1.0, rng=np.random.default_rng(i))[key]
        for i in range(200)
    ]
    draws = np.array([r["rec_reach.mainstream"] for r in runs])
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    # Laplace noise is unbiased; clipping a reach to [0, 1] pulls it inward near a bound,
    # by less than the noise's expected absolute error, which is reported
    error = runs[0]["dp.expected_error.reach"]
    assert abs(draws.mean() - exact[key]["rec_reach.mainstream"]) < error + 3 * se
    assert draws.std() > 0


def test_infinite_epsilon_means_no_noise(exported):
    log, items, users = exported.logs
    assert audit_log(log, items, users=users) == audit_log(log, items, users=users, epsilon=None)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda log, items: (log.drop(columns=["clicked"]), items), "missing column"),
        (lambda log, items: (log.assign(step=log["step"].astype(str)), items), "'step' has type"),
        (lambda log, items: (log, items.drop(columns=["category"])), "item table is missing"),
        (lambda log, items: (log[log["arm"] != "control"], items), "control arm 'control'"),
        (lambda log, items: (log.iloc[:0], items), "empty"),
    ],
)
def test_bad_logs_give_one_clear_error(exported, mutate, message):
    log, items, _ = exported.logs
    bad_log, bad_items = mutate(log, items)
    with pytest.raises(LogError, match=message):
        audit_log(bad_log, bad_items)


def test_cli_audit_log(exported, tmp_path):
    log, items, users = exported.logs
    log.to_parquet(tmp_path / "log.parquet")
    items.to_csv(tmp_path / "items.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    proc = ampaudit(
        "audit-log",
        str(tmp_path / "log.parquet"),
        "--items",
        str(tmp_path / "items.csv"),
        "--users",
        str(tmp_path / "users.csv"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "treatment" in proc.stdout
    assert "amplification.extreme" in proc.stdout
    bad = ampaudit(
        "audit-log",
        str(tmp_path / "nope.csv"),
        "--items",
        str(tmp_path / "items.csv"),
        timeout=120,
    )
    assert bad.returncode == 2
    assert "no such file" in bad.stderr


def test_dp_reach_stays_possible_and_its_interval_includes_the_noise(exported):
    log, items, users = exported.logs
    exact = audit_log(log, items, users=users)
    key, category = ("treatment", 0), "mainstream"
    covered = 0
    for i in range(200):
        noisy = audit_log(log, items, users=users, epsilon=1.0, rng=np.random.default_rng(i))[key]
        for name in ("extreme", "borderline", "mainstream"):
            assert 0.0 <= noisy[f"reach.{name}.low"] <= noisy[f"reach.{name}"] <= 1.0
            assert noisy[f"reach.{name}"] <= noisy[f"reach.{name}.high"] <= 1.0
        low, high = noisy[f"rec_reach.{category}.low"], noisy[f"rec_reach.{category}.high"]
        covered += low <= exact[key][f"rec_reach.{category}"] <= high
    # the Laplace-tail interval holds the true reach at least 95% of the time
    assert covered >= 0.95 * 200 - 3 * np.sqrt(200 * 0.95 * 0.05)


def test_dp_noise_comparable_to_the_estimate_warns_and_refuses_the_ratio(exported):
    from ampaudit.logaudit import noise_warnings

    log, items, users = exported.logs
    # a tiny budget: the noise is far larger than the extreme reach counts
    noisy = audit_log(log, items, users=users, epsilon=0.01, rng=np.random.default_rng(0))
    warnings = noise_warnings(noisy, "extreme")
    assert any("noise may be most of it" in w for w in warnings)
    assert any("amplification.extreme not reported" in w for w in warnings)
    assert np.isnan(noisy[("treatment", 0)]["amplification.extreme"])
