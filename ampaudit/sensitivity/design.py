"""The design of a sensitivity analysis: which audit runs at which point of the space.

The points are drawn with SALib from the analysis' seed, so every audit launched by
``ampaudit sensitivity`` re-draws the same design and picks its own row
(``sensitivity.point``): the command line of one point is enough to re-run it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ampaudit.core.errors import ConfigError
from ampaudit.sensitivity.conf import SensitivityConf

__all__ = [
    "analysis_seeds",
    "apply_point",
    "check_paths",
    "design_id",
    "factor_value",
    "point_values",
    "problem",
    "sample",
]

#: ``spawn_key`` of the analysis' streams under the run's seed; replicates use ``(r,)``
#: with small ``r``, so they never meet it.
SPAWN_KEY = zlib.crc32(b"ampaudit.sensitivity")


def problem(conf: SensitivityConf) -> dict[str, Any]:
    """The SALib problem: one variable per factor, uniform on ``[low, high]``.

    Examples
    --------
    >>> from ampaudit.sensitivity.conf import FactorConf
    >>> conf = SensitivityConf(factors={"a": FactorConf("x.a", 0, 1), "b": FactorConf("x.b", 2, 4)})
    >>> problem(conf)
    {'num_vars': 2, 'names': ['a', 'b'], 'bounds': [[0.0, 1.0], [2.0, 4.0]]}
    """
    return {
        "num_vars": len(conf.factors),
        "names": list(conf.factors),
        "bounds": [[float(f.low), float(f.high)] for f in conf.factors.values()],
    }


def analysis_seeds(entropy: int) -> dict[str, np.random.SeedSequence]:
    """The analysis' two streams: ``design`` (the points) and ``analysis`` (bootstraps)."""
    root = np.random.SeedSequence(entropy, spawn_key=(SPAWN_KEY,))
    design, analysis = root.spawn(2)
    return {"design": design, "analysis": analysis}


def sample(conf: SensitivityConf, entropy: int) -> np.ndarray:
    """The points of the design, one row per audit, columns in factor order.

    Parameters
    ----------
    conf : SensitivityConf
        A validated config.
    entropy : int
        The run's seed; the same seed gives the same points.

    Returns
    -------
    ndarray of shape (n_points, n_factors)
        Morris trajectories (``n · (k + 1)`` rows, on a ``num_levels`` grid) or the
        Saltelli matrices of Sobol' indices without second order (``n · (k + 2)``).
    """
    rng = np.random.default_rng(analysis_seeds(entropy)["design"])
    if conf.method == "morris":
        from SALib.sample import morris

        points = morris.sample(problem(conf), conf.n, num_levels=conf.num_levels, seed=rng)
    else:
        from SALib.sample import sobol

        points = sobol.sample(problem(conf), conf.n, calc_second_order=False, seed=rng)
    assert points.shape == (conf.n_points(), len(conf.factors))
    return np.asarray(points, dtype=float)


def factor_value(value: float, current: Any) -> float | int:
    """A sampled value as the field takes it: integer fields get the nearest integer."""
    if isinstance(current, int) and not isinstance(current, bool):
        return round(value)
    return float(value)


def point_values(cfg: DictConfig, conf: SensitivityConf, row: np.ndarray) -> dict[str, Any]:
    """Config path → the value a point sets, for ``row`` of the design."""
    return {
        f.path: factor_value(float(v), OmegaConf.select(cfg, f.path))
        for f, v in zip(conf.factors.values(), row, strict=True)
    }


def check_paths(cfg: DictConfig, conf: SensitivityConf) -> None:
    """Check that every factor names a numeric field of the composed audit config ``cfg``.

    Raises
    ------
    ConfigError
        Naming the factor's ``path`` field when the field does not exist or is not a
        number, or its ``low``/``high`` when an integer field's range has no integer.
    """
    for name, f in conf.factors.items():
        where = f"sensitivity.factors.{name}"
        current = OmegaConf.select(cfg, f.path, default=_ABSENT)
        if current is _ABSENT:
            raise ConfigError(f"{where}.path", f.path, "a field of the audit config")
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise ConfigError(
                f"{where}.path", f.path, f"a numeric field (it holds {type(current).__name__})"
            )
        if isinstance(current, int) and round(f.low) == round(f.high):
            raise ConfigError(
                f"{where}.high", f.high, f"a range of integer field {f.path} holding 2+ integers"
            )


_ABSENT = object()


def apply_point(cfg: DictConfig) -> DictConfig:
    """``cfg`` with its sensitivity point's factor values set (a copy).

    Raises
    ------
    ConfigError
        If the sensitivity config, a factor path or the seed is invalid.
    """
    conf: SensitivityConf = OmegaConf.to_object(cfg.sensitivity)  # type: ignore[assignment]
    conf.validate()
    if cfg.get("seed") is None:
        raise ConfigError("seed", None, "the analysis' seed (ampaudit sensitivity sets it)")
    check_paths(cfg, conf)
    points = sample(conf, int(cfg.seed))
    if conf.point >= len(points):
        raise ConfigError(
            "sensitivity.point", conf.point, f"a row of the design: 0 to {len(points) - 1}"
        )
    out = cfg.copy()
    for path, value in point_values(cfg, conf, points[conf.point]).items():
        OmegaConf.update(out, path, value, merge=False)
    return out


def design_id(conf: SensitivityConf, overrides: list[str], entropy: int) -> str:
    """A stable name of an analysis: its config, its command-line overrides and its seed.

    The same command with the same seed gets the same id, so a re-run finds (and, with
    ``tracking.skip_finished``, skips) the points already finished.

    Examples
    --------
    >>> from ampaudit.sensitivity.conf import FactorConf
    >>> conf = SensitivityConf(factors={"a": FactorConf("x.a", 0, 1)})
    >>> design_id(conf, [], 1) == design_id(conf, [], 1) != design_id(conf, [], 2)
    True
    """
    settings = OmegaConf.to_container(OmegaConf.structured(conf))
    assert isinstance(settings, dict)
    settings.pop("point")
    settings.pop("id")
    text = json.dumps([settings, overrides, entropy], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
