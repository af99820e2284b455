"""MLflow tracking: one parent run per audit, one child run per arm × replicate.

Uses :class:`mlflow.tracking.MlflowClient` with explicit run ids (no global
active-run state), logs per-step series in batches (per-value ``log_metric`` is
~30× slower) and marks runs FAILED or KILLED when an audit stops early, tagged with
the one-line cause (:data:`ERROR_TAG`). The tracker
records which runs it has open; creating or ending a run and recording it happen with
SIGINT and SIGTERM held, so a stop can never leave a run RUNNING that nobody knows of.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ERROR_TAG",
    "PARENT_TAG",
    "MlflowTracker",
    "arm_runs",
    "audit_runs",
    "flatten",
    "git_commit",
    "job_key",
    "parent_tags",
    "provenance_tags",
    "reading_client",
    "resolve_uri",
    "run_config",
    "user_tags",
]

#: MLflow's tag linking a child run (one arm × replicate) to its audit's parent run.
PARENT_TAG = "mlflow.parentRunId"

#: Tag of a run ended FAILED or KILLED: why, in one line (see :func:`_error_reason`).
ERROR_TAG = "error"

_MAX_REASON_CHARS = 500
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_CHARS = 6000


def resolve_uri(uri: str) -> str:
    """Make a relative ``sqlite:///`` path absolute (against the working directory).

    A bare path to a ``.db`` file means that SQLite store.

    Examples
    --------
    >>> resolve_uri("/data/mlflow.db")
    'sqlite:////data/mlflow.db'
    >>> resolve_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    prefix = "sqlite:///"
    if "://" not in uri and uri.endswith(".db"):
        uri = prefix + uri
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested mapping to dotted keys with string values (MLflow params).

    Examples
    --------
    >>> flatten({"world": {"n_users": 10}, "seed": None})
    {'world.n_users': '10', 'seed': 'None'}
    """
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)[:_MAX_PARAM_CHARS]
    return out


def job_key(params: Mapping[str, str]) -> str:
    """A stable hash of an audit's resolved config, excluding where results are logged.

    Examples
    --------
    >>> job_key({"seed": "1", "tracking.uri": "a"}) == job_key({"seed": "1", "tracking.uri": "b"})
    True
    """
    import hashlib
    import json

    kept = {k: v for k, v in sorted(params.items()) if not k.startswith(("tracking.", "hydra."))}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def git_commit() -> str:
    """The source tree's git commit, or ``"unknown"`` outside a checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance_tags(entropy: int) -> dict[str, str]:
    """Tags every run of an audit carries: seed entropy, package versions, source commit."""
    from ampaudit import __version__

    return {
        "seed_entropy": str(entropy),
        "ampaudit_version": __version__,
        "numpy_version": np.__version__,
        "git_commit": git_commit(),
    }


def parent_tags(
    entropy: int,
    *,
    seed: int | None,
    params: Mapping[str, str],
    overrides: list[str] | None,
) -> dict[str, str]:
    """Tags only an audit's parent run carries.

    ``command``, the exact command that re-runs the audit (from the Hydra
    ``overrides`` with the seed made explicit), and, when the config fixes the
    seed, ``job_key``, which lets ``tracking.skip_finished`` skip a finished audit.
    On the parent only: a finished child does not mean a finished audit.
    """
    tags = {}
    if overrides is not None:
        from ampaudit.report.build import rerun_command

        tags["command"] = rerun_command(overrides, entropy)
    if params and seed is not None:
        tags["job_key"] = job_key(params)
    return tags


def reading_client(uri: str) -> Any:
    """An :class:`~mlflow.tracking.MlflowClient` for reading audits back.

    Artifact downloads stay quiet: MLflow's progress bars would clutter a command's
    output (set ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` to override).
    """
    import os

    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return MlflowClient(tracking_uri=resolve_uri(uri))


def user_tags(run: Any) -> dict[str, str]:
    """A run's own tags, without MLflow's ``mlflow.*`` system tags."""
    return {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}


def run_config(client: Any, run_id: str) -> dict[str, Any] | None:
    """The resolved config an audit logged as ``config.yaml``, or None if it has none."""
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "config.yaml", tmp)
        except Exception:  # an artifact that was never logged
            return None
        loaded = yaml.safe_load(Path(path).read_text())
    return loaded if isinstance(loaded, dict) else None


def audit_runs(client: Any, experiment_id: str) -> list[Any]:
    """The audits of an experiment (its parent runs), newest first.

    A sweep's own run (tag ``mode=sweep``, see :mod:`ampaudit.sweep`) holds the sweep's
    report, not an audit, and is left out.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
    experiment_id : str

    Returns
    -------
    list of mlflow.entities.Run
    """
    runs = client.search_runs(
        [experiment_id], order_by=["attributes.start_time DESC"], max_results=50_000
    )
    return [r for r in runs if PARENT_TAG not in r.data.tags and r.data.tags.get("mode") != "sweep"]


def arm_runs(client: Any, audit: Any) -> list[Any]:
    """The arm × replicate runs (children) of the audit run ``audit``.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
    audit : mlflow.entities.Run
        A parent run, as :func:`audit_runs` returns.

    Returns
    -------
    list of mlflow.entities.Run
    """
    # run ids are MLflow's own hex strings, safe to put in a filter
    return client.search_runs(
        [audit.info.experiment_id],
        f"tags.{PARENT_TAG} = '{audit.info.run_id}'",
        max_results=50_000,
    )


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _error_reason(exc: BaseException) -> str:
    r"""Why an audit stopped, in one line of at most 500 characters.

    The first line of the message is the one a person reads; the rest (a service's
    reply, a traceback) belongs in the log, not in a tag shown atop every report.

    Examples
    --------
    >>> _error_reason(ValueError("bad reply\nfull body..."))
    'ValueError: bad reply'
    >>> _error_reason(KeyboardInterrupt("signal 15"))  # SIGTERM, as ampaudit.app raises it
    'interrupted (signal 15)'
    >>> _error_reason(KeyboardInterrupt())
    'interrupted (Ctrl-C)'
    """
    if isinstance(exc, KeyboardInterrupt):
        lines = str(exc.args[0]).strip().splitlines() if exc.args else []
        reason = f"interrupted ({lines[0] if lines else 'Ctrl-C'})"
    else:
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 1] + "…"
    return reason


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first one.

    A stop that lands inside ``create_run`` after the row is written, but before the
    id is recorded, would otherwise leave a RUNNING run behind. Signal handlers can
    only be swapped on the main thread, which is also the only thread they interrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {
        signum: handler
        for signum in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(signum)) is not None  # None: set outside Python
    }
    for signum in previous:
        signal.signal(signum, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


class MlflowTracker:
    """Log an audit to MLflow.

    Parameters
    ----------
    uri : str
        Tracking URI (see :func:`resolve_uri`).
    experiment : str
        Experiment name; created once, before any run.
    """

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = resolve_uri(uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            location = None
            if self.uri.startswith("sqlite:///"):
                # keep artifacts next to the database, not in whatever cwd a worker has
                db = Path(self.uri[len("sqlite:///") :])
                location = (db.parent / "mlartifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=location
            )
        else:
            self.experiment_id = found.experiment_id
        self.open_runs: list[str] = []  # started, not yet ended; innermost last

    def finished_job(self, key: str) -> str | None:
        """Run id of a FINISHED audit with ``job_key`` tag ``key``, if there is one."""
        runs = self.client.search_runs(
            [self.experiment_id],
            f"tags.job_key = '{key}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_parent(self, name: str, params: Mapping[str, str], tags: Mapping[str, str]) -> str:
        """Create the audit's parent run and log its params; return its id."""
        return self._start(name, params, dict(tags))

    def start_child(
        self, parent_id: str, name: str, params: Mapping[str, str], tags: Mapping[str, str]
    ) -> str:
        """Create a child run under ``parent_id``; return its id."""
        return self._start(name, params, {PARENT_TAG: parent_id, **tags})

    def _start(self, name: str, params: Mapping[str, str], tags: dict[str, str]) -> str:
        """Create an open run, then log its params (on failure it is in :attr:`open_runs`)."""
        from mlflow.entities import Param

        with _interrupts_held():
            run_id = self.client.create_run(
                self.experiment_id, run_name=name, tags=tags
            ).info.run_id
            self.open_runs.append(run_id)
        entries = [Param(k, v) for k, v in params.items()]
        for chunk in _chunks(entries, _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=chunk)
        return run_id

    def log_series(
        self,
        run_id: str,
        series: Mapping[str, np.ndarray],
        final: Mapping[str, float] | None = None,
    ) -> None:
        """Log per-step series (step = index) and final values, in batches.

        NaN values (undefined metrics) are skipped rather than logged.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [
            Metric(key, float(v), now, step)
            for key, values in series.items()
            for step, v in enumerate(np.asarray(values, dtype=float))
            if np.isfinite(v)
        ]
        for key, v in (final or {}).items():
            if np.isfinite(v):
                entries.append(Metric(f"final.{key}", float(v), now, 0))
        for chunk in _chunks(entries, _MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=chunk)

    def log_values(self, run_id: str, values: Mapping[str, float]) -> None:
        """Log single values (step 0) under their own keys, in batches."""
        self.log_series(run_id, {key: np.array([v]) for key, v in values.items()})

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Add (or overwrite) tags of a run, finished or not."""
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def log_text(self, run_id: str, text: str, filename: str) -> None:
        """Store ``text`` as an artifact file of the run."""
        self.client.log_text(run_id, text, filename)

    def log_table(self, run_id: str, table: Any, filename: str) -> None:
        """Store a pandas DataFrame as a Parquet artifact of the run."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            table.to_parquet(path, index=False)
            self.client.log_artifact(run_id, str(path))

    def end(self, run_id: str, status: str = "FINISHED", *, reason: str | None = None) -> None:
        """Terminate a run with ``FINISHED``, ``FAILED`` or ``KILLED``.

        ``reason``, why it ended early, is stored as tag :data:`ERROR_TAG`.
        """
        with _interrupts_held():
            if reason is not None:
                # the run must still end when its cause cannot be recorded
                with contextlib.suppress(Exception):
                    self.client.set_tag(run_id, ERROR_TAG, reason)
            self.client.set_terminated(run_id, status=status)
            if run_id in self.open_runs:
                self.open_runs.remove(run_id)

    def end_after_error(self, exc: BaseException) -> None:
        """Mark every open run KILLED (on Ctrl-C or SIGTERM) or FAILED, innermost first.

        Each is tagged :data:`ERROR_TAG` with ``exc`` in one line, so a report of the
        audit can say why it stopped.
        """
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            reason = _error_reason(exc)
        except Exception:  # a message that cannot be turned into text
            reason = type(exc).__name__
        for run_id in reversed(self.open_runs.copy()):
            self.end_quietly(run_id, status, reason=reason)

    def end_quietly(self, run_id: str, status: str, *, reason: str | None = None) -> None:
        """Terminate a run while handling another error: never raise from here."""
        # the error being handled is the one to report, not a failure to record it
        with contextlib.suppress(Exception):
            self.end(run_id, status, reason=reason)
