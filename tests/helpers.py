"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
import sys

#: A real audit with two interventions, small enough for a few seconds.
AUDIT = [
    "world=small",
    "world.n_users=400",
    "audit.n_steps=12",
    "audit.replicates=3",  # three: floating-point sums then depend on their order
    "audit.progress=false",
    "interventions=[redirect,downrank]",
    "seed=11",
]


def ampaudit(*args, cwd=None, env=None, timeout=600):
    """Run the ``ampaudit`` CLI as a real subprocess (in ``cwd``, with ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "ampaudit.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
