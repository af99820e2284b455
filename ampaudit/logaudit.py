"""Audits of logged impressions: the same metrics from a platform's impression log.

A platform (or an auditor with access, as in the Christchurch Call Initiative on
Algorithmic Outcomes) supplies an impression log and an item table; ``ampaudit
audit-log`` computes the per-arm metrics a simulated audit reports. With
``epsilon`` the user-count queries behind reach and amplification get Laplace noise
under a total privacy budget.

Log columns: ``user, item, step, position`` (-1 for organic consumption), ``channel``
(0 feed, 1 follow, 2 search), ``clicked`` (bool), ``arm``, and optionally
``replicate``. Item table: ``item, category`` (names or codes), optionally
``replicate``. An optional user table gives ``arm, [replicate,] n_users`` (the reach
denominator; by default, the distinct users of the arm's log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ampaudit.core.categories import CATEGORIES, CHANNELS
from ampaudit.metrics import CHANNEL_TRACKED, amplification_ratio, exposure_share, reach

__all__ = [
    "LogError",
    "PrivacyBudget",
    "audit_log",
    "load_table",
    "log_metrics",
    "noise_warnings",
]

LOG_COLUMNS = {
    "user": "i",
    "item": "i",
    "step": "i",
    "position": "i",
    "channel": "i",
    "clicked": "b",
    "arm": "O",
}
N_CAT = len(CATEGORIES)


class LogError(ValueError):
    """The impression log or item table is unusable; the message says what to fix."""


def load_table(path: str | Path) -> Any:
    """Read a Parquet or CSV file into a DataFrame, with a clear error otherwise."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LogError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise LogError(f"{path}: expected a .parquet or .csv file")


def _check(log: Any, items: Any) -> None:
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        raise LogError(
            f"impression log is missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(LOG_COLUMNS)}"
        )
    for column, kind in LOG_COLUMNS.items():
        k = log[column].dtype.kind
        if kind == "i":
            ok = k in "iu"
        elif kind == "b":
            ok = k == "b" or (k in "iu" and bool(log[column].isin([0, 1]).all()))
        else:
            ok = True
        if not ok:
            expected = "integers" if kind == "i" else "booleans (or 0/1)"
            raise LogError(
                f"impression log column {column!r} has type {log[column].dtype}; "
                f"expected {expected}"
            )
    for column in ("item", "category"):
        if column not in items.columns:
            raise LogError(f"item table is missing column {column!r}; required: item, category")
    if len(log) == 0:
        raise LogError("impression log is empty")


@dataclass
class PrivacyBudget:
    """A total ε, spent query by query (basic sequential composition)."""

    total: float
    spent: float = 0.0

    def spend(self, epsilon: float) -> None:
        """Record a query of privacy cost ``epsilon``; refuse beyond the total."""
        if self.spent + epsilon > self.total * (1 + 1e-9):
            raise LogError(
                f"privacy budget exhausted: {self.spent:.3g} of {self.total:.3g} "
                f"spent, query needs {epsilon:.3g}"
            )
        self.spent += epsilon


def _private_metrics(
    cnt: dict[str, np.ndarray], scale: float, confidence: float
) -> dict[str, float]:
    """Reach from noisy counts, clipped to the possible range, with intervals for the noise."""
    n = float(cnt["n_users"][0])
    out = {"dp.noise_scale_users": scale, "dp.expected_error.reach": scale / n}
    for key in ("reach", "rec_reach"):
        cnt[key] = np.clip(cnt[key], 0.0, n)
        for level, tag in ((confidence, ""), (1 - (1 - confidence) / 2, ".bonferroni")):
            half = scale * math.log(1 / (1 - level))  # P(|Laplace(b)| > t) = exp(-t / b)
            for c, name in enumerate(CATEGORIES):
                out[f"{key}.{name}{tag}.low"] = max(cnt[key][c] - half, 0.0) / n
                out[f"{key}.{name}{tag}.high"] = min(cnt[key][c] + half, n) / n
        for c, name in enumerate(CATEGORIES):
            out[f"{key}.{name}"] = float(cnt[key][c] / n)
    return out


def _private_ratio(
    metrics: dict[str, float], control: dict[str, float], name: str, is_control: bool
) -> None:
    """Amplification's interval from the two reaches' Bonferroni intervals (or a refusal)."""
    if is_control:
        metrics[f"amplification.{name}.low"] = metrics[f"amplification.{name}.high"] = 0.0
        return
    low_t = metrics[f"rec_reach.{name}.bonferroni.low"]
    high_t = metrics[f"rec_reach.{name}.bonferroni.high"]
    low_c = control[f"rec_reach.{name}.bonferroni.low"]
    high_c = control[f"rec_reach.{name}.bonferroni.high"]
    if low_c <= 0 or not math.isfinite(metrics[f"amplification.{name}"]):
        metrics[f"amplification.{name}"] = math.nan
        metrics[f"amplification.{name}.refused"] = 1.0
        return
    metrics[f"amplification.{name}.low"] = low_t / high_c - 1
    metrics[f"amplification.{name}.high"] = high_t / low_c - 1


def noise_warnings(results: dict[tuple[str, int], dict[str, float]], category: str) -> list[str]:
    """Where the differential-privacy noise is comparable to what it hides.

    A warning for each arm whose noisy reach of ``category`` is within four expected
    errors of 0 (the noise could be most of it), and for each refused amplification.
    """
    out = []
    for (arm, rep), m in results.items():
        error = m.get("dp.expected_error.reach")
        if error is None:
            continue
        for key in ("reach", "rec_reach"):
            if m[f"{key}.{category}"] < 4 * error:
                out.append(
                    f"warning: {arm} (replicate {rep}): {key}.{category} = "
                    f"{m[f'{key}.{category}']:.4f} is within four times the noise's expected "
                    f"error ({error:.4f}); the noise may be most of it"
                )
        if m.get(f"amplification.{category}.refused"):
            out.append(
                f"warning: {arm} (replicate {rep}): amplification.{category} not reported: "
                "with this noise the control's reach cannot be told from 0, so no ratio is "
                "bounded; raise epsilon or pool replicates"
            )
    return out


def _codes(values: Any) -> np.ndarray:
    if values.dtype.kind in "iu":
        return values.to_numpy(dtype=np.int64)
    lookup = {name: i for i, name in enumerate(CATEGORIES)}
    unknown = sorted(set(values) - set(lookup))
    if unknown:
        raise LogError(f"unknown categories {unknown}; allowed: {', '.join(CATEGORIES)}")
    return values.map(lookup).to_numpy(dtype=np.int64)


def log_metrics(
    log: Any, items: Any, *, n_users: int | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics of one arm (one replicate) of an impression log.

    Returns
    -------
    metrics : dict of str to float
        ``rec_share.*``, ``cons_share.*``, ``cons_share.<channel>.<cat>``,
        ``reach.*``, ``rec_reach.*``, ``ctr``, as :func:`ampaudit.metrics.final_metrics`.
    counts : dict of str to ndarray
        The user counts behind reach (``reach``, ``rec_reach``) and ``n_users``.
    """
    cat_of = np.full(int(items["item"].max()) + 1, -1, dtype=np.int64)
    cat_of[items["item"].to_numpy()] = _codes(items["category"])
    item = log["item"].to_numpy(dtype=np.int64)
    if item.max() >= len(cat_of) or (cat_of[item] < 0).any():
        raise LogError("impression log has items missing from the item table")
    cat = cat_of[item]
    user = log["user"].to_numpy(dtype=np.int64)
    pos = log["position"].to_numpy()
    chan = log["channel"].to_numpy(dtype=np.int64)
    clicked = log["clicked"].to_numpy(dtype=bool)
    feed = pos >= 0
    n = n_users if n_users is not None else len(np.unique(user))
    out: dict[str, float] = {}
    rec = exposure_share(np.bincount(cat[feed], minlength=N_CAT))
    consumed = np.zeros((len(CHANNELS), N_CAT))
    np.add.at(consumed, (chan[clicked], cat[clicked]), 1)
    cons = exposure_share(consumed.sum(axis=0))
    by_channel = exposure_share(consumed)
    exposed = feed | clicked
    reach_counts = np.array([len(np.unique(user[exposed & (cat == c)])) for c in range(N_CAT)])
    rec_counts = np.array([len(np.unique(user[feed & (cat == c)])) for c in range(N_CAT)])
    for c, name in enumerate(CATEGORIES):
        out[f"rec_share.{name}"] = float(rec[c])
        out[f"cons_share.{name}"] = float(cons[c])
        out[f"reach.{name}"] = float(reach(reach_counts[c], n))
        out[f"rec_reach.{name}"] = float(reach(rec_counts[c], n))
    for name in CHANNEL_TRACKED:
        c = CATEGORIES.index(name)
        for h, channel in enumerate(CHANNELS):
            out[f"cons_share.{channel}.{name}"] = float(by_channel[h, c])
    slates = len(
        np.unique(user[feed] * (int(log["step"].max()) + 1) + log["step"].to_numpy()[feed])
    )
    clicks = int((feed & clicked).sum())
    out["ctr"] = clicks / slates if slates else 0.0
    return out, {"reach": reach_counts, "rec_reach": rec_counts, "n_users": np.array([n])}


def audit_log(
    log: Any,
    items: Any,
    *,
    control: str = "control",
    users: Any = None,
    epsilon: float | None = None,
    rng: np.random.Generator | None = None,
    confidence: float = 0.95,
) -> dict[tuple[str, int], dict[str, float]]:
    """Per-arm (and replicate) metrics of an impression log, amplification vs. ``control``.

    With ``epsilon`` (a total budget), each user-count query (reach and recommendation
    reach per category, sensitivity 1) gets Laplace noise of scale ``b = 1/ε_q``, the
    budget split evenly over the queries; only count-based metrics are then reported.
    Noisy counts are clipped to ``[0, n]`` (post-processing keeps the guarantee; a
    reach cannot be negative), and each comes with a ``confidence`` interval for the
    true count that includes the noise, ``c̃ ± b·ln(1/(1 − confidence))`` (the Laplace
    tail), cut to ``[0, n]``; ``dp.expected_error.reach`` is the noise's expected
    absolute error on a reach, ``b/n``. Amplification's interval combines the two
    reaches' intervals at ``1 − α/2`` each (Bonferroni); it is NaN with
    ``amplification.<cat>.refused = 1`` when the control's interval reaches 0, as no
    ratio is then bounded.

    Raises
    ------
    LogError
        For missing columns, wrong types, unknown items or categories, a missing
        control arm, an empty arm, or an exhausted budget.
    """
    _check(log, items)
    if "replicate" not in log.columns:
        log = log.assign(replicate=0)
    if "replicate" not in items.columns:
        items = items.assign(replicate=0)
    arms = list(dict.fromkeys(log["arm"]))
    if control not in arms:
        raise LogError(f"control arm {control!r} not in the log; arms: {', '.join(map(str, arms))}")
    groups = dict(iter(log.groupby(["arm", "replicate"], sort=False)))
    budget = PrivacyBudget(epsilon) if epsilon is not None else None
    eps_q = epsilon / (2 * N_CAT * len(groups)) if epsilon is not None else None
    if epsilon is not None and rng is None:
        raise LogError("epsilon needs a random generator (pass a seed)")
    results: dict[tuple[str, int], dict[str, float]] = {}
    counts: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for (arm, rep), group in groups.items():
        if len(group) == 0:
            raise LogError(f"arm {arm!r} replicate {rep} has no rows")
        n_users = None
        if users is not None:
            row = users[(users["arm"] == arm) & (users.get("replicate", 0) == rep)]
            n_users = int(row["n_users"].iloc[0]) if len(row) else None
        metrics, cnt = log_metrics(group, items[items["replicate"] == rep], n_users=n_users)
        if budget is not None and eps_q is not None and rng is not None:
            for key in ("reach", "rec_reach"):
                budget.spend(eps_q * N_CAT)
                cnt[key] = cnt[key] + rng.laplace(0.0, 1.0 / eps_q, size=N_CAT)
            metrics = _private_metrics(cnt, 1.0 / eps_q, confidence)
        results[(arm, rep)] = metrics
        counts[(arm, rep)] = cnt
    for (arm, rep), metrics in results.items():
        base = counts.get((control, rep))
        if base is None:
            raise LogError(f"replicate {rep} has no control arm {control!r}")
        mine = counts[(arm, rep)]
        for c, name in enumerate(CATEGORIES):
            metrics[f"amplification.{name}"] = float(
                amplification_ratio(
                    mine["rec_reach"][c],
                    int(mine["n_users"][0]),
                    base["rec_reach"][c],
                    int(base["n_users"][0]),
                )
            )
            if eps_q is not None:
                _private_ratio(metrics, results[(control, rep)], name, arm == control)
    return results
