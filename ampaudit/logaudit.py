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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ampaudit.core.categories import CATEGORIES, CHANNELS
from ampaudit.metrics import CHANNEL_TRACKED, amplification_ratio, exposure_share, reach

__all__ = ["LogError", "PrivacyBudget", "audit_log", "load_table", "log_metrics"]

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
) -> dict[tuple[str, int], dict[str, float]]:
    """Per-arm (and replicate) metrics of an impression log, amplification vs. ``control``.

    With ``epsilon`` (a total budget), each user-count query (reach and recommendation
    reach per category, sensitivity 1) gets Laplace noise of scale ``1/ε_q``, the
    budget split evenly over the queries; only count-based metrics are then reported.

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
            n = float(cnt["n_users"][0])
            metrics = {
                f"{key}.{name}": float(cnt[key][c] / n)
                for key in ("reach", "rec_reach")
                for c, name in enumerate(CATEGORIES)
            }
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
    return results
