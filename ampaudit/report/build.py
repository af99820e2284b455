"""Assemble a report from an audit: the numbers, the words and the figures, once.

The HTML page (:mod:`ampaudit.report.html`) and the JSON transparency export
(:mod:`ampaudit.report.transparency`) both render a :class:`Report`, so they
cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from ampaudit import __version__
from ampaudit.report.analysis import (
    COLUMNS,
    Audit,
    Cell,
    Finding,
    Judged,
    by_replicate,
    comparison,
    findings,
    judge,
    recorded_keys,
    sentence,
    summary_metrics,
)
from ampaudit.report.figures import Figure, frontier, groups, opinions, sock_curves, time_series
from ampaudit.report.methodology import Section, methodology
from ampaudit.report.source import AuditData

__all__ = ["ArmVerdict", "Report", "build_report", "factor_meaning", "rerun_command"]


@dataclass
class Report:
    """Everything a report shows.

    Attributes
    ----------
    data : AuditData
    confidence : float
        Level of every interval.
    cells : dict of (arm, metric) to Cell
        The comparison table.
    findings : list of Finding
        Intervention arms, ordered by harm reduced per unit of cost.
    headline : str
        The recommender against its baseline, in one sentence.
    verdicts : list of ArmVerdict
        Each arm but the baseline against the baseline, in plain words.
    notes : list of str
        What is missing or partial.
    """

    data: AuditData
    confidence: float
    cells: dict[tuple[str, str], Cell]
    findings: list[Finding]
    headline: str
    methodology: list[Section]
    verdicts: list[ArmVerdict] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    command: str = ""
    generated: str = ""
    generator: str = f"ampaudit {__version__}"

    @property
    def recommender(self) -> str:
        """Label of the audited recommender."""
        return self.data.labels.get("treatment", self.data.tags.get("recommender", "?"))

    @property
    def system(self) -> str:
        """The system audited: plugin distribution and version, or service name, version, URL."""
        return self.data.tags.get("system") or f"{self.recommender} (identity not recorded)"

    @property
    def baseline(self) -> str:
        """Label of the control arm."""
        return self.data.labels.get("control", self.data.tags.get("control", "?"))

    @property
    def interventions(self) -> list[str]:
        """The intervention arms (``+redirect``, ...), in audit order."""
        return [a for a in self.data.arms if a.startswith("+")]

    @property
    def n_replicates(self) -> int:
        """Replicates with at least one finished arm."""
        return _n_replicates(self.data)

    @property
    def robustness(self) -> Any:
        """The sensitivity analysis of this recommender (``Robustness``), or None."""
        return self.data.robustness

    @property
    def sensitivity_command(self) -> str:
        """The command that would add a sensitivity analysis of this audit's recommender."""
        name = self.data.tags.get("recommender", "")
        control = self.data.tags.get("control", "")
        parts = ["ampaudit", "sensitivity"]
        if name and name.isidentifier():
            parts.append(f"recommender={name}")
        if control and control.isidentifier():
            parts.append(f"audit.control={control}")
        return shlex.join(parts)

    @property
    def n_steps(self) -> int | None:
        """Horizon in steps, from the config (``None`` when the source has none)."""
        steps = _audit_config(self.data).get("n_steps")
        return int(steps) if steps is not None else None


@dataclass(frozen=True)
class ArmVerdict:
    """One arm against the baseline: a sentence and the verdict of each quantity."""

    arm: str
    sentence: str
    judged: dict[str, Judged]


def _verdicts(audit: Audit, arms: list[str], level: float) -> list[ArmVerdict]:
    if not by_replicate(audit.finals, "control", "cons_share.extreme"):
        return []
    out = []
    for arm in arms:
        if arm == "control" or not by_replicate(audit.finals, arm, "cons_share.extreme"):
            continue
        judged = judge(audit, arm, "control", confidence=level)
        said = sentence(judged, audit.name(arm), audit.name("control"))
        out.append(ArmVerdict(arm, said, judged))
    return out


def _n_replicates(data: AuditData) -> int:
    return len({r for reps in data.finals.values() for r in reps})


def _audit_config(data: AuditData) -> dict[str, Any]:
    """The ``audit`` section of the config (empty when the source has none)."""
    return (data.config or {}).get("audit") or {}


def build_report(data: AuditData, *, confidence: float | None = None) -> Report:
    """The report of ``data``; ``confidence`` defaults to the audit's own level."""
    level = float(
        confidence if confidence is not None else _audit_config(data).get("confidence", 0.95)
    )
    audit = _audit(data)
    cells = comparison(
        data.finals, data.arms, confidence=level, basis=audit.basis, labels=data.labels
    )
    ranked = findings(data.finals, data.arms, confidence=level)
    verdicts = _verdicts(audit, data.arms, level)
    report = Report(
        data=data,
        confidence=level,
        cells=cells,
        findings=ranked,
        headline=_headline(data, verdicts),
        verdicts=verdicts,
        methodology=methodology(
            data.config,
            data.tags,
            n_replicates=_n_replicates(data) or None,
        ),
        notes=list(data.notes),
        command=_command(data),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    report.notes += _gaps(report)
    report.figures = [
        f
        for f in (
            time_series(data.series, data.arms, data.labels, confidence=level),
            frontier(ranked, data.labels),
            groups(data.finals, data.arms, data.labels),
            opinions(data.finals, data.arms, data.labels),
            sock_curves(data.sock, data.sock_rank),
        )
        if f is not None
    ]
    return report


def _headline(data: AuditData, verdicts: list[ArmVerdict]) -> str:
    if data.tags.get("mode") == "sock_puppet" and data.sock:
        return _sock_headline(data)
    # the audited recommender's verdict, present when it and its baseline have finished
    for v in verdicts:
        if v.arm == "treatment":
            return v.sentence
    return (
        "The recommender and its baseline have not both finished, so they cannot be compared yet."
    )


def _audit(data: AuditData) -> Audit:
    """The audit's finals with its amplification basis and arm labels."""
    return Audit(data.finals, data.tags.get("amplification_basis", "rec_reach"), data.labels)


def _sock_headline(data: AuditData) -> str:
    assert data.sock is not None
    rec = data.tags.get("recommender", "the recommender")
    parts = []
    present = {s for _, s in data.sock}
    for start in [s for s in ("extreme", "mainstream") if s in present] or sorted(present)[:1]:
        curves = [c for (_, s), c in data.sock.items() if s == start and c.size]
        if curves:
            first = float(sum(c[:, 0].mean() for c in curves) / len(curves))
            last = float(sum(c[:, -1].mean() for c in curves) / len(curves))
            depth = curves[0].shape[1]
            parts.append(
                f"from a {start} start, {_pct(first)} of what {rec} recommended was extreme "
                f"at the first step and {_pct(last)} at depth {depth}"
            )
    return "Scripted accounts always followed a recommendation: " + "; ".join(parts) + "."


def _pct(share: float) -> str:
    return f"{100 * share:.2f}%"


def _gaps(report: Report) -> list[str]:
    """Notes for what the audit lacks, so a partial report says why it is partial."""
    data = report.data
    notes: list[str] = []
    if data.tags.get("mode") in ("sock_puppet", "sensitivity"):
        return notes  # no arms by design: the source's note says so
    if not data.finals:
        notes.append("No arm of this audit has finished a replicate yet: there is nothing to show.")
    elif len(data.arms) == 1:
        notes.append(
            f"Only one arm ({data.arms[0]}) has results: without a second arm there is no "
            "comparison and no amplification to report."
        )
    planned = ((data.config or {}).get("interventions")) or {}
    if data.finals and not planned and not any(a.startswith("+") for a in data.arms):
        notes.append(
            "This audit tested no interventions, so there are no findings to rank. "
            "Add some with interventions=[redirect,downrank] (any of the interventions "
            "config group)."
        )
    recorded = recorded_keys(data.finals)
    for column in COLUMNS:
        if data.finals and column.key not in recorded:
            notes.append(
                f"'{column.title}' ({column.key}) was not recorded by this audit (an older "
                "ampaudit version, or a metric this source lacks); its cells read n/a."
            )
    if data.finals and not any(k.startswith("group.") for k in recorded):
        notes.append("No per-group metrics were recorded: the group breakdown is left out.")
    if data.finals and not any(k.startswith("opinion_hist.") for k in recorded):
        notes.append("No opinion histograms were recorded: the before/after figure is left out.")
    if data.sock is None and data.tags.get("mode") != "sock_puppet":
        notes.append(
            "No sock-puppet audit of this system is in the experiment; run the audit with "
            "audit.mode=compare+sock_puppet (or one with audit.mode=sock_puppet) to add "
            "depth curves."
        )
    stored = data.stored_summary
    if stored:
        computed = summary_metrics(report.cells)
        differ = sorted(
            k
            for k in stored.keys() & computed.keys()
            if not math.isclose(stored[k], computed[k], rel_tol=1e-9, abs_tol=1e-12)
        )
        if differ:
            notes.append(
                f"{len(differ)} table values differ from the summary the audit stored on its "
                f"parent run (e.g. {differ[0]}): the child runs were changed after the audit."
            )
    if data.finals and data.series is not None and len(data.series) == 0:
        notes.append("No per-step series were found: the time-series figure is left out.")
    return notes


def _command(data: AuditData) -> str:
    """The command that re-runs the audit exactly."""
    if data.tags.get("command"):
        return data.tags["command"]
    entropy = data.tags.get("seed_entropy")
    seed = f" seed={entropy}" if entropy else ""
    return (
        f"ampaudit run{seed}  # plus the overrides in the run's config.yaml; this run "
        "recorded no command line"
    )


def rerun_command(overrides: list[str], entropy: int) -> str:
    """``ampaudit run`` with ``overrides`` and the seed that reproduces the run.

    Examples
    --------
    >>> rerun_command(["recommender=mf", "seed=3", "interventions=[redirect]"], 3)
    "ampaudit run recommender=mf 'interventions=[redirect]' seed=3"
    """
    kept = [o for o in overrides if not o.lstrip("+~").startswith("seed=")]
    return shlex.join(["ampaudit", "run", *kept, f"seed={entropy}"])


def factor_meaning(path: str) -> str:
    """What a varied config field means, from its class's docstring ("" when unknown).

    Examples
    --------
    >>> factor_meaning("behavior.p_follow")
    'Probability that an active user browses a followed creator instead of the feed.'
    >>> factor_meaning("recommender.factors")
    ''
    """
    from ampaudit.report.methodology import GROUP_CLASSES, _documented, parameter_docs

    group, _, name = path.partition(".")
    target = GROUP_CLASSES.get(group)
    if target is None:
        return ""
    for obj in _documented(target):
        found = parameter_docs(obj).get(name)
        if found:
            return found
    return ""
