"""Hydra callbacks: shared state before sweep workers start, one comparison after."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

__all__ = ["MlflowSetupCallback", "SweepReportCallback"]


class MlflowSetupCallback(Callback):
    """Create the MLflow store and experiment in the launching process.

    Parallel workers that each create a fresh SQLite store race on its schema
    ("duplicate column name"), and concurrent ``create_experiment`` calls race on the
    name; doing both once before the launcher starts removes the race.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Create the store and the experiment named by ``config.tracking``."""
        tracking = config.get("tracking")
        if tracking is None or not tracking.get("enabled", True):
            return
        from ampaudit.tracking import MlflowTracker

        MlflowTracker(str(tracking.uri), str(tracking.experiment))


class SweepReportCallback(Callback):
    """One comparison table and one report for all the audits of a ``--multirun`` sweep.

    Both hooks run in the launching process, whatever the launcher. At the start the
    sweep gets an id, handed to every job (:func:`ampaudit.sweep.join_override`), whose
    audit is tagged with it. At the end the sweep's audits are read back from MLflow
    by that tag, so exactly this sweep's, from any machine the jobs ran on. The table
    goes to stdout; the report to ``report.html`` in the sweep folder and to a run
    named ``sweep <id>`` (tag ``mode=sweep``) in the experiment. The points of a
    sensitivity analysis (``sensitivity.id`` set) are left alone: the analysis
    reports on them itself.
    """

    def __init__(self) -> None:
        self.sweep_id: str | None = None

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Give the sweep an id and hand it to every job through a Hydra override."""
        from omegaconf import read_write

        from ampaudit.sweep import join_override, new_sweep_id

        sensitivity = config.get("sensitivity")
        if sensitivity is not None and sensitivity.get("id"):
            return  # a sensitivity analysis's points: the analysis reports on them itself
        self.sweep_id = new_sweep_id()
        # every launcher recomposes each job's config from these overrides
        with read_write(config.hydra.overrides):
            config.hydra.overrides.hydra.append(join_override(self.sweep_id))
        tracking = config.get("tracking")
        if tracking is not None and tracking.get("enabled", True):
            # said first, so a sweep stopped half-way can still be compared
            print(
                f"Sweep {self.sweep_id}: one table and one report of all its audits follow "
                f"when they finish (any time: ampaudit report {tracking.experiment} "
                f"--sweep {self.sweep_id} -o report.html)"
            )

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Print the sweep's comparison table and write its report."""
        tracking = config.get("tracking")
        if self.sweep_id is None:
            return
        if tracking is None or not tracking.get("enabled", True):
            print("\nNo sweep comparison: tracking is off, so the audits were not stored.")
            return
        uri, experiment = str(tracking.uri), str(tracking.experiment)
        hint = shlex.join(
            ["ampaudit", "report", experiment, "--sweep", self.sweep_id, "-o", "report.html"]
        )
        hint += "" if uri == "sqlite:///mlflow.db" else f" --uri {shlex.quote(uri)}"
        try:
            summarise_sweep(
                self.sweep_id,
                uri=uri,
                experiment=experiment,
                folder=Path(str(config.hydra.sweep.dir)),
                command=shlex.join(
                    ["ampaudit", "run", "--multirun", *map(str, config.hydra.overrides.task)]
                ),
                write=bool((config.get("audit") or {}).get("report", True)),
                hint=hint,
            )
        except Exception as exc:  # every audit is stored: say why the summary is missing
            print(
                f"\nSweep comparison not produced ({type(exc).__name__}: {exc}); "
                f"retry with: {hint}",
                file=sys.stderr,
            )


def summarise_sweep(
    sweep_id: str,
    *,
    uri: str,
    experiment: str,
    folder: Path,
    command: str,
    write: bool = True,
    hint: str = "",
) -> Any:
    """Print sweep ``sweep_id``'s comparison table; write and log its report.

    Parameters
    ----------
    sweep_id : str
    uri, experiment : str
        Where the sweep's run (``mode=sweep``) is logged; its audits are found by
        their tag in any experiment of ``uri``.
    folder : Path
        The sweep's folder, for ``report.html``.
    command : str
        The command that ran the sweep (a tag of the sweep's run).
    write : bool, default=True
        Write and log the HTML report (``audit.report``); else print how to.
    hint : str
        The command that rebuilds the report.

    Returns
    -------
    Comparison or None
        None when no audit of the sweep is stored.
    """
    from ampaudit.report.compare import build_comparison, comparison_text, write_comparison
    from ampaudit.report.source import load_audit
    from ampaudit.sweep import SWEEP_MODE, SWEEP_TAG, membership, sweep_audit_runs
    from ampaudit.tracking import MlflowTracker, reading_client

    client = reading_client(uri)
    runs = [r for r in sweep_audit_runs(client, sweep_id) if "companion_of" not in r.data.tags]
    if not runs:
        print(f"\nSweep {sweep_id}: no audit of it is stored in MLflow at {uri}.")
        return None
    audits = [load_audit(r.info.run_id, uri=uri) for r in runs]
    overrides = [(membership(r.data.tags, sweep_id) or (0, []))[1] for r in runs]
    tracker = MlflowTracker(uri, experiment)
    comparison = build_comparison(
        audits,
        overrides,
        title=f"Sweep {sweep_id}",
        source=f"experiment {experiment!r} at {tracker.uri}",
        sweep=sweep_id,
    )
    text = comparison_text(comparison)
    print(f"\n{text}")
    run_id = tracker.start_parent(
        f"sweep {sweep_id}",
        {},
        {"mode": SWEEP_MODE, SWEEP_TAG: sweep_id, "command": command, "audits": str(len(runs))},
    )
    try:
        tracker.log_text(run_id, text + "\n", "comparison.txt")
        if write:
            path = (folder / "report.html").resolve()
            tracker.log_text(run_id, write_comparison(comparison, path), "report.html")
            print(f"Sweep report: {path} (also the report.html of MLflow run 'sweep {sweep_id}')")
        else:
            print(f"Sweep report: {hint}")
    except BaseException as exc:
        tracker.end_after_error(exc)
        raise
    tracker.end(run_id, "FINISHED")
    return comparison
