"""The public conformance suite, run over every built-in recommender."""

from __future__ import annotations

import pytest
from ampaudit.interventions import INTERVENTIONS
from ampaudit.recommenders import REGISTRY

from ampaudit.checks import CHECKS, INTERVENTION_CHECKS, iter_checks, run_check

CASES = [
    pytest.param(cls, check, id=f"{cls.__name__}-{check.__name__}")
    for cls in REGISTRY.values()
    for check in CHECKS
]


@pytest.mark.parametrize(("cls", "check"), CASES)
def test_builtin_passes(cls, check):
    rec = next(r for r, c in iter_checks(cls) if c is check)
    result = run_check(rec, check)
    if result.status == "skip":
        pytest.skip(result.message)
    assert result.status == "pass", result.message


INTERVENTION_CASES = [
    pytest.param(cls, check, id=f"{cls.__name__}-{check.__name__}")
    for cls in INTERVENTIONS.values()
    for check in INTERVENTION_CHECKS
]


@pytest.mark.parametrize(("cls", "check"), INTERVENTION_CASES)
def test_builtin_intervention_passes(cls, check):
    result = run_check(cls(), check)
    assert result.status == "pass", result.message
