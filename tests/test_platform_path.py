"""A platform's path from "my recommender" to "a panel report", as a platform walks it.

Services here are ``tests/plugins/stdlib_service.py``: written from the protocol's
OpenAPI document alone, with no ampaudit import, and without ``related``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ampaudit.recommenders.testing import running_service

from ampaudit.report.browser import find_chromium, visit
from tests.helpers import ampaudit, local_runs, parent_run_id
from tests.test_readme import README, plugin_section, python_blocks

PLUGINS = Path(__file__).parent / "plugins"
#: A quick audit: both arms, a few steps, and the walks in the same run.
QUICK = [
    "world=small",
    "audit.n_steps=3",
    "audit.replicates=1",
    "audit.progress=false",
    "audit.report=false",
    "audit.sock_puppet.depth=3",
    "audit.sock_puppet.warmup_steps=2",
    "audit.sock_puppet.puppets_per_cell=1",
    "seed=3",
]


def stdlib_service(name, version="1.0"):
    return running_service([sys.executable, str(PLUGINS / "stdlib_service.py"), name, version])


def test_a_service_written_from_the_spec_passes_the_checks_with_related_skipped():
    with stdlib_service("spec-only") as url:
        proc = ampaudit("check-recommender", url, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SKIP  check_related" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].endswith("0 failed, 1 skipped")


@pytest.mark.parametrize(
    ("target", "says"),
    [
        (
            "http://127.0.0.1:9",
            "remote recommender at http://127.0.0.1:9 did not answer /v1/health",
        ),
        ("127.0.0.1:8765", "expected a service URL with its scheme: http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/v1", "expected the service's base URL, without /v1"),
    ],
)
def test_a_wrong_service_target_is_one_line(target, says):
    proc = ampaudit("check-recommender", target, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("ampaudit: error: ")
    assert says in line


def _audit(url, cwd, mode):
    proc = ampaudit(
        "run", "recommender=remote", f"recommender.url={url}", f"audit.mode={mode}", *QUICK, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return parent_run_id(proc.stdout)


def _report(run_id, cwd):
    proc = ampaudit("report", run_id, "-o", "r.json", "--no-log", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads((cwd / "r.json").read_text())["audit"]


def test_two_services_in_one_experiment_each_report_their_own_evidence(tmp_path):
    with stdlib_service("alpha", "1.0") as url_a, stdlib_service("beta", "2.0") as url_b:
        compare_a = _audit(url_a, tmp_path, "compare")
        compare_b = _audit(url_b, tmp_path, "compare+sock_puppet")
        walks_a = _audit(url_a, tmp_path, "sock_puppet")  # the experiment's latest walks
    runs = {r.info.run_id: r for r in local_runs(tmp_path)}
    walks_b = runs[compare_b].data.tags["sock_puppet_run"]
    assert runs[walks_b].data.tags["companion_of"] == compare_b

    def children(parent):
        return sorted(
            run_id for run_id, r in runs.items() if r.data.tags.get("mlflow.parentRunId") == parent
        )

    for compare, walks, url, name, version in (
        (compare_a, walks_a, url_a, "alpha", "1.0"),  # found by identity
        (compare_b, walks_b, url_b, "beta", "2.0"),  # linked by the run itself
    ):
        audit = _report(compare, tmp_path)
        assert audit["recommender"] == name  # as the service declares itself, not "remote"
        assert audit["system"] == f"service {name} {version} at {url}"
        assert audit["evidence"] == [
            {"what": "comparison", "run_id": compare, "runs": children(compare)},
            {"what": "sock-puppet walks", "run_id": walks, "runs": children(walks)},
        ]


@pytest.mark.parametrize("target", ["compare", "walks"])
def test_tags_name_the_service_audited(tmp_path, target):
    with stdlib_service("gamma", "0.9") as url:
        parent = _audit(url, tmp_path, "compare" if target == "compare" else "sock_puppet")
    tags = {r.info.run_id: r.data.tags for r in local_runs(tmp_path)}[parent]
    assert tags["system.kind"] == "remote"
    assert (tags["system.name"], tags["system.version"], tags["system.url"]) == (
        "gamma",
        "0.9",
        url,
    )


# -- the README's three commands, exactly as written ------------------------------------


def readme_commands(marker):
    """The ``ampaudit`` argument lists of the bash block after ``<!-- marker``."""
    text = README.read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(f"<!-- {marker}") :], re.DOTALL)
    lines = [shlex.split(line) for line in block.group(1).strip().splitlines()]
    assert [line[0] for line in lines] == [".venv/bin/ampaudit"] * 3, lines
    return [line[1:] for line in lines]


def run_readme(commands, cwd, env=None):
    """Check, audit, report; returns the report's text as headless Chromium shows it."""
    check, audit, report = (ampaudit(*args, cwd=cwd, env=env, timeout=900) for args in commands)
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.fullmatch(
        r"\d+ passed, 0 failed, [12] skipped", check.stdout.strip().splitlines()[-1]
    )
    assert "SKIP  check_related" in check.stdout  # neither offers watch-next lists
    assert audit.returncode == 0, audit.stderr
    assert "Sock-puppet audit of" in audit.stdout
    assert report.returncode == 0, report.stderr
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    seen = visit(cwd / "report.html", chromium=chromium)
    assert seen.console == []
    assert "sock-puppet walks: audit run" in seen.text
    return seen.text


def test_readme_commands_take_a_plugin_package_to_a_panel_report(tmp_path):
    """A package of its own, outside the tree, installed for real with its entry point."""
    package = tmp_path / "acme"
    (package / "mypackage").mkdir(parents=True)
    section = plugin_section()
    example = next(b for b in python_blocks(section) if b.startswith("# mypackage/recs.py"))
    (package / "mypackage" / "__init__.py").write_text("")
    (package / "mypackage" / "recs.py").write_text(example)
    entry_points = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    (package / "pyproject.toml").write_text(
        textwrap.dedent("""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "acme-recency"
            version = "0.4.2"

            [tool.setuptools]
            packages = ["mypackage"]

            """)
        + entry_points
    )
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(site), str(package)],
        check=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    cwd = tmp_path / "work"
    cwd.mkdir()
    text = run_readme(readme_commands("platform-plugin"), cwd, env)
    assert "plugin recency_boost (acme-recency 0.4.2)" in text


def test_readme_commands_take_a_service_to_a_panel_report(tmp_path):
    commands = readme_commands("platform-service")
    with stdlib_service("acme-ranker", "2.3.0") as url:
        port_8765 = "http://127.0.0.1:8765"
        text = run_readme([[a.replace(port_8765, url) for a in c] for c in commands], tmp_path)
    assert f"service acme-ranker 2.3.0 at {url}" in text
