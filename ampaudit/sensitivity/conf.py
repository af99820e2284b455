"""The ``sensitivity`` config group: factors varied, their ranges, and the conclusions tested.

A sensitivity analysis runs the same audit at many points of a box of behavioural
assumptions and asks, for each headline conclusion, where in the box it holds and
which assumptions move it. This module holds its structured config and the checks
that need no composed audit config; :mod:`ampaudit.sensitivity.design` checks the
factor paths against one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from omegaconf import MISSING

from ampaudit.core.errors import ConfigError, check_range

__all__ = [
    "DIRECTIONS",
    "METHODS",
    "ConclusionConf",
    "FactorConf",
    "SensitivityConf",
]

#: Global sensitivity methods (SALib): Morris screening or Sobol' variance indices.
METHODS = ("morris", "sobol")
#: How a conclusion's paired difference ``arm − baseline`` must lean for it to hold.
DIRECTIONS = ("increases", "decreases")
#: Factor and conclusion names become MLflow metric keys and table labels.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


@dataclass
class FactorConf:
    """One assumption varied over a range.

    Parameters
    ----------
    path : str
        Dotted path of a numeric field of the audit config (``behavior.p_follow``).
    low, high : float
        The plausible range, ``low < high``; points are drawn uniformly within it.
        Integer fields get the nearest integer.
    why : str, default=""
        Where the range comes from (a source, or why it is a guess), shown in reports.
    """

    path: str = MISSING
    low: float = MISSING
    high: float = MISSING
    why: str = ""


@dataclass
class ConclusionConf:
    """A headline conclusion, as a paired difference that must lean one way.

    The conclusion holds at a point of the space when the mean over replicates of
    ``metric`` under ``arm`` minus under ``baseline`` (same replicate, common random
    numbers) is above zero (``increases``) or below zero (``decreases``).

    Parameters
    ----------
    claim : str
        The conclusion in plain words; ``{recommender}`` and ``{baseline}`` are
        replaced by the audited recommender's and the control arm's labels.
    arm, baseline : str
        Arms of the audit: ``control``, ``treatment`` or ``+<intervention>``.
    metric : str
        A final metric of the audit (``rec_reach.extreme``, ``cons_share.extreme``).
    direction : {"increases", "decreases"}
    """

    claim: str = MISSING
    arm: str = "treatment"
    baseline: str = "control"
    metric: str = MISSING
    direction: str = "increases"


@dataclass
class SensitivityConf:
    """A global sensitivity analysis of an audit (``ampaudit sensitivity``).

    Parameters
    ----------
    method : {"morris", "sobol"}, default="morris"
        ``morris``: elementary effects (μ*, σ), a cheap screening of which assumptions
        matter, ``n · (k + 1)`` audits for ``k`` factors; ``sobol``: first-order and
        total Sobol' indices (S1, ST), ``n · (k + 2)`` audits.
    n : int, default=4
        Morris trajectories, or Sobol' base samples (a power of 2).
    num_levels : int, default=4
        Grid levels of the Morris design (even).
    num_resamples : int, default=1000
        Bootstrap resamples of the indices' confidence intervals.
    confidence : float, default=0.95
        Level of every interval of the analysis.
    overrides : list of str
        Audit overrides every point runs with (before the command line's), e.g. a
        small world and a short horizon so the whole analysis stays affordable.
    factors : dict of str to FactorConf
        The assumptions varied, by short name.
    conclusions : dict of str to ConclusionConf
        The conclusions tested, by short name.
    point : int, default=-1
        Set by ``ampaudit sensitivity`` on each audit it launches: the row of the
        design this audit runs (-1: not a point of an analysis).
    id : str, default=""
        Set by ``ampaudit sensitivity``: the analysis the point belongs to.
    """

    method: str = "morris"
    n: int = 4
    num_levels: int = 4
    num_resamples: int = 1000
    confidence: float = 0.95
    overrides: list[str] = field(default_factory=list)
    factors: dict[str, FactorConf] = field(default_factory=dict)
    conclusions: dict[str, ConclusionConf] = field(default_factory=dict)
    point: int = -1
    id: str = ""

    def validate(self, prefix: str = "sensitivity") -> None:
        """Raise :class:`ConfigError` naming the first invalid field (paths unchecked)."""
        if self.method not in METHODS:
            raise ConfigError(f"{prefix}.method", self.method, f"one of {', '.join(METHODS)}")
        check_range(f"{prefix}.n", self.n, low=2)
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ConfigError(f"{prefix}.n", self.n, "a power of 2 for method=sobol")
        check_range(f"{prefix}.num_levels", self.num_levels, low=2)
        if self.num_levels % 2:
            raise ConfigError(f"{prefix}.num_levels", self.num_levels, "an even number")
        check_range(f"{prefix}.num_resamples", self.num_resamples, low=10)
        check_range(
            f"{prefix}.confidence", self.confidence, low=0, high=1, low_open=True, high_open=True
        )
        check_range(f"{prefix}.point", self.point, low=-1)
        if len(self.factors) < 2:
            raise ConfigError(
                f"{prefix}.factors", sorted(self.factors), "at least two factors to compare"
            )
        paths: dict[str, str] = {}
        for name, factor in self.factors.items():
            where = f"{prefix}.factors.{name}"
            _check_name(where, name)
            if not isinstance(factor.path, str) or not factor.path:
                raise ConfigError(f"{where}.path", factor.path, "a dotted config path")
            if factor.path.split(".")[0] in ("sensitivity", "seed", "tracking", "hydra"):
                raise ConfigError(
                    f"{where}.path", factor.path, "a field of the audit (world, behavior, ...)"
                )
            if factor.path in paths:
                other = paths[factor.path]
                raise ConfigError(
                    f"{where}.path", factor.path, f"a path no other factor varies ({other})"
                )
            paths[factor.path] = name
            for bound in ("low", "high"):
                value = getattr(factor, bound)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(f"{where}.{bound}", value, "a number")
                if not math.isfinite(value):
                    raise ConfigError(f"{where}.{bound}", value, "a finite number")
            if not factor.low < factor.high:
                raise ConfigError(f"{where}.high", factor.high, f"a number > low ({factor.low:g})")
        if not self.conclusions:
            raise ConfigError(f"{prefix}.conclusions", {}, "at least one conclusion to test")
        for name, c in self.conclusions.items():
            where = f"{prefix}.conclusions.{name}"
            _check_name(where, name)
            if c.direction not in DIRECTIONS:
                raise ConfigError(
                    f"{where}.direction", c.direction, f"one of {', '.join(DIRECTIONS)}"
                )
            if c.arm == c.baseline:
                raise ConfigError(f"{where}.baseline", c.baseline, f"an arm other than {c.arm}")
            if not c.metric:
                raise ConfigError(f"{where}.metric", c.metric, "a final metric of the audit")

    def n_points(self) -> int:
        """Audits the design runs: ``n · (k + 1)`` (Morris) or ``n · (k + 2)`` (Sobol')."""
        k = len(self.factors)
        return self.n * (k + 1 if self.method == "morris" else k + 2)


def _check_name(where: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            where, name, "a name of letters, digits and _ (at most 40, starting with a letter)"
        )
