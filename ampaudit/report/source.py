"""Load what a report needs from its TARGET: an MLflow run, an experiment, or a table.

Final values come from the child runs' ``final.*`` metrics (exactly what MLflow
stores) or from an exported table's ``final.*`` rows; per-step series from the
parent's ``metrics.parquet`` artifact, or from metric histories while a run is
still going. Whatever is missing becomes a note, not an error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import tempfile
from collections.abc import Callable, Iterator
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

__all__ = [
    "AuditData",
    "AuditRef",
    "AuditSet",
    "AuditSource",
    "Evidence",
    "ReportSourceError",
    "audit_list",
    "choose_audit",
    "load_audit",
    "load_audits",
    "open_source",
    "own_audits",
    "same_system",
    "sweep_members",
]

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
    sock_rank : dict or None
        (persona, start) → ndarray of shape (n_replicates, depth): mean utility rank
        of the puppets' picks by their own tastes (0 = favourite), when recorded.
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
    sock_rank: dict[tuple[str, str], Any] | None = None
    #: The comparison table the audit stored on its parent run (``summary.*``,
    #: ``paired.*``), to check the report's numbers against.
    stored_summary: dict[str, float] = field(default_factory=dict)
    #: The runs the report's numbers come from.
    evidence: list[Evidence] = field(default_factory=list)
    #: The latest finished sensitivity analysis of the same system and baseline in the
    #: experiment (:class:`ampaudit.sensitivity.Robustness`), or None.
    robustness: Any = None


@dataclass(frozen=True)
class AuditRef:
    """One audit a TARGET holds, as a choice lists it.

    Attributes
    ----------
    run_id : str
        The audit's parent run id (empty for a table without an ``audit`` column).
    name : str
        The parent run's name (``mf vs chronological``).
    status : str
        MLflow status, or ``"EXPORTED"``.
    started : str
        Start time, ``YYYY-MM-DD HH:MM`` UTC (empty when unknown).
    tags : dict of str to str
        The parent run's own tags (sweeps, ``command``, ``mode``).
    """

    run_id: str
    name: str
    status: str = "FINISHED"
    started: str = ""
    tags: dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """``<run id> (<name>, <start>[, <status>])``, for lists in messages."""
        parts = [p for p in (self.name, self.started) if p]
        if self.status not in ("FINISHED", "EXPORTED"):
            parts.append(self.status)
        return f"{self.run_id or '(no id)'} ({', '.join(parts)})"


#: At most this many audits are listed in one error line.
_LISTED = 10


def audit_list(refs: list[AuditRef]) -> str:
    """Up to 10 audits, newest first, for a one-line message."""
    shown = "; ".join(r.describe() for r in refs[:_LISTED])
    more = len(refs) - _LISTED
    return shown + (f"; and {more} older" if more > 0 else "") if refs else "none"


def choose_audit(refs: list[AuditRef], wanted: str, where: str) -> AuditRef:
    """The audit among ``refs`` whose run id is ``wanted``, or starts with it.

    Raises
    ------
    ReportSourceError
        If no audit or several match; the message lists the candidates.

    Examples
    --------
    >>> refs = [AuditRef("3f2a" + "0" * 28, "mf vs chronological"), AuditRef("3f9b" * 8, "x")]
    >>> choose_audit(refs, "3f2", "here").name
    'mf vs chronological'
    >>> choose_audit(refs, "3f", "here")
    Traceback (most recent call last):
    ...
    ampaudit.report.source.ReportSourceError: --audit '3f' is ambiguous in here: ...
    """
    matches = [r for r in refs if r.run_id == wanted] or [
        r for r in refs if wanted and r.run_id.startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ReportSourceError(
            f"--audit {wanted!r} is ambiguous in {where}: {len(matches)} audits match "
            f"({audit_list(matches)}); give more of the run id"
        )
    raise ReportSourceError(
        f"--audit {wanted!r} matches no audit in {where}; its audits: {audit_list(refs)}"
    )


def sweep_members(refs: list[AuditRef], wanted: str, where: str) -> tuple[str, list[AuditRef]]:
    """``(sweep id, its audits in job order)`` for the sweep whose id is or starts with ``wanted``.

    Raises
    ------
    ReportSourceError
        If no sweep or several match; the message lists the sweeps ``refs`` belong to.
    """
    from ampaudit.sweep import membership, sweep_ids

    counts: dict[str, int] = {}
    for ref in refs:  # newest first, so sweeps are listed newest first
        for sweep in sweep_ids(ref.tags):
            counts[sweep] = counts.get(sweep, 0) + 1
    matches = [s for s in counts if s == wanted] or [
        s for s in counts if wanted and s.startswith(wanted)
    ]
    if len(matches) != 1:
        listed = "; ".join(f"{s} ({n} audits)" for s, n in list(counts.items())[:_LISTED])
        problem = "is ambiguous" if matches else "matches no sweep"
        raise ReportSourceError(
            f"--sweep {wanted!r} {problem} in {where}; sweeps: {listed or 'none'}"
        )
    sweep = matches[0]
    members = [r for r in refs if membership(r.tags, sweep) is not None]
    # job order; the same job twice (a sweep re-run into the same id): newest wins
    by_job: dict[int, AuditRef] = {}
    for ref in reversed(members):
        job = (membership(ref.tags, sweep) or (0, []))[0]
        by_job[job] = ref
    return sweep, [by_job[j] for j in sorted(by_job)]


def own_audits(refs: list[AuditRef]) -> list[AuditRef]:
    """The audits a TARGET means, in the order of ``refs``.

    Not a comparison's companion sock-puppet audit (it is read with its comparison),
    and not a sensitivity analysis or the audits it ran at its points: they are
    evidence of robustness, not the audit a panel asked for. An experiment of
    sensitivity analyses only means those analyses. Never an opinion-dynamics run
    (``audit.mode=dynamics``): it audits no recommender, and has no panel report.
    """
    refs = [r for r in refs if r.tags.get("mode") != "dynamics"]
    own = [
        r
        for r in refs
        if r.tags.get("mode") != "sensitivity"
        and "sensitivity_point" not in r.tags
        and "companion_of" not in r.tags
    ]
    return own or [r for r in refs if r.tags.get("mode") == "sensitivity"] or refs


class AuditSource:
    """The audits a TARGET holds, listed before any is read.

    Use :func:`open_source`. ``refs`` are newest first; :meth:`load` reads one,
    :meth:`latest` reads the one a TARGET means when none is chosen.
    """

    where: str
    refs: list[AuditRef]

    def load(self, ref: AuditRef, notes: list[str] | None = None) -> AuditData:
        """Read the audit ``ref`` names."""
        raise NotImplementedError

    def latest(self) -> AuditData:
        """The audit reported when none is chosen: the latest comparison audit."""
        raise NotImplementedError


def open_source(target: str, *, uri: str = "sqlite:///mlflow.db") -> AuditSource:
    """List the audits ``target`` holds (see :func:`load_audit` for what it may be).

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
            return _TableSource(path)
        except ReportSourceError:
            raise
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
    with _mlflow_errors(target, resolved):
        return _MlflowSource(target, resolved)


@contextlib.contextmanager
def _mlflow_errors(target: str, resolved: str) -> Iterator[None]:
    """An unreachable server or a broken store as one :class:`ReportSourceError`."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as exc:
        raise ReportSourceError(
            f"cannot read TARGET {target!r} from {resolved}: {_first_line(exc)}"
        ) from None


def load_audit(
    target: str, *, uri: str = "sqlite:///mlflow.db", audit: str | None = None
) -> AuditData:
    """Read the audit named by ``target``.

    Parameters
    ----------
    target : str
        An MLflow run id (a parent run, or a child run whose audit is meant), an
        experiment name (its latest audit), or a ``.parquet``/``.csv`` table
        written by ``ampaudit export`` (its latest audit).
    uri : str, default="sqlite:///mlflow.db"
        MLflow tracking URI for run ids and experiment names.
    audit : str, optional
        The parent run id, or a unique prefix of it, of the audit to read among
        those ``target`` holds (:func:`choose_audit`).

    Raises
    ------
    ReportSourceError
        If ``target`` names nothing that exists, or nothing that holds an audit, or
        ``audit`` matches none or several of its audits.
    """
    source = open_source(target, uri=uri)
    if audit is None:
        return source.latest()
    return source.load(choose_audit(source.refs, audit, source.where))


@dataclass
class AuditSet:
    """Several audits of one TARGET, for a comparison.

    Attributes
    ----------
    audits : list of AuditData
        In sweep (job) order, or oldest first.
    overrides : list of list of str
        Per audit, the overrides that made it: the sweep job's (with a sweep), else
        those of its recorded ``command``.
    where : str
        The TARGET, in words (``experiment 'ampaudit' at sqlite:///...``).
    sweep : str or None
        The full sweep id, when the audits are one sweep's.
    """

    audits: list[AuditData]
    overrides: list[list[str]]
    where: str
    sweep: str | None = None


def load_audits(
    target: str, *, uri: str = "sqlite:///mlflow.db", sweep: str | None = None
) -> AuditSet:
    """Every audit ``target`` holds (oldest first), or those of one sweep (job order).

    Sock-puppet audits that accompany a comparison audit are read with it, not on
    their own.

    Parameters
    ----------
    target, uri
        See :func:`load_audit`.
    sweep : str, optional
        A sweep id, or a unique prefix of it (:func:`sweep_members`).

    Raises
    ------
    ReportSourceError
        As :func:`load_audit`, or when ``sweep`` matches no sweep or several.
    """
    from ampaudit.sweep import command_overrides, membership

    source = open_source(target, uri=uri)
    if sweep is None:
        refs = own_audits(source.refs[::-1])
        overrides = [command_overrides(r.tags.get("command", "")) for r in refs]
    else:
        sweep, refs = sweep_members(source.refs, sweep, source.where)
        overrides = [(membership(r.tags, sweep) or (0, []))[1] for r in refs]
    if not refs:
        raise ReportSourceError(f"{source.where} holds no audit")
    return AuditSet([source.load(r) for r in refs], overrides, source.where, sweep)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _started(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _ref(run: Any) -> AuditRef:
    return AuditRef(
        run.info.run_id,
        run.info.run_name or "",
        run.info.status,
        _started(run.info.start_time),
        user_tags(run),
    )


class _MlflowSource(AuditSource):
    """A run id (its audit) or an experiment (its audits) in an MLflow store."""

    def __init__(self, target: str, resolved: str) -> None:
        from mlflow.exceptions import MlflowException

        self.target, self.resolved = target, resolved
        self.client = reading_client(resolved)
        self.notes: list[str] = []
        self.parents: list[Any] | None = None
        run = None
        if _RUN_ID.fullmatch(target):
            try:
                run = self.client.get_run(target)
            except MlflowException:
                run = None
        if run is None:
            experiment = self.client.get_experiment_by_name(target)
            if experiment is None:
                names = sorted(e.name for e in self.client.search_experiments())
                raise ReportSourceError(
                    f"TARGET {target!r} is not a run id or an experiment at {resolved} "
                    f"(experiments: {', '.join(names) or 'none'}), nor a .parquet/.csv table"
                )
            self.where = f"experiment {target!r} at {resolved}"
            self.parents = audit_runs(self.client, experiment.experiment_id)
            if not self.parents:
                raise ReportSourceError(f"experiment {target!r} at {resolved} holds no audit")
            self.runs = self.parents
        else:
            parent_id = run.data.tags.get(PARENT_TAG)
            if parent_id:
                self.notes.append(
                    f"Run {run.info.run_id} is one arm of audit {parent_id}: reporting the audit."
                )
                run = self.client.get_run(parent_id)
            self.where = f"run {run.info.run_id} at {resolved}"
            self.runs = [run]
        self.refs = [_ref(r) for r in self.runs]

    def load(self, ref: AuditRef, notes: list[str] | None = None) -> AuditData:
        """Read the audit ``ref`` names."""
        run = next(r for r in self.runs if r.info.run_id == ref.run_id)
        with _mlflow_errors(self.target, self.resolved):
            return _from_run(
                self.client, run, self.resolved, [*self.notes, *(notes or [])], self.parents
            )

    def latest(self) -> AuditData:
        """The run's audit, or the experiment's latest comparison audit."""
        own = own_audits(self.refs)
        if not own:
            raise ReportSourceError(
                f"TARGET {self.target!r} holds only opinion-dynamics runs "
                "(audit.mode=dynamics), which audit no recommender and have no panel "
                "report: their results are in MLflow and were printed when they ran"
            )
        # compare audits first; an experiment of sock-puppet audits only reports those
        audits = [r for r in own if r.tags.get("mode") != "sock_puppet"] or own
        notes = []
        if len(audits) > 1:
            notes.append(
                f"Experiment {self.target!r} holds {len(audits)} audits; this report covers "
                f"the latest ({audits[0].run_id}). Choose another with --audit ID, or "
                "compare them all with --compare."
            )
        return self.load(audits[0], notes)


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
        data.sock_rank = _sock(client, finished, ("utility_rank", "pick"))
        data.evidence.append(_evidence("sock-puppet walks", run, finished))
        notes.append("This is a sock-puppet audit: it has depth curves but no arms to compare.")
        return data
    data.evidence.append(_evidence("comparison", run, finished))
    data.series = _series(client, run_id, finished)
    companion = _companion(client, run, parents)
    if companion is not None:
        walks = [c for c in arm_runs(client, companion) if c.info.status == "FINISHED"]
        data.sock = _sock(client, walks)
        data.sock_rank = _sock(client, walks, ("utility_rank", "pick"))
        data.evidence.append(_evidence("sock-puppet walks", companion, walks))
    analysis = _sensitivity(client, run, parents)
    if analysis is not None:
        data.robustness = _robustness_of(client, analysis, notes)
        if data.robustness is not None:
            data.evidence.append(_sensitivity_evidence(data.robustness, analysis))
    return data


def _sensitivity(client: Any, run: Any, parents: list[Any] | None) -> Any:
    """The latest finished sensitivity analysis of the same system and baseline as ``run``."""
    same_control = run.data.tags.get("control")
    return _latest_of_system(
        client, run, parents, "sensitivity", lambda t: t.get("control") == same_control
    )


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
    return _latest_of_system(client, run, parents, "sock_puppet")


def _latest_of_system(
    client: Any,
    run: Any,
    parents: list[Any] | None,
    mode: str,
    also: Callable[[dict[str, str]], bool] = lambda tags: True,
) -> Any:
    """The latest finished parent run of ``mode`` that audited the same system as ``run``.

    ``also`` filters further on the candidate's tags; ``parents`` are the experiment's
    parent runs, newest first (searched when ``None``).
    """
    tags = user_tags(run)
    # compared in Python, not in a search filter: the tag values are untrusted text
    for other in parents if parents is not None else audit_runs(client, run.info.experiment_id):
        if (
            other.data.tags.get("mode") == mode
            and other.info.status == "FINISHED"
            and same_system(user_tags(other), tags)
            and also(other.data.tags)
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


def _sock(
    client: Any, children: list[Any], what: tuple[str, str] = ("rec_share", "extreme")
) -> dict[tuple[str, str], Any] | None:
    """A sock-puppet series by depth, per (persona, start), over replicates.

    ``what`` names the series: ``sock.<persona>.<start>.<what[0]>.<what[1]>``; by
    default the extreme share of recommended slots.
    """
    import numpy as np

    curves: dict[tuple[str, str], list[dict[int, float]]] = {}
    for child in children:
        for key in child.data.metrics:
            parts = key.split(".")
            if len(parts) == 5 and parts[0] == "sock" and tuple(parts[3:]) == what:
                history = client.get_metric_history(child.info.run_id, key)
                curves.setdefault((parts[1], parts[2]), []).append(
                    {_step(m): m.value for m in history}
                )
    if not curves:
        return None
    # undefined values (a walk step with nothing shown or picked) were not logged: NaN
    depth = 1 + max(step for runs in curves.values() for run in runs for step in run)
    return {
        cell: np.array([[run.get(d, np.nan) for d in range(depth)] for run in runs])
        for cell, runs in sorted(curves.items())
    }


def _step(metric: Any) -> int:
    return int(metric.step)


def _arm_order(finals: dict[str, Any], config: dict[str, Any] | None) -> list[str]:
    """control, treatment, then intervention arms in the config's order."""
    from ampaudit.audit import arm_names

    planned = arm_names(dict((config or {}).get("interventions") or {}))
    present = [a for a in planned if a in finals]
    return present + sorted(a for a in finals if a not in planned)


class _TableSource(AuditSource):
    """A table written by ``ampaudit export`` (or ``AuditResult.to_frame``)."""

    def __init__(self, path: Path) -> None:
        import pandas as pd

        self.path = path
        self.where = f"table {path.name}"
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = set(SERIES_COLUMNS) - set(table.columns)
        if missing:
            raise ReportSourceError(
                f"TARGET {str(path)!r} is not an ampaudit table: no column "
                f"{', '.join(sorted(missing))}"
            )
        self.table = table
        self.carried = table.attrs.get(TABLE_META, {})
        # `ampaudit export` lists the newest audit first
        ids = [str(a) for a in table.audit.drop_duplicates()] if "audit" in table.columns else []
        if not ids:  # one audit without an id (`AuditResult.to_frame`), or no rows
            self.refs = [AuditRef("", path.name, "EXPORTED")]
            return
        names = {}
        if "audit_name" in table.columns:
            firsts = table.drop_duplicates("audit")
            names = {str(a): str(n) for a, n in zip(firsts.audit, firsts.audit_name, strict=True)}
        self.refs = [
            AuditRef(a, names.get(a, ""), "EXPORTED", "", self.carried.get(a, {}).get("tags", {}))
            for a in ids
        ]

    def load(self, ref: AuditRef, notes: list[str] | None = None) -> AuditData:
        """Read the audit ``ref`` names."""
        table = self.table
        if ref.run_id:
            table = table[table.audit.astype(str) == ref.run_id]
        return _table_audit(self.path, table, ref.run_id or None, self.carried, notes or [])

    def latest(self) -> AuditData:
        """The table's only audit, or its first (the latest export)."""
        own = own_audits(self.refs)
        notes = []
        if len(own) > 1:
            notes.append(
                f"The table holds {len(own)} audits; this report covers the first, "
                f"the latest ({own[0].run_id}). Choose another with --audit ID."
            )
        return self.load(own[0], notes)


def _table_audit(
    path: Path, table: Any, audit: str | None, carried: dict[str, Any], notes: list[str]
) -> AuditData:
    """One audit's rows of an exported table."""
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
