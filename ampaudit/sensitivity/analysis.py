"""Where each conclusion holds, and which assumptions drive it (SALib Morris or Sobol').

At every point of the design the outcome of a conclusion is its paired difference
``arm − baseline`` (mean over replicates). The share of points where it leans the
stated way estimates the share of the plausible space where the conclusion holds;
Morris μ* or Sobol' indices of the outcome say which assumptions move it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ampaudit.sensitivity.conf import ConclusionConf, SensitivityConf
from ampaudit.sensitivity.design import analysis_seeds, problem

__all__ = [
    "MAX_DRIVERS",
    "NOISY",
    "ConclusionResult",
    "FactorEffect",
    "Interval",
    "Robustness",
    "analyse",
    "compared_pairs",
    "paired_differences",
]

#: Drivers a table names per conclusion.
MAX_DRIVERS = 3
#: Noise share from which a conclusion's drivers are flagged as mostly noise.
NOISY = 0.5

#: arm → replicate → metric → final value, as the report reads audits.
Finals = Mapping[str, Mapping[int, Mapping[str, float]]]


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval, clipped to the estimand's range."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class FactorEffect:
    """How much one factor moves a conclusion's outcome.

    Attributes
    ----------
    factor : str
    index : Interval
        Morris μ* (mean absolute elementary effect, in the outcome's units, ≥ 0) or
        Sobol' total index ST (share of the outcome's variance, in [0, 1]).
    first_order : Interval or None
        Sobol' S1 (share of variance due to the factor alone); ``None`` for Morris.
    sign : int
        +1 when raising the factor pushes the outcome the way the conclusion says
        (Morris: sign of μ; Sobol': of Spearman's correlation), -1 against, 0 unknown.
    sigma : float or None
        Morris σ: spread of the elementary effects (interactions, non-linearity).
    """

    factor: str
    index: Interval
    first_order: Interval | None = None
    sign: int = 0
    sigma: float | None = None

    @property
    def matters(self) -> bool:
        """Whether the index's interval excludes zero (the factor measurably matters)."""
        return self.index.low > 0


@dataclass
class ConclusionResult:
    """A conclusion over the whole design.

    Attributes
    ----------
    holds, n_points : int
        Points where the conclusion held, and points evaluated.
    holds_share : Interval
        ``holds / n_points`` with its Wilson interval, treating the points as
        independent draws over the space.
    confirmed : int or None
        Points whose own interval (over replicates) excludes no change in the stated
        direction; ``None`` with one replicate per point.
    noise_share : float or None
        How much of what the indices are built from is Monte Carlo noise: over the
        pairs of points the method compares (consecutive points of a Morris trajectory;
        Sobol' ``A`` and each ``AB_j``), the variance of their outcome difference over
        replicates (``var/n_replicates``, so common random numbers count) divided by
        the mean squared difference. Near 1 the indices mostly measure noise (see
        :data:`NOISY`); ``None`` with one replicate per point.
    effects : list of FactorEffect
        One per factor, in factor order; empty when the indices could not be computed
        (``note`` says why).
    """

    name: str
    claim: str
    arm: str
    baseline: str
    metric: str
    direction: str
    n_points: int
    holds: int
    holds_share: Interval | None
    confirmed: int | None = None
    noise_share: float | None = None
    effects: list[FactorEffect] = field(default_factory=list)
    note: str = ""

    @property
    def verdict(self) -> str:
        """Where the conclusion holds, in words, from the share and its interval."""
        n, s = self.n_points, self.holds_share
        if n == 0 or s is None:
            return "not evaluated"
        if self.holds == n:
            return f"held at all {n} points"
        if self.holds == 0:
            return f"failed at all {n} points"
        if s.low >= 0.5:
            return "holds in most of the space"
        if s.high <= 0.5:
            return "fails in most of the space"
        return "inconclusive: holds in part of the space"

    @property
    def noisy(self) -> bool:
        """Whether Monte Carlo noise is at least :data:`NOISY` of what the indices measure."""
        return self.noise_share is not None and self.noise_share >= NOISY

    def drivers(self, limit: int = MAX_DRIVERS) -> list[FactorEffect]:
        """The factors that measurably move the outcome, strongest first."""
        ranked = sorted(
            (e for e in self.effects if e.matters), key=lambda e: e.index.value, reverse=True
        )
        return ranked[:limit]


@dataclass
class Robustness:
    """A finished sensitivity analysis, as stored in ``sensitivity.json``.

    Attributes
    ----------
    factors : list of dict
        name, path, low, high, why.
    points : list of dict
        Per point: ``values`` (factor → value), ``run`` (the audit's run id or None)
        and ``outcomes`` (conclusion → paired mean difference or None).
    """

    id: str
    method: str
    n: int
    n_points: int
    confidence: float
    entropy: int
    recommender: str
    baseline: str
    overrides: list[str]
    factors: list[dict[str, Any]]
    conclusions: list[ConclusionResult]
    points: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None

    @property
    def index_name(self) -> str:
        """What :attr:`FactorEffect.index` is for this method."""
        return "μ*" if self.method == "morris" else "ST"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Robustness:
        """Read what :meth:`to_dict` wrote; untrusted input, checked field by field.

        Raises
        ------
        ValueError
            When a field is missing or of the wrong type.
        """
        try:
            return cls(
                id=str(data["id"]),
                method=_choice(data["method"], ("morris", "sobol")),
                n=int(data["n"]),
                n_points=int(data["n_points"]),
                confidence=_unit(data["confidence"]),
                entropy=int(data["entropy"]),
                recommender=str(data["recommender"]),
                baseline=str(data["baseline"]),
                overrides=[str(o) for o in data["overrides"]],
                factors=[
                    {
                        "name": str(f["name"]),
                        "path": str(f["path"]),
                        "low": float(f["low"]),
                        "high": float(f["high"]),
                        "why": str(f.get("why", "")),
                    }
                    for f in data["factors"]
                ],
                conclusions=[_conclusion(c) for c in data["conclusions"]],
                points=list(data.get("points", [])),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a sensitivity result ({type(exc).__name__}: {exc})") from None


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {allowed}")
    return str(value)


def _unit(value: Any) -> float:
    v = float(value)
    if not 0 <= v <= 1:
        raise ValueError(f"{v} is not in [0, 1]")
    return v


def _interval(data: Any) -> Interval | None:
    if data is None:
        return None
    return Interval(float(data["value"]), float(data["low"]), float(data["high"]))


def _conclusion(data: Any) -> ConclusionResult:
    effects = []
    for e in data.get("effects", []):
        index = _interval(e["index"])
        assert index is not None
        effects.append(
            FactorEffect(
                factor=str(e["factor"]),
                index=index,
                first_order=_interval(e.get("first_order")),
                sign=int(np.sign(int(e.get("sign", 0)))),
                sigma=None if e.get("sigma") is None else float(e["sigma"]),
            )
        )
    holds, n = int(data["holds"]), int(data["n_points"])
    if not 0 <= holds <= n:
        raise ValueError(f"holds={holds} is not within 0..{n}")
    share = _interval(data.get("holds_share"))
    if share is not None and not 0 <= share.low <= share.value <= share.high <= 1:
        raise ValueError("holds_share is not a share with its interval")
    return ConclusionResult(
        name=str(data["name"]),
        claim=str(data["claim"]),
        arm=str(data["arm"]),
        baseline=str(data["baseline"]),
        metric=str(data["metric"]),
        direction=_choice(data["direction"], ("increases", "decreases")),
        n_points=n,
        holds=holds,
        holds_share=share,
        confirmed=None if data.get("confirmed") is None else int(data["confirmed"]),
        noise_share=None if data.get("noise_share") is None else float(data["noise_share"]),
        effects=effects,
        note=str(data.get("note", "")),
    )


def paired_differences(finals: Finals, arm: str, baseline: str, metric: str) -> np.ndarray:
    """``arm − baseline`` of ``metric`` per replicate both ran (finite values only).

    Examples
    --------
    >>> finals = {"a": {0: {"m": 0.3}, 1: {"m": 0.5}}, "b": {0: {"m": 0.1}}}
    >>> paired_differences(finals, "a", "b", "m").round(6)
    array([0.2])
    """
    a, b = finals.get(arm, {}), finals.get(baseline, {})
    out = []
    for r in sorted(a.keys() & b.keys()):
        x, y = a[r].get(metric), b[r].get(metric)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            out.append(float(x) - float(y))
    return np.asarray(out, dtype=float)


def analyse(
    conf: SensitivityConf,
    points: np.ndarray,
    finals: Sequence[Finals | None],
    *,
    entropy: int,
    labels: Mapping[str, str],
    analysis_id: str = "",
    overrides: Sequence[str] = (),
) -> Robustness:
    """Every conclusion of ``conf`` over the audits of the design.

    Parameters
    ----------
    conf : SensitivityConf
    points : ndarray of shape (n_points, n_factors)
        The design (:func:`ampaudit.sensitivity.design.sample`).
    finals : sequence of Finals or None
        Per point, the finished audit's final values (``None``: the audit is missing).
    entropy : int
        The analysis' seed; the bootstrap of the indices draws from its ``analysis``
        stream.
    labels : mapping of str to str
        ``treatment`` and ``control`` labels, for the claims' placeholders.
    """
    results = [
        _conclusion_result(conf, name, c, points, finals, entropy=entropy, labels=labels)
        for name, c in conf.conclusions.items()
    ]
    rows = []
    for i, row in enumerate(points):
        audit = finals[i]
        outcomes: dict[str, float | None] = {}
        for name, c in conf.conclusions.items():
            d = paired_differences(audit or {}, c.arm, c.baseline, c.metric)
            outcomes[name] = float(d.mean()) if len(d) else None
        rows.append(
            {
                "values": {n: float(v) for n, v in zip(conf.factors, row, strict=True)},
                "outcomes": outcomes,
            }
        )
    return Robustness(
        id=analysis_id,
        method=conf.method,
        n=conf.n,
        n_points=len(points),
        confidence=conf.confidence,
        entropy=entropy,
        recommender=labels.get("treatment", "?"),
        baseline=labels.get("control", "?"),
        overrides=list(overrides),
        factors=[
            {"name": name, "path": f.path, "low": float(f.low), "high": float(f.high), "why": f.why}
            for name, f in conf.factors.items()
        ],
        conclusions=results,
        points=rows,
    )


def claim_text(c: ConclusionConf, labels: Mapping[str, str]) -> str:
    """The claim with ``{recommender}`` and ``{baseline}`` filled in.

    Examples
    --------
    >>> c = ConclusionConf(claim="{recommender} beats {baseline}", metric="m")
    >>> claim_text(c, {"treatment": "mf", "control": "chronological"})
    'mf beats chronological'
    """
    return c.claim.replace("{recommender}", labels.get("treatment", "the recommender")).replace(
        "{baseline}", labels.get("control", "the baseline")
    )


def _conclusion_result(
    conf: SensitivityConf,
    name: str,
    c: ConclusionConf,
    points: np.ndarray,
    finals: Sequence[Finals | None],
    *,
    entropy: int,
    labels: Mapping[str, str],
) -> ConclusionResult:
    from ampaudit.report.analysis import estimate

    sign = 1.0 if c.direction == "increases" else -1.0
    outcomes = np.full(len(points), np.nan)
    per_replicate: list[dict[int, float]] = []
    confirmed: int | None = 0
    for i, audit in enumerate(finals):
        by_rep = _replicate_differences(audit or {}, c)
        per_replicate.append(by_rep)
        d = np.array([by_rep[r] for r in sorted(by_rep)])
        if len(d) == 0:
            continue
        outcomes[i] = d.mean()
        if len(d) < 2:
            confirmed = None
            continue
        est = estimate(d, confidence=conf.confidence)
        if confirmed is not None and est is not None:
            confirmed += bool(est.low > 0) if sign > 0 else bool(est.high < 0)
    evaluated = np.isfinite(outcomes)
    n = int(evaluated.sum())
    holds = int((sign * outcomes[evaluated] > 0).sum())
    result = ConclusionResult(
        name=name,
        claim=claim_text(c, labels),
        arm=c.arm,
        baseline=c.baseline,
        metric=c.metric,
        direction=c.direction,
        n_points=n,
        holds=holds,
        holds_share=_wilson(holds, n, conf.confidence) if n else None,
        confirmed=confirmed if n else None,
    )
    if n < len(points):
        result.note = (
            f"{len(points) - n} of {len(points)} points have no result for this conclusion, "
            "so its indices cannot be computed (the design needs every point)"
        )
        return result
    spread = float(outcomes.var(ddof=1))
    if spread == 0:
        result.note = "the outcome did not vary over the space: no factor moves it"
        return result
    result.noise_share = _noise_share(conf, outcomes, per_replicate)
    result.effects = _effects(conf, points, outcomes, sign, entropy)
    return result


def _replicate_differences(finals: Finals, c: ConclusionConf) -> dict[int, float]:
    """Replicate → ``arm − baseline`` of the conclusion's metric (finite values only)."""
    a, b = finals.get(c.arm, {}), finals.get(c.baseline, {})
    out = {}
    for r in sorted(a.keys() & b.keys()):
        x, y = a[r].get(c.metric), b[r].get(c.metric)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            out[r] = float(x) - float(y)
    return out


def compared_pairs(conf: SensitivityConf) -> list[tuple[int, int]]:
    """The pairs of design rows whose outcome differences the method's indices use.

    Examples
    --------
    >>> from ampaudit.sensitivity.conf import FactorConf
    >>> f = {"a": FactorConf("x.a", 0, 1), "b": FactorConf("x.b", 0, 1)}
    >>> compared_pairs(SensitivityConf(n=2, factors=f))
    [(0, 1), (1, 2), (3, 4), (4, 5)]
    >>> compared_pairs(SensitivityConf(method="sobol", n=2, factors=f))
    [(0, 1), (0, 2), (4, 5), (4, 6)]
    """
    k = len(conf.factors)
    if conf.method == "morris":
        return [(t * (k + 1) + j, t * (k + 1) + j + 1) for t in range(conf.n) for j in range(k)]
    return [(t * (k + 2), t * (k + 2) + j + 1) for t in range(conf.n) for j in range(k)]


def _noise_share(
    conf: SensitivityConf, outcomes: np.ndarray, per_replicate: list[dict[int, float]]
) -> float | None:
    """See :attr:`ConclusionResult.noise_share`; None without two replicates everywhere."""
    noise = signal = 0.0
    for i, j in compared_pairs(conf):
        shared = sorted(per_replicate[i].keys() & per_replicate[j].keys())
        if len(shared) < 2:
            return None
        steps = np.array([per_replicate[j][r] - per_replicate[i][r] for r in shared])
        noise += float(steps.var(ddof=1)) / len(steps)
        signal += float(outcomes[j] - outcomes[i]) ** 2
    if signal == 0:
        return None
    return noise / signal


def _wilson(k: int, n: int, confidence: float) -> Interval:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(k / n, float(max(0.0, ci.low)), float(min(1.0, ci.high)))


def _effects(
    conf: SensitivityConf, points: np.ndarray, outcomes: np.ndarray, sign: float, entropy: int
) -> list[FactorEffect]:
    """Morris μ*/σ or Sobol' S1/ST per factor, each with its bootstrap interval."""
    rng = np.random.default_rng(analysis_seeds(entropy)["analysis"])
    names = list(conf.factors)
    if conf.method == "morris":
        from SALib.analyze import morris

        m = morris.analyze(
            problem(conf),
            points,
            outcomes,
            num_resamples=conf.num_resamples,
            conf_level=conf.confidence,
            num_levels=conf.num_levels,
            seed=rng,
        )
        mu_star = np.asarray(m["mu_star"], dtype=float)
        half = np.asarray(m["mu_star_conf"], dtype=float)
        mu = np.asarray(m["mu"], dtype=float)
        sigma = np.asarray(m["sigma"], dtype=float)
        return [
            FactorEffect(
                factor=names[j],
                index=Interval(mu_star[j], max(0.0, mu_star[j] - half[j]), mu_star[j] + half[j]),
                sign=int(np.sign(sign * mu[j])),
                sigma=float(sigma[j]),
            )
            for j in range(len(names))
        ]
    from SALib.analyze import sobol
    from scipy.stats import spearmanr

    # SALib's Sobol' bootstrap takes an int seed, and ignores 0 (global state)
    seed = 1 + int(rng.integers(2**31 - 2))
    s = sobol.analyze(
        problem(conf),
        outcomes,
        calc_second_order=False,
        num_resamples=conf.num_resamples,
        conf_level=conf.confidence,
        seed=seed,
    )
    out = []
    for j, name in enumerate(names):
        column = points[:, j]
        rho = 0.0
        if column.var() > 0:
            rho = float(spearmanr(column, outcomes).statistic)
        out.append(
            FactorEffect(
                factor=name,
                index=_share(s["ST"][j], s["ST_conf"][j]),
                first_order=_share(s["S1"][j], s["S1_conf"][j]),
                sign=int(np.sign(sign * rho)) if math.isfinite(rho) else 0,
            )
        )
    return out


def _share(value: float, half: float) -> Interval:
    """A Sobol' index and its interval, clipped to [0, 1] (estimates can stray out)."""
    v, h = float(value), float(half)
    if not (math.isfinite(v) and math.isfinite(h)):
        return Interval(0.0, 0.0, 1.0)
    clip = min(max(v, 0.0), 1.0)
    return Interval(clip, min(max(v - h, 0.0), clip), max(min(v + h, 1.0), clip))
