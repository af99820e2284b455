"""Export an experiment's results from MLflow as one tidy table."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

__all__ = ["export_experiment"]


def export_experiment(uri: str, experiment: str) -> Any:
    """Tidy table of every finished audit in ``experiment``.

    One row per (audit, arm, replicate, metric, step) — final values at step -1 —
    read from each parent run's ``metrics.parquet`` artifact (the same values the
    child runs hold as metric histories), with the audit's parent run id and name.
    ``table.attrs["ampaudit"]`` maps each audit to its resolved config and tags
    (Parquet keeps it; CSV does not), so a report can state its methodology.

    Raises
    ------
    ValueError
        If the experiment does not exist or holds no finished audit.
    """
    import pandas as pd

    from ampaudit.tracking import audit_runs, reading_client, run_config, user_tags

    client = reading_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"experiment {experiment!r} not found at {uri}")
    parents = [r for r in audit_runs(client, found.experiment_id) if r.info.status == "FINISHED"]
    frames = []
    carried = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in parents:
            names = {a.path for a in client.list_artifacts(run.info.run_id)}
            if "metrics.parquet" not in names:
                continue
            path = client.download_artifacts(run.info.run_id, "metrics.parquet", tmp)
            table = pd.read_parquet(path)
            frames.append(table.assign(audit=run.info.run_id, audit_name=run.info.run_name))
            Path(path).unlink()
            carried[run.info.run_id] = {
                "config": run_config(client, run.info.run_id),
                "tags": user_tags(run),
            }
    if not frames:
        raise ValueError(f"experiment {experiment!r} holds no finished audit")
    table = pd.concat(frames, ignore_index=True)
    columns = ["audit", "audit_name", "arm", "recommender", "replicate", "metric", "step", "value"]
    table = table[columns].reset_index(drop=True)
    table.attrs["ampaudit"] = carried
    return table
