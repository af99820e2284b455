"""The report in a real headless Chromium, loaded from ``file://`` as a reader would.

``.ci/run`` installs Debian's ``chromium``; without a browser these tests skip
locally and fail in CI (``CI`` set), so a missing install step cannot pass unseen.
"""

from __future__ import annotations

import os

import pytest

from ampaudit.report import build_report, load_audit, render_html
from ampaudit.report.analysis import COLUMNS, arm_key
from ampaudit.report.browser import find_chromium, visit
from tests.helpers import ampaudit, local_client

PAYLOAD = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def chromium():
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def page(audited, chromium, tmp_path_factory):
    cwd, parent = audited
    out = tmp_path_factory.mktemp("page") / "report.html"
    proc = ampaudit("report", parent, "-o", str(out), "--uri", str(cwd / "mlflow.db"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    shot = out.with_suffix(".png")
    return visit(out, screenshot=shot, chromium=chromium), out, shot


def test_page_loads_offline_without_console_errors(page):
    seen, out, shot = page
    assert seen.console == []
    assert seen.requests == [out.resolve().as_uri()]  # nothing but the file itself
    assert seen.dialogs == []
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_table_number_is_the_value_stored_in_mlflow(page, audited):
    seen, _, _ = page
    cwd, parent = audited
    client = local_client(cwd)
    stored = client.get_run(parent).data.metrics
    columns = {c.key: c for c in COLUMNS}
    shown = {}
    for key, value, text in seen.cells:
        _, _, rest = key.split(".", 2)
        metric, _ = rest.rsplit(".", 1)
        assert float(value) == stored[key], key
        assert text == columns[metric].format(stored[key], paired=key.startswith("paired.")), key
        shown[key] = text
    # every arm x column has its mean, and every defined interval is shown
    arms = ["control", "treatment", "+redirect", "+downrank", "+redirect+downrank"]
    for arm in arms:
        for column in COLUMNS:
            key = f"summary.{arm_key(arm)}.{column.key}.mean"
            # a refused ratio (the baseline reached too few users) is stored nowhere
            assert key in shown or (column.scale == "change" and key not in stored), key
    table_keys = {k for k in stored if k.startswith(("summary.", "paired."))}
    assert table_keys == set(shown)
    # and the mean is what the child runs hold
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
    )
    for arm in arms:
        finals = [c.data.metrics["final.ctr"] for c in children if c.data.tags["arm"] == arm]
        assert stored[f"summary.{arm_key(arm)}.ctr.mean"] == pytest.approx(
            sum(finals) / len(finals), rel=1e-12
        )


def test_untrusted_names_stay_text_in_the_browser(chromium, audited, tmp_path):
    cwd, parent = audited
    data = load_audit(parent, uri=str(cwd / "mlflow.db"))
    data.labels = {arm: f"{PAYLOAD}{arm}" for arm in data.labels}
    data.config["interventions"][PAYLOAD] = {"_target_": PAYLOAD, "threshold": PAYLOAD}
    data.config["recommender"]["_target_"] = PAYLOAD
    data.tags["command"] = f"ampaudit run {PAYLOAD}"
    out = tmp_path / "hostile.html"
    out.write_text(render_html(build_report(data)))
    seen = visit(out, chromium=chromium)
    assert seen.dialogs == []
    assert seen.console == []
    assert f"{PAYLOAD}treatment" in seen.text  # shown as the characters it is
    assert seen.requests == [out.resolve().as_uri()]
