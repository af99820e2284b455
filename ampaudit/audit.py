"""Run an audit: arms (a named control baseline and the recommender) × replicates.

Each replicate builds one world from its ``world`` stream (a world loaded from a
file is the same in every replicate); both arms run on private copies of it with
fresh generators from the same ``behavior`` stream (common random numbers), so
their difference is the algorithm's, not noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ampaudit.config import RunConf, make_intervention, make_people, make_recommender
from ampaudit.core.categories import CATEGORIES
from ampaudit.core.seeding import draw_entropy, replicate_streams
from ampaudit.core.trace import Trace
from ampaudit.estimands import difference
from ampaudit.metrics import amplification_ratio, final_metrics, reach, step_metrics
from ampaudit.plugins import recommender_name, system_tags
from ampaudit.recommenders import CONFS
from ampaudit.simulations import AuditModel, make_world

__all__ = ["ArmRun", "AuditResult", "audited_label", "recommender_name", "run_audit"]

ARMS = ("control", "treatment")


def arm_names(interventions: dict[str, Any]) -> list[str]:
    """Arms of an audit: control, treatment, treatment + each intervention, and all composed.

    Examples
    --------
    >>> arm_names({"redirect": {}, "downrank": {}})
    ['control', 'treatment', '+redirect', '+downrank', '+redirect+downrank']
    """
    names = list(interventions)
    arms = [*ARMS, *(f"+{n}" for n in names)]
    if len(names) > 1:
        arms.append("+" + "+".join(names))
    return arms


@dataclass
class ArmRun:
    """Metrics of one arm × replicate.

    Attributes
    ----------
    arm : str
        ``"control"`` or ``"treatment"``.
    replicate : int
    series : dict of str to ndarray of shape (n_steps,)
        Per-step metrics (see :func:`ampaudit.metrics.step_metrics`), plus
        ``amplification.<cat>`` against the same replicate's control.
    final : dict of str to float
        Horizon-level metrics (see :func:`ampaudit.metrics.final_metrics`).
    run_id : str or None
        MLflow child run id.
    """

    arm: str
    replicate: int
    series: dict[str, np.ndarray]
    final: dict[str, float]
    run_id: str | None = None


@dataclass
class AuditResult:
    """All runs of one audit."""

    entropy: int
    labels: dict[str, str]
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    runs: list[ArmRun] = field(default_factory=list)
    #: With ``audit.export_log``: (impressions, items, users) DataFrames.
    logs: tuple[Any, Any, Any] | None = None
    parent_run_id: str | None = None

    def values(self, arm: str, metric: str) -> np.ndarray:
        """Final values of ``metric`` for ``arm``, one per replicate."""
        return np.array([r.final.get(metric, np.nan) for r in self.runs if r.arm == arm])

    def by_replicate(self, arm: str, metric: str) -> dict[int, float]:
        """Final values of ``metric`` for ``arm``, keyed by replicate."""
        return {r.replicate: r.final.get(metric, np.nan) for r in self.runs if r.arm == arm}

    def paired(self, arm: str, baseline: str, metric: str) -> np.ndarray:
        """``arm − baseline`` differences of ``metric``, one per replicate both arms ran."""
        a, b = self.by_replicate(arm, metric), self.by_replicate(baseline, metric)
        return np.array([a[r] - b[r] for r in sorted(a.keys() & b.keys())])

    def finals(self) -> dict[str, dict[int, dict[str, float]]]:
        """Final values keyed arm → replicate → metric."""
        out: dict[str, dict[int, dict[str, float]]] = {}
        for run in self.runs:
            out.setdefault(run.arm, {})[run.replicate] = run.final
        return out

    def summary(self, confidence: float) -> dict[str, float]:
        """The report's comparison table as flat metrics (logged on the parent run).

        See :func:`ampaudit.report.analysis.summary_metrics`.
        """
        from ampaudit.report.analysis import comparison, summary_metrics

        basis = amplification_basis(self.labels["control"])
        cells = comparison(
            self.finals(), self.arms, confidence=confidence, basis=basis, labels=self.labels
        )
        return summary_metrics(cells)

    def to_frame(self) -> Any:
        """Tidy table: one row per (arm, replicate, metric, step); final values at step -1."""
        import pandas as pd

        frames = []
        for run in self.runs:
            for key, values in run.series.items():
                frames.append(
                    pd.DataFrame(
                        {
                            "arm": run.arm,
                            "recommender": self.labels[run.arm],
                            "replicate": run.replicate,
                            "metric": key,
                            "step": np.arange(len(values)),
                            "value": np.asarray(values, dtype=float),
                        }
                    )
                )
            frames.append(
                pd.DataFrame(
                    {
                        "arm": run.arm,
                        "recommender": self.labels[run.arm],
                        "replicate": run.replicate,
                        "metric": [f"final.{k}" for k in run.final],
                        "step": -1,
                        "value": list(run.final.values()),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def audited_label(spec: Any, system: dict[str, str]) -> str:
    """What tables and reports call the audited recommender.

    Its config name (:func:`recommender_name`), except that a service is called by the
    name it declares, not ``remote``.
    """
    if system.get("system.kind") == "remote":
        return system["system.name"]
    return recommender_name(spec)


def amplification_basis(control: str) -> str:
    """Which reach the amplification ratio compares, given the control arm.

    Against a feed (``random``, ``chronological``, ...), users recommended at
    least one item of the set, as Huszár et al. compare timelines. Against
    ``none`` (no feed at all) recommendation reach is zero by construction, so
    exposure by any channel is compared instead: how much reach the feed adds.
    """
    return "reach" if control == "none" else "rec_reach"


def _amplification(series: dict[str, np.ndarray], trt: Trace, ctl: Trace, basis: str) -> None:
    reach_t, reach_c = getattr(trt, basis), getattr(ctl, basis)
    for c, name in enumerate(CATEGORIES):
        series[f"amplification.{name}"] = amplification_ratio(
            reach_t[:, c], trt.n_users, reach_c[:, c], ctl.n_users
        )
        # the absolute difference, users per 1,000: defined when the control reached nobody
        series[f"reach_gain.{name}"] = 1000.0 * (
            reach(reach_t[:, c], trt.n_users) - reach(reach_c[:, c], ctl.n_users)
        )


def run_audit(
    conf: RunConf,
    *,
    tracker: Any = None,
    params: dict[str, str] | None = None,
    config_yaml: str = "",
    progress: Callable[[], None] | None = None,
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
) -> AuditResult:
    """Run every arm × replicate of the audit described by ``conf``.

    Parameters
    ----------
    conf : RunConf
        A validated configuration (see :func:`ampaudit.config.validate`).
    tracker : MlflowTracker, optional
        Where to log; ``None`` keeps results in memory only.
    params : dict of str to str, optional
        Flattened resolved config, logged as params of every run.
    config_yaml : str, optional
        Resolved config, stored as the parent run's ``config.yaml`` artifact.
    progress : callable, optional
        Called once per simulated step.
    overrides : list of str, optional
        The command-line overrides of this audit; with the seed made explicit they
        become the parent's ``command`` tag, the exact command that re-runs it.
    extra_tags : dict of str to str, optional
        More tags of the parent run: a sensitivity point's analysis id and row, the
        sweep it belongs to (:mod:`ampaudit.sweep`).

    Returns
    -------
    AuditResult
    """
    entropy = conf.seed if conf.seed is not None else draw_entropy()
    a = conf.audit
    arms = arm_names(conf.interventions)
    system = system_tags(conf.recommender)
    labels = {"control": a.control, "treatment": audited_label(conf.recommender, system)}
    labels.update({arm: labels["treatment"] + arm for arm in arms[2:]})
    basis = amplification_basis(a.control)
    result = AuditResult(entropy=entropy, labels=labels, arms=arms)
    from ampaudit.tracking import parent_tags, provenance_tags

    base_tags = {
        "recommender": labels["treatment"],
        **system,
        "control": labels["control"],
        "interventions": ",".join(conf.interventions) or "none",
        "amplification_basis": basis,
        **provenance_tags(entropy),
    }
    params = params or {}
    audit_tags = {
        **base_tags,
        **parent_tags(entropy, seed=conf.seed, params=params, overrides=overrides),
        **(extra_tags or {}),
    }
    try:
        if tracker is not None:
            name = f"{labels['treatment']} vs {labels['control']}"
            result.parent_run_id = tracker.start_parent(name, params, audit_tags)
            if config_yaml:
                tracker.log_text(result.parent_run_id, config_yaml, "config.yaml")
        exports: list[tuple[Any, Any, Any]] = []
        r = -1
        while _more_replicates(result, a, r + 1):
            r += 1
            streams = replicate_streams(entropy, r)
            world = make_world(
                conf.world,
                conf.graph,
                n_steps=a.n_steps,
                rng=np.random.default_rng(streams["world"]),
            )
            traces: dict[str, Trace] = {}
            runs: dict[str, ArmRun] = {}
            for arm in arms:
                run_id = None
                if tracker is not None:
                    tags = {
                        **base_tags,
                        "arm": arm,
                        "replicate": str(r),
                        "arm_recommender": labels[arm],
                    }
                    run_id = tracker.start_child(
                        result.parent_run_id, f"{arm}:{labels[arm]}/r{r}", params, tags
                    )
                rec = _arm_recommender(conf, arm)
                model = AuditModel(
                    world,
                    rec,
                    behavior=conf.behavior,
                    n_steps=a.n_steps,
                    slate_size=a.slate_size,
                    n_candidates=a.n_candidates,
                    rng=np.random.default_rng(streams["behavior"]),
                    # both arms draw from the same recommender stream: an audit of a
                    # recommender against itself gives identical arms
                    recommender_rng=np.random.default_rng(streams["recommender"]),
                    people=make_people(conf.people),
                    interventions=_arm_interventions(conf, arm),
                    intervention_seed=streams["interventions"],
                    record_impressions=a.export_log,
                )
                traces[arm] = model.run(progress)
                if a.export_log:
                    exports.append(_export(model, arm, r))
                runs[arm] = ArmRun(
                    arm, r, step_metrics(traces[arm]), final_metrics(traces[arm]), run_id
                )
                _actions(runs[arm], traces[arm])
            for arm in arms:
                run = runs[arm]
                _amplification(run.series, traces[arm], traces["control"], basis)
                for key, values in run.series.items():
                    if key.startswith(("amplification.", "reach_gain.")):
                        run.final[key] = float(values[-1])
                result.runs.append(run)
                if tracker is not None and run.run_id is not None:
                    tracker.log_series(run.run_id, run.series, run.final)
                    tracker.end(run.run_id, "FINISHED")
        if exports:
            import pandas as pd

            result.logs = tuple(  # type: ignore[assignment]
                pd.concat([e[i] for e in exports], ignore_index=True).drop_duplicates()
                for i in range(3)
            )
        if tracker is not None and result.parent_run_id is not None:
            tracker.log_values(result.parent_run_id, result.summary(a.confidence))
            tracker.log_table(result.parent_run_id, result.to_frame(), "metrics.parquet")
            if result.logs is not None:
                for table, name in zip(result.logs, ("impressions", "items", "users"), strict=True):
                    tracker.log_table(result.parent_run_id, table, f"{name}.parquet")
            tracker.end(result.parent_run_id, "FINISHED")
    except BaseException as exc:
        if tracker is not None:
            tracker.end_after_error(exc)
        raise
    return result


def _more_replicates(result: AuditResult, a: Any, done: int) -> bool:
    """Whether to run another replicate: the planned ones, then until ``audit.target_ci``.

    With a target, replicates are added until the confidence interval of the paired
    difference treatment − control of ``audit.target_metric`` has a half-width at most
    ``target_ci``, or ``max_replicates`` is reached.
    """
    if done < a.replicates:
        return True
    if a.target_ci <= 0 or done >= a.max_replicates:
        return False
    diffs = difference(
        result.by_replicate("treatment", a.target_metric),
        result.by_replicate("control", a.target_metric),
        confidence=a.confidence,
    )
    if diffs is None or not diffs.has_interval:
        # identical in every replicate so far: more of them cannot narrow anything
        return diffs is None or diffs.n < 2
    return (diffs.high - diffs.low) / 2 > a.target_ci


def _export(model: AuditModel, arm: str, replicate: int) -> tuple[Any, Any, Any]:
    """One arm's impression log, item table and population size, as DataFrames."""
    import pandas as pd

    log = pd.DataFrame(model.impression_log()).assign(arm=arm, replicate=replicate)
    n = len(model.catalog)
    items = pd.DataFrame(
        {
            "item": np.arange(n),
            "category": np.array(CATEGORIES)[model.catalog.category],
            "replicate": replicate,
        }
    )
    users = pd.DataFrame({"arm": [arm], "replicate": [replicate], "n_users": [model.world.n_users]})
    return log, items, users


def _actions(run: ArmRun, trace: Trace) -> None:
    """Per-step and total counts of what interventions did, by true category."""
    for key, counts in trace.actions.items():
        for c, name in enumerate(CATEGORIES):
            run.series[f"action.{key}.{name}"] = counts[:, c].astype(float)
            run.final[f"action.{key}.{name}"] = float(counts[:, c].sum())


def _arm_interventions(conf: RunConf, arm: str) -> list[Any]:
    """Fresh interventions of an arm, named by their config keys.

    The model hands each its stream at ``reset``, keyed by that name, so an
    intervention draws the same numbers in every arm it is in.
    """
    if not arm.startswith("+"):
        return []
    return [make_intervention(name, conf.interventions[name]) for name in arm[1:].split("+")]


def _arm_recommender(conf: RunConf, arm: str) -> Any:
    if arm != "control":
        return make_recommender(conf.recommender)
    if conf.audit.control == "none":
        return None
    return make_recommender({"_target_": CONFS[conf.audit.control]._target_})
