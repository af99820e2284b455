"""A regular (non-editable) wheel carries the mapped packages and the config tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_mapped_packages_and_configs(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ampaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "simulations/model.py",
        "recommenders/mf.py",
        "interventions/__init__.py",
        "configs/config.yaml",
        "configs/recommender/mf.yaml",
        "py.typed",
    ):
        assert f"ampaudit/{module}" in names
    assert not any(n.startswith(("simulations/", "recommenders/", "tests/")) for n in names)
