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
def test_dp_estimates_are_unbiased_over_repetitions(exported):
    log, items, users = exported.logs
    exact = audit_log(log, items, users=users)
    key = ("treatment", 0)
    draws = np.array(
        [
            audit_log(log, items, users=users, epsilon=1.0, rng=np.random.default_rng(i))[key][
                "rec_reach.mainstream"
            ]
            for i in range(200)
        ]
    )
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - exact[key]["rec_reach.mainstream"]) < 3 * se
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
