"""The public conformance suite, run over every built-in recommender."""

from __future__ import annotations

import pytest
from ampaudit.recommenders import REGISTRY

from ampaudit.checks import CHECKS, iter_checks, run_check

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
