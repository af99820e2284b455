"""Run every docstring example of the installed package (its real import names)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ampaudit

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(ampaudit.__path__, "ampaudit.")
    if m.name not in {"ampaudit.cli", "ampaudit.app"}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
