"""Load what a report needs from its TARGET: an MLflow run, an experiment, or a table.

Final values come from the child runs' ``final.*`` metrics (exactly what MLflow
stores) or from an exported table's ``final.*`` rows; per-step series from the
parent's ``metrics.parquet`` artifact, or from metric histories while a run is
still going. Whatever is missing becomes a note, not an error.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ampaudit.tracking import (
    ERROR_TAG,
    PARENT_TAG,
    arm_runs,
    audit_runs,
    reading_client,
    resolve_uri,
    run_config,
    user_tags,
)

__all__ = ["AuditData", "Evidence", "ReportSourceError", "load_audit", "same_system"]

#: Per-step series the figures draw.
SERIES = ("cons_share.extreme", "rec_share.extreme", "radicalised")
#: Columns of the series table (and the ones an exported table must have).
SERIES_COLUMNS = ["arm", "replicate", "metric", "step", "value"]
#: Key in ``DataFrame.attrs`` (kept in Parquet metadata) of the configs and tags of
#: the audits an exported table holds: audit → {"config": ..., "tags": ...}.
TABLE_META = "ampaudit"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class ReportSourceError(ValueError):
    """The TARGET of a report does not exist or holds no audit."""


@dataclass(frozen=True)
class Evidence:
    """Where a part of a report comes from: an audit run and the runs under it.

    Attributes
    ----------
    what : str
        ``"comparison"`` or ``"sock-puppet walks"``.
    run_id : str
        The audit's parent run.
    runs : tuple of str
        Its finished arm × replicate (or walk replicate) runs that the report used.
    """

    what: str
    run_id: str
    runs: tuple[str, ...] = ()


@dataclass
class AuditData:
    """One audit, as a report reads it.

    Attributes
    ----------
    finals : dict
        arm → replicate → metric → final value (``final.`` prefix dropped).
    labels : dict of str to str
        arm → recommender label (``mf``, ``mf+redirect``, ``chronological``).
    arms : list of str
        Arms in audit order.
    series : DataFrame or None
        Columns arm, replicate, metric, step, value for :data:`SERIES`.
    config : dict or None
        The resolved configuration.
    tags : dict of str to str
        The parent run's tags (version, commit, seed entropy, command).
    status : str
        MLflow status of the parent run, or ``"EXPORTED"`` for a table.
    notes : list of str
        What is missing or partial, in plain words.
    sock : dict or None
        (persona, start) → ndarray of shape (n_replicates, depth): extreme share of
        recommended slots by walk depth, from a sock-puppet audit.
    """

    source: str
    finals: dict[str, dict[int, dict[str, float]]]
    labels: dict[str, str]
    arms: list[str]
    series: Any = None
    config: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)
    sock: dict[tuple[str, str], Any] | None = None
    #: The comparison table the audit stored on its parent run (``summary.*``,
    #: ``paired.*``), to check the report's numbers against.
    stored_summary: dict[str, float] = field(default_factory=dict)
    #: The runs the report's numbers come from.
    evidence: list[Evidence] = field(default_factory=list)
    #: The latest finished sensitivity analysis of the same system and baseline in the
    #: experiment (:class:`ampaudit.sensitivity.Robustness`), or None.
    robustness: Any = None


def load_audit(target: str, *, uri: str = "sqlite:///mlflow.db") -> AuditData:
    """Read the audit named by ``target``.

    Parameters
    ----------
    target : str
        An MLflow run id (a parent run, or a child run whose audit is meant), an
        experiment name (its latest audit), or a ``.parquet``/``.csv`` table
        written by ``ampaudit export``.
    uri : str, default="sqlite:///mlflow.db"
        MLflow tracking URI for run ids and experiment names.

    Raises
    ------
    ReportSourceError
        If ``target`` names nothing that exists, or nothing that holds an audit.
    """
    path = Path(target)
    if path.suffix in (".parquet", ".csv"):
        if not path.is_file():
            raise ReportSourceError(f"TARGET {target!r}: no such table file")
        try:
            return _from_table(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ReportSourceError(
                f"TARGET {target!r} is not a readable table: {_first_line(exc)}"
            ) from None
    resolved = resolve_uri(uri)
    if resolved.startswith("sqlite:///") and not Path(resolved[len("sqlite:///") :]).is_file():
        # MLflow would create an empty store: say what is wrong instead
        raise ReportSourceError(
            f"TARGET {target!r}: no MLflow store at {resolved} (pass --uri, or a table file)"
        )
    from mlflow.exceptions import MlflowException

    try:
        return _from_mlflow(target, resolved)
    except (MlflowException, OSError) as exc:  # an unreachable server, a broken store
        raise ReportSourceError(
            f"cannot read TARGET {target!r} from {resolved}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _from_mlflow(target: str, resolved: str) -> AuditData:
    from mlflow.exceptions import MlflowException

    client = reading_client(resolved)
    run = None
    if _RUN_ID.fullmatch(target):
        try:
            run = client.get_run(target)
        except MlflowException:
            run = None
    notes = []
    parents = None
    if run is None:
        experiment = client.get_experiment_by_name(target)
        if experiment is None:
            names = sorted(e.name for e in client.search_experiments())
            raise ReportSourceError(
                f"TARGET {target!r} is not a run id or an experiment at {resolved} "
                f"(experiments: {', '.join(names) or 'none'}), nor a .parquet/.csv table"
            )
        parents = audit_runs(client, experiment.experiment_id)
        # compare audits first; an experiment of sock-puppet audits only reports those.
        # The audits a sensitivity analysis ran at its points, and the analysis itself,
        # are evidence of robustness, not the audit a panel asked for.
        own = [r for r in parents if not _is_sensitivity(r)]
        if not own:  # an experiment of sensitivity analyses only: report the latest one
            own = [r for r in parents if r.data.tags.get("mode") == "sensitivity"] or parents
        audits = [r for r in own if r.data.tags.get("mode") != "sock_puppet"] or own
        if not audits:
            raise ReportSourceError(f"experiment {target!r} at {resolved} holds no audit")
        run = audits[0]
        if len(audits) > 1:
            notes.append(
                f"Experiment {target!r} holds {len(audits)} audits; this report covers the "
                f"latest ({run.info.run_id}). Pass a parent run id for another."
            )
    parent_id = run.data.tags.get(PARENT_TAG)
    if parent_id:
        notes.append(f"Run {run.info.run_id} is one arm of audit {parent_id}: reporting the audit.")
        run = client.get_run(parent_id)
    return _from_run(client, run, resolved, notes, parents)


def _from_run(
    client: Any, run: Any, uri: str, notes: list[str], parents: list[Any] | None = None
) -> AuditData:
    """Read audit ``run``; ``parents``: its experiment's audits, if already listed."""
    run_id = run.info.run_id
    tags = user_tags(run)
    children = arm_runs(client, run)
    finished = [c for c in children if c.info.status == "FINISHED"]
    status = run.info.status
    if status != "FINISHED":
        # untrusted text like every tag; the page escapes it
        reason = tags.get(ERROR_TAG)
        cause = f" ({reason})" if reason else ""
        notes.append(
            f"The audit's parent run is {status}{cause}: {len(finished)} of {len(children)} "
            "arm-replicate runs have finished, and this report shows only those."
        )
    finals: dict[str, dict[int, dict[str, float]]] = {}
    labels: dict[str, str] = {}
    for child, arm, rep in _arm_replicates(finished):
        labels[arm] = child.data.tags.get("arm_recommender", arm)
        finals.setdefault(arm, {})[rep] = {
            k[len("final.") :]: v for k, v in child.data.metrics.items() if k.startswith("final.")
        }
    config = run_config(client, run_id)  # None: a note, not a failure
    data = AuditData(
        source=f"MLflow run {run_id} at {uri}",
        finals=finals,
        labels=labels,
        arms=_arm_order(finals, config),
        config=config,
        tags=tags,
        status=status,
        run_id=run_id,
        notes=notes,
        stored_summary={
            k: v for k, v in run.data.metrics.items() if k.startswith(("summary.", "paired."))
        },
    )
    if tags.get("mode") == "sensitivity":
        data.robustness = _robustness_of(client, run, notes)
        if data.robustness is not None:
            data.evidence.append(_sensitivity_evidence(data.robustness, run))
        notes.append(
            "This is a sensitivity analysis: it has no arms of its own; its robustness "
            "section is below."
        )
        return data
    if tags.get("mode") == "sock_puppet":
        data.sock = _sock(client, finished)
        data.evidence.append(_evidence("sock-puppet walks", run, finished))
        notes.append("This is a sock-puppet audit: it has depth curves but no arms to compare.")
        return data
    data.evidence.append(_evidence("comparison", run, finished))
    data.series = _series(client, run_id, finished)
    companion = _companion(client, run, parents)
    if companion is not None:
        walks = [c for c in arm_runs(client, companion) if c.info.status == "FINISHED"]
        data.sock = _sock(client, walks)
        data.evidence.append(_evidence("sock-puppet walks", companion, walks))
    analysis = _sensitivity(client, run, parents)
    if analysis is not None:
        data.robustness = _robustness_of(client, analysis, notes)
        if data.robustness is not None:
            data.evidence.append(_sensitivity_evidence(data.robustness, analysis))
    return data


def _is_sensitivity(run: Any) -> bool:
    """Whether ``run`` is a sensitivity analysis or one of the audits it ran."""
    tags = run.data.tags
    return tags.get("mode") == "sensitivity" or "sensitivity_point" in tags


def _sensitivity(client: Any, run: Any, parents: list[Any] | None) -> Any:
    """The latest finished sensitivity analysis of the same system and baseline as ``run``."""
    tags = user_tags(run)
    # compared in Python, not in a search filter: the tag values are untrusted text
    for other in parents if parents is not None else audit_runs(client, run.info.experiment_id):
        if (
            other.data.tags.get("mode") == "sensitivity"
            and other.info.status == "FINISHED"
            and same_system(user_tags(other), tags)
            and other.data.tags.get("control") == tags.get("control")
        ):
            return other
    return None


def _robustness_of(client: Any, analysis: Any, notes: list[str]) -> Any:
    """The ``sensitivity.json`` of an analysis run, or None with a note saying why."""
    import json

    from ampaudit.sensitivity.analysis import Robustness

    run_id = analysis.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "sensitivity.json", tmp)
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception as exc:  # never logged, or not JSON
            notes.append(
                f"Sensitivity analysis {run_id} has no readable sensitivity.json "
                f"({_first_line(exc)}): the robustness section is left out."
            )
            return None
    try:
        robustness = Robustness.from_dict(loaded)
    except ValueError as exc:
        notes.append(f"Sensitivity analysis {run_id}: {exc}; the robustness section is left out.")
        return None
    robustness.run_id = run_id
    return robustness


def _sensitivity_evidence(robustness: Any, analysis: Any) -> Evidence:
    runs = tuple(sorted(str(p["run"]) for p in robustness.points if p.get("run")))
    return Evidence("sensitivity analysis", analysis.info.run_id, runs)


def _evidence(what: str, audit: Any, children: list[Any]) -> Evidence:
    return Evidence(what, audit.info.run_id, tuple(sorted(c.info.run_id for c in children)))


def same_system(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two audits' tags name the same audited system.

    By the ``system`` tag (a plugin's distribution and version, a service's declared
    name, version and URL); audits from before that tag are matched by recommender
    label, but never with an audit that has it.

    Examples
    --------
    >>> same_system({"system": "service r 1 at http://a"}, {"system": "service r 1 at http://b"})
    False
    >>> same_system({"recommender": "mf"}, {"recommender": "mf"})
    True
    """
    if "system" in a or "system" in b:
        return a.get("system") == b.get("system")
    return a.get("recommender") == b.get("recommender")


def _companion(client: Any, run: Any, parents: list[Any] | None) -> Any:
    """The finished sock-puppet audit of the same system as compare audit ``run``.

    The one the run itself links to (``audit.mode=compare+sock_puppet``), else the
    latest in the experiment that audited the same system (:func:`same_system`).
    """
    from mlflow.exceptions import MlflowException

    linked = run.data.tags.get("sock_puppet_run")
    if linked and _RUN_ID.fullmatch(linked):
        try:
            walk = client.get_run(linked)
        except MlflowException:
            walk = None
        if walk is not None and walk.info.status == "FINISHED":
            return walk
    tags = user_tags(run)
    # compared in Python, not in a search filter: the tag values are untrusted text
    for other in parents if parents is not None else audit_runs(client, run.info.experiment_id):
        if (
            other.data.tags.get("mode") == "sock_puppet"
            and other.info.status == "FINISHED"
            and same_system(user_tags(other), tags)
        ):
            return other
    return None


def _series(client: Any, run_id: str, finished: list[Any]) -> Any:
    """Per-step series: the parent's table when the audit finished, else metric histories."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "metrics.parquet", tmp)
            return _series_rows(pd.read_parquet(path))
        except Exception:  # still running, or failed before the table was written
            pass
    rows = []
    for child, arm, rep in _arm_replicates(finished):
        for key in SERIES:
            for m in client.get_metric_history(child.info.run_id, key):
                rows.append((arm, rep, key, m.step, m.value))
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


def _series_rows(table: Any) -> Any:
    """The per-step rows of :data:`SERIES` in a tidy metrics table."""
    return table.loc[table.metric.isin(SERIES) & (table.step >= 0), SERIES_COLUMNS]


def _arm_replicates(children: list[Any]) -> list[tuple[Any, str, int]]:
    """(run, arm, replicate) of the arm runs among ``children`` (tagged ``arm``, ``replicate``)."""
    out = []
    for child in children:
        arm, rep = child.data.tags.get("arm"), child.data.tags.get("replicate")
        if arm is not None and rep is not None:
            out.append((child, arm, int(rep)))
    return out


def _sock(client: Any, children: list[Any]) -> dict[tuple[str, str], Any] | None:
    """Extreme share of recommended slots by depth, per (persona, start), over replicates."""
    import numpy as np

    curves: dict[tuple[str, str], list[Any]] = {}
    for child in children:
        for key in child.data.metrics:
            parts = key.split(".")
            if len(parts) == 5 and parts[0] == "sock" and parts[3:] == ["rec_share", "extreme"]:
                history = sorted(client.get_metric_history(child.info.run_id, key), key=_step)
                curves.setdefault((parts[1], parts[2]), []).append([m.value for m in history])
    if not curves:
        return None
    return {cell: np.array(v) for cell, v in sorted(curves.items())}


def _step(metric: Any) -> int:
    return int(metric.step)


def _arm_order(finals: dict[str, Any], config: dict[str, Any] | None) -> list[str]:
    """control, treatment, then intervention arms in the config's order."""
    from ampaudit.audit import arm_names

    planned = arm_names(dict((config or {}).get("interventions") or {}))
    present = [a for a in planned if a in finals]
    return present + sorted(a for a in finals if a not in planned)


def _from_table(path: Path) -> AuditData:
    """An audit from a table written by ``ampaudit export`` (or ``AuditResult.to_frame``)."""
    import pandas as pd

    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    carried = table.attrs.get(TABLE_META, {})
    missing = set(SERIES_COLUMNS) - set(table.columns)
    if missing:
        raise ReportSourceError(
            f"TARGET {str(path)!r} is not an ampaudit table: no column {', '.join(sorted(missing))}"
        )
    notes = []
    audit = None
    if "audit" in table.columns and table.audit.nunique() > 1:
        audit = str(table.audit.iloc[0])  # `ampaudit export` lists the newest audit first
        notes.append(
            f"The table holds {table.audit.nunique()} audits; this report covers the first, "
            f"the latest ({audit}). Filter the table on its audit column for another."
        )
        table = table[table.audit == audit]
    elif "audit" in table.columns and len(table):
        audit = str(table.audit.iloc[0])
    meta = carried.get(audit or "", {})
    finals: dict[str, dict[int, dict[str, float]]] = {}
    labels = {}
    for arm, group in table.groupby("arm", sort=False):
        if "recommender" in group.columns:
            labels[str(arm)] = str(group.recommender.iloc[0])
        last = group[group.step == -1]
        for rep, metric, value in zip(last.replicate, last.metric, last.value, strict=True):
            if str(metric).startswith("final.") and math.isfinite(value):
                finals.setdefault(str(arm), {}).setdefault(int(rep), {})[metric[6:]] = float(value)
    config = meta.get("config")
    if config is None:
        notes.append(
            "The table carries no configuration: the methodology section lists only what "
            "the table shows."
        )
    return AuditData(
        source=f"exported table {path.name}" + (f", audit {audit}" if audit else ""),
        finals=finals,
        labels={a: labels.get(a, a) for a in finals},
        arms=_arm_order(finals, config),
        series=_series_rows(table),
        config=config,
        tags=meta.get("tags", {}),
        status="EXPORTED",
        run_id=audit,
        notes=notes,
    )
