"""The default world sits in the real-user calibration bands (DESIGN §3.2a, issue 12).

One default audit (the packaged config: mf vs chronological, default world, horizon
and replicates) runs once for the module; each band is its own test so a failure
names the band, its source and the measured value with its interval. The negative
test shows the check can fail: without follows, organic channels no longer carry
most extreme consumption.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ampaudit.audit import run_audit
from ampaudit.calibration import (
    BANDS,
    Band,
    BandResult,
    band_table,
    check_bands,
    out_of_band,
    response_lines,
)
from ampaudit.config import compose_conf

SEED = 2026


@pytest.fixture(scope="module")
def default_audit():
    logging.getLogger("MESA").setLevel(logging.WARNING)
    return run_audit(compose_conf(["tracking=none", "audit.progress=false", f"seed={SEED}"]))


@pytest.mark.slow
@pytest.mark.parametrize("band", BANDS, ids=[b.metric for b in BANDS])
def test_default_world_in_band(default_audit, band):
    (result,) = check_bands(default_audit, [band])
    assert result.n == compose_conf(["tracking=none"]).audit.replicates
    assert result.in_band, f"seed {SEED}: {result.message()}"


@pytest.mark.slow
def test_check_fails_without_follows(default_audit):
    # half the default replicates keeps the file's runtime down; the check is the same
    conf = compose_conf(
        [
            "tracking=none",
            "audit.progress=false",
            f"seed={SEED}",
            "audit.replicates=4",
            "behavior.p_follow=0",
        ]
    )
    missed = out_of_band(run_audit(conf))
    assert missed, "the calibration check passed a world without follows"
    names = [r.band.metric for r in missed]
    assert "cons_via.follow.extreme + cons_via.search.extreme" in names, "\n".join(
        r.message() for r in missed
    )


class _Result:
    """Just enough of an AuditResult: final metrics keyed arm -> replicate -> metric."""

    def __init__(self, treatment, control):
        self._finals = {
            "treatment": dict(enumerate(treatment)),
            "control": dict(enumerate(control)),
        }

    def finals(self):
        return self._finals


def _band(**kwargs) -> Band:
    base = {
        "name": "x share",
        "metric": "x",
        "value": lambda f: f.get("x", np.nan),
        "low": 0.1,
        "high": 0.2,
        "target": "about 15%",
        "source": "a panel",
        "why": "test",
    }
    return Band(**{**base, **kwargs})


def test_level_band_uses_the_mean_and_clips_its_interval():
    result = _Result([{"x": 0.01}, {"x": 0.29}, {"x": 0.15}], [{"x": 0}] * 3)
    (r,) = check_bands(result, [_band()])
    assert r.in_band
    assert r.mean == pytest.approx(0.15)
    assert r.n == 3
    assert r.low == 0.0  # a share's interval stays a share
    assert r.high <= 1.0
    (r,) = check_bands(result, [_band(low=0.2, high=0.3)])
    assert not r.in_band
    assert "OUT OF BAND" in r.message()
    assert "a panel" in r.message()


def test_response_band_needs_an_interval_that_excludes_zero():
    band = _band(kind="response", bounds=(-1.0, 1.0))
    moved = _Result([{"x": 0.5}, {"x": 0.52}, {"x": 0.51}], [{"x": 0.4}, {"x": 0.41}, {"x": 0.4}])
    still = _Result([{"x": 0.5}, {"x": 0.4}, {"x": 0.45}], [{"x": 0.45}] * 3)
    assert check_bands(moved, [band])[0].in_band
    assert not check_bands(still, [band])[0].in_band
    assert out_of_band(still, [band])[0].band is band


def test_missing_metric_is_out_of_band():
    result = _Result([{"y": 1.0}, {"y": 1.0}], [{"y": 1.0}, {"y": 1.0}])
    (r,) = check_bands(result, [_band()])
    assert not r.in_band
    assert np.isnan(r.mean)
    assert "n/a" in band_table([r])


def test_band_table_shows_every_band():
    result = _Result([{"x": 0.12}, {"x": 0.14}], [{"x": 0.1}, {"x": 0.1}])
    rows = check_bands(result, [_band(), _band(name="y share", low=0.5, high=0.6)])
    table = band_table(rows)
    assert table.count("\n") == 3
    assert "13.0% [" in table
    assert "**out of band**" in table
    assert all(isinstance(r, BandResult) for r in rows)


def test_response_lines_say_when_the_interval_includes_zero():
    trt = [
        {"drift": 0.5, "radicalised": 0.1, "rec_reach.extreme": 0.4},
        {"drift": 0.6, "radicalised": 0.3, "rec_reach.extreme": 0.5},
        {"drift": 0.55, "radicalised": 0.2, "rec_reach.extreme": 0.6},
    ]
    ctl = [{"drift": 0.1, "radicalised": 0.2, "rec_reach.extreme": 0.1}] * 3
    lines = response_lines(_Result(trt, ctl))
    assert lines[0].startswith("drift (drift): +0.4500 [")
    assert lines[0].endswith("CI excludes 0")
    assert lines[1].endswith("includes 0 (inconclusive)")
    assert lines[2] == "users who consumed extreme content (cons_reach.extreme): n/a (not recorded)"
    # reach ratios 4, 5, 6: the log-scale interval is around their geometric mean
    assert "ratio to control" in lines[-1]
    assert ": 4.93 [" in lines[-1]
