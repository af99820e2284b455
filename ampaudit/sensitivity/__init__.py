"""How robust is each conclusion: a global sensitivity analysis of an audit (SALib).

``ampaudit sensitivity`` (:mod:`~ampaudit.sensitivity.command`) runs the audit at the
points of a Morris or Sobol' design over the ``sensitivity`` config group's factors
(:mod:`~ampaudit.sensitivity.conf`, :mod:`~ampaudit.sensitivity.design`), then says,
per conclusion, where it holds and which assumptions drive it
(:mod:`~ampaudit.sensitivity.analysis`, :mod:`~ampaudit.sensitivity.table`).
"""

from __future__ import annotations

from ampaudit.sensitivity.analysis import ConclusionResult, FactorEffect, Robustness, analyse
from ampaudit.sensitivity.conf import ConclusionConf, FactorConf, SensitivityConf

__all__ = [
    "ConclusionConf",
    "ConclusionResult",
    "FactorConf",
    "FactorEffect",
    "Robustness",
    "SensitivityConf",
    "analyse",
]
