"""Calibration bands of the default world, and the check that an audit lands in them.

A world where nothing happens, or where everyone radicalises, teaches nothing (DESIGN
§3.2a). :data:`BANDS` states, for the audited recommender's arm of the default audit,
where real-user panels put each quantity and how far from it the simulated world may
sit; :func:`check_bands` measures an :class:`~ampaudit.audit.AuditResult` against them
and :func:`out_of_band` lists the misses. ``tests/test_calibration.py`` runs the
default audit and fails when a change moves the default world out of band; the README's
"Calibration of the default world" table is printed by ``python -m ampaudit.calibration``.

Each band's value is the mean over replicates of a per-replicate value; its interval is
a Student-t interval over replicates (:func:`ampaudit.stats.mean_ci`), clipped to the
range the quantity can take. A *level* band holds when the mean lies in ``[low, high]``;
a *response* band holds when the interval of the paired difference treatment − control
excludes 0 (the recommender moves the quantity measurably).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ampaudit.estimands import difference, ratio_of_means
from ampaudit.stats import mean_ci

__all__ = [
    "BANDS",
    "Band",
    "BandResult",
    "band_table",
    "check_bands",
    "out_of_band",
    "response_lines",
]

Finals = Mapping[str, float]


class Audited(Protocol):
    """What the check reads of an audit (e.g. :class:`~ampaudit.audit.AuditResult`)."""

    def finals(self) -> Mapping[str, Mapping[int, Finals]]:
        """Final metrics keyed arm → replicate → metric."""
        ...


#: Chen, Nyhan, Reifler, Robertson, Wilson (2023), Subscriptions and external links help
#: drive resentful users to alternative and extremist YouTube channels, Science Advances
#: 9:eadd8080: n = 1,181 US panel, 2020.
CHEN_2023 = "Chen et al. 2023"
#: Hosseinmardi et al. (2021), Examining the consumption of radical content on YouTube,
#: PNAS 118(32): political news is about 11% of consumption.
HOSSEINMARDI_2021 = "Hosseinmardi et al. 2021"
#: YouTube Official Blog (2019-06-05, 2019-12-03): borderline content is about 1% of US
#: watch time.
YOUTUBE_2019 = "YouTube 2019"
#: A world where nothing happens, or where everyone radicalises, teaches nothing.
DESIGN = "DESIGN §3.2a"


def _key(name: str) -> Callable[[Finals], float]:
    def value(finals: Finals) -> float:
        return float(finals.get(name, np.nan))

    return value


def _organic(finals: Finals) -> float:
    return float(
        finals.get("cons_via.follow.extreme", np.nan)
        + finals.get("cons_via.search.extreme", np.nan)
    )


def _radicalised_change(finals: Finals) -> float:
    return float(finals.get("radicalised", np.nan) - finals.get("radicalised_start", np.nan))


@dataclass(frozen=True)
class Band:
    """One calibration band.

    Attributes
    ----------
    name : str
        What is measured, in words.
    metric : str
        The final metrics it is computed from (``ampaudit.metrics.final_metrics`` keys).
    value : callable
        Per-replicate value from one arm's final metrics.
    low, high : float
        The band (a level band holds when the mean over replicates is inside).
    target : str
        The published figure.
    source : str
        Where the figure comes from.
    why : str
        Why the band is as wide as it is.
    kind : {"level", "response"}, default="level"
        ``response``: the paired difference treatment − control must have an interval
        that excludes 0 (``low``/``high`` are not used).
    bounds : tuple of float, default=(0.0, 1.0)
        Range of the per-replicate value; intervals are clipped to it.
    percent : bool, default=True
        Show values as percentages (shares and fractions of users).
    """

    name: str
    metric: str
    value: Callable[[Finals], float]
    low: float
    high: float
    target: str
    source: str
    why: str
    kind: str = "level"
    bounds: tuple[float, float] = (0.0, 1.0)
    percent: bool = True


#: The bands of the default world, for the audited recommender's arm (``treatment``).
BANDS: tuple[Band, ...] = (
    Band(
        "users who ever viewed extreme content",
        "cons_reach.extreme",
        _key("cons_reach.extreme"),
        0.03,
        0.10,
        "about 6%",
        CHEN_2023,
        "the panel's 6% has a sampling error of about ±1.4 points and our 'extreme' "
        "category is a model construct; within a factor of two of 6%",
    ),
    Band(
        "users who ever viewed borderline content",
        "cons_reach.borderline",
        _key("cons_reach.borderline"),
        0.08,
        0.25,
        "about 15%",
        CHEN_2023 + ", alternative channels",
        "within roughly a factor of two of 15%",
    ),
    Band(
        "Gini of extreme items consumed per user",
        "gini.extreme_consumption",
        _key("gini.extreme_consumption"),
        0.85,
        0.995,
        "about 0.9",
        CHEN_2023,
        "with a reach r the Gini is at least 1 - r, so 3-10% reach means 0.9 or more; "
        "above 0.995 only a handful of users consume anything",
        percent=False,
    ),
    Band(
        "smallest share of users that consumed half of all extreme items",
        "extreme_consumption.half_share",
        _key("extreme_consumption.half_share"),
        0.001,
        0.03,
        "under 2%",
        CHEN_2023,
        "up to 3% allowed; at least 0.1% so that half is not one or two users",
    ),
    Band(
        "borderline share of consumption",
        "cons_share.borderline",
        _key("cons_share.borderline"),
        0.005,
        0.03,
        "about 1% of watch time",
        YOUTUBE_2019,
        "about 20 items per user over the horizon, so a 15% reach alone makes 0.75%; "
        "repeat viewers push it higher",
    ),
    Band(
        "news share of consumption",
        "cons_share.news",
        _key("cons_share.news"),
        0.05,
        0.15,
        "about 11% (political news)",
        HOSSEINMARDI_2021,
        "our 'news' is reporting on extremism, narrower than all political news",
    ),
    Band(
        "share of extreme consumption through follows and search (not the feed)",
        "cons_via.follow.extreme + cons_via.search.extreme",
        _organic,
        0.5,
        1.0,
        "most",
        CHEN_2023,
        "'most' means more than half",
    ),
    Band(
        "change in the radicalised fraction over the horizon",
        "radicalised - radicalised_start",
        _radicalised_change,
        0.0,
        0.05,
        "does not fall; not everyone radicalises",
        DESIGN,
        "at most +5 points of the population in 100 steps",
        bounds=(-1.0, 1.0),
    ),
    Band(
        "drift, treatment - chronological control (paired)",
        "drift",
        _key("drift"),
        0.0,
        0.0,
        "CI excludes 0",
        DESIGN,
        "the recommender must move opinions measurably at the default replicate count",
        kind="response",
        bounds=(-1.0, 1.0),
        percent=False,
    ),
)


@dataclass(frozen=True)
class BandResult:
    """A band measured on one audit.

    Attributes
    ----------
    band : Band
    mean, low, high : float
        Mean over replicates and its interval (paired difference for a response band).
    n : int
        Replicates with a finite value.
    in_band : bool
    """

    band: Band
    mean: float
    low: float
    high: float
    n: int
    in_band: bool

    def message(self) -> str:
        """One line: band, source, measured value and interval, verdict."""
        b = self.band
        if b.kind == "response":
            wanted = "95% CI excluding 0"
        else:
            wanted = f"[{_fmt(b.low)}, {_fmt(b.high)}]"
        verdict = "in band" if self.in_band else "OUT OF BAND"
        return (
            f"{b.name} ({b.metric}): {_fmt(self.mean)} [95% CI {_fmt(self.low)}, "
            f"{_fmt(self.high)}] over {self.n} replicates; band {wanted}, target "
            f"{b.target} ({b.source}) - {verdict}"
        )


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.4g}"


def _replicate_values(result: Audited, band: Band, arm: str, control: str) -> np.ndarray:
    finals = result.finals()
    treated = finals.get(arm, {})
    if band.kind != "response":
        return np.array([band.value(treated[r]) for r in sorted(treated)])
    base = finals.get(control, {})
    return np.array(
        [band.value(treated[r]) - band.value(base[r]) for r in sorted(treated.keys() & base)]
    )


def check_bands(
    result: Audited,
    bands: Sequence[Band] = BANDS,
    *,
    arm: str = "treatment",
    control: str = "control",
    confidence: float = 0.95,
) -> list[BandResult]:
    """Measure an audit against calibration bands.

    Parameters
    ----------
    result : AuditResult
        A finished audit (see :func:`ampaudit.audit.run_audit`); anything with its
        ``finals()`` will do.
    bands : sequence of Band, default=BANDS
    arm : str, default="treatment"
        The arm the bands describe (the audited recommender).
    control : str, default="control"
        The baseline of response bands.
    confidence : float, default=0.95

    Returns
    -------
    list of BandResult
        One per band, in order. A band with no finite value is out of band.
    """
    out = []
    for band in bands:
        values = _replicate_values(result, band, arm, control)
        mean, low, high = mean_ci(values, confidence=confidence)
        lo_b, hi_b = band.bounds
        low, high = float(np.clip(low, lo_b, hi_b)), float(np.clip(high, lo_b, hi_b))
        n = int(np.isfinite(values).sum())
        if band.kind == "response":
            ok = bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
        else:
            ok = bool(np.isfinite(mean) and band.low <= mean <= band.high)
        out.append(BandResult(band, mean, low, high, n, ok))
    return out


def out_of_band(result: Audited, bands: Sequence[Band] = BANDS, **kwargs) -> list[BandResult]:
    """The bands an audit misses (empty when the world is calibrated).

    Keyword arguments go to :func:`check_bands`.
    """
    return [r for r in check_bands(result, bands, **kwargs) if not r.in_band]


def _show(value: float, band: Band) -> str:
    """A value as the table shows it: percent or plain, signed when it can be negative."""
    if not np.isfinite(value):
        return "n/a"
    sign = "+" if band.bounds[0] < 0 else ""
    if band.percent:
        return f"{100 * value:{sign}.1f}%"
    return f"{value:{sign}.4f}"


def band_table(results: Sequence[BandResult]) -> str:
    """The results as a Markdown table (quantity, target and source, band, measured [CI])."""
    rows = [
        "| quantity (audited recommender's arm) | published | band | measured [95% CI] | |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        b = r.band
        if b.kind == "response":
            band = "CI excludes 0"
        else:
            band = f"{_show(b.low, b)} to {_show(b.high, b)}"
        measured = f"{_show(r.mean, b)} [{_show(r.low, b)}, {_show(r.high, b)}]"
        rows.append(
            f"| {b.name} | {b.target} ({b.source}) | {band} | {measured} | "
            f"{'in band' if r.in_band else '**out of band**'} |"
        )
    return "\n".join(rows)


#: Paired differences treatment − control printed beside the bands (not bands themselves).
RESPONSES = (
    ("drift", "drift"),
    ("radicalised fraction", "radicalised"),
    ("users who consumed extreme content", "cons_reach.extreme"),
    ("extreme share of consumption", "cons_share.extreme"),
)


def response_lines(result: Audited, *, confidence: float = 0.95) -> list[str]:
    """How the headline quantities respond to the recommender, paired by replicate."""
    finals = result.finals()
    finals = {arm: finals.get(arm, {}) for arm in ("treatment", "control")}
    reps = sorted(finals["treatment"].keys() & finals["control"].keys())
    lines = []
    for label, key in RESPONSES:
        pair = [
            {r: finals[arm][r].get(key, np.nan) for r in reps} for arm in ("treatment", "control")
        ]
        est = difference(*pair, confidence=confidence)
        if est is None:
            lines.append(f"{label} ({key}): n/a (not recorded)")
            continue
        shown = [f"{v:+.4f}" if np.isfinite(v) else "n/a" for v in (est.mean, est.low, est.high)]
        said = "excludes 0" if est.excludes_zero else "includes 0 (inconclusive)"
        lines.append(f"{label} ({key}): {shown[0]} [{shown[1]}, {shown[2]}], CI {said}")
    reach = [
        {r: finals[arm][r].get("rec_reach.extreme", np.nan) for r in reps}
        for arm in ("treatment", "control")
    ]
    ratio = ratio_of_means(*reach, confidence=confidence)
    if ratio is not None and ratio.has_interval:
        lines.append(
            "users recommended extreme content, ratio to control (amplification + 1, "
            f"Huszár et al. 2022; geometric mean, log-scale interval): "
            f"{1 + ratio.mean:.2f} [{1 + ratio.low:.2f}, {1 + ratio.high:.2f}]"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the default audit (with Hydra overrides) and print the band table.

    ``python -m ampaudit.calibration seed=2026`` prints the README's table; the exit
    status is 1 when a band is missed.
    """
    from ampaudit.audit import run_audit
    from ampaudit.config import compose_conf
    from ampaudit.core.errors import ConfigError

    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        conf = compose_conf(["tracking=none", "audit.progress=false", *overrides])
    except ConfigError as exc:
        print(f"ampaudit.calibration: error: {exc}", file=sys.stderr)
        return 2
    result = run_audit(conf)
    results = check_bands(result, confidence=conf.audit.confidence)
    print(
        f"Default world, {conf.audit.replicates} replicates, {conf.audit.n_steps} steps, "
        f"seed {result.entropy}: {result.labels['treatment']} vs {result.labels['control']}\n"
    )
    print(band_table(results))
    print(
        f"\nPaired differences {result.labels['treatment']} - {result.labels['control']}, "
        f"mean [{conf.audit.confidence:.0%} Student-t CI over replicates]:"
    )
    for line in response_lines(result, confidence=conf.audit.confidence):
        print(f"- {line}")
    return 1 if any(not r.in_band for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
