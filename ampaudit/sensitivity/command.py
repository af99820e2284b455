"""``ampaudit sensitivity``: run an audit over a box of assumptions and say where it holds.

1. compose the audit config as ``ampaudit run`` would, with ``sensitivity=default``
   (or the named option) and its ``overrides``, and check everything before any work:
   the sensitivity config, every factor path, the audit at the box's low and high
   corners, and each conclusion's arms and metric (a one-step dry run);
2. draw the design with SALib from the seed and open the analysis' MLflow run;
3. launch every point as ``ampaudit run --multirun ... sensitivity.point=range(0,N)``,
   so any Hydra launcher (``hydra/launcher=joblib``, ``ray``) runs them;
4. read each point's finished audit back from MLflow by its ``sensitivity_id`` tag,
   compute the share of points where each conclusion holds and the Morris or Sobol'
   indices, log them on the analysis run with ``sensitivity.json``, and print a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ampaudit.core.errors import ConfigError

__all__ = ["main"]

#: Overrides every point gets: no progress bars or panel report per point.
POINT_OVERRIDES = ("audit.progress=false", "audit.report=false")
#: Keys a user may not set: the command owns them.
OWNED = ("sensitivity.point", "sensitivity.id")

DESCRIPTION = """Vary the behavioural assumptions of an audit over stated ranges (the
sensitivity config group, default: configs/sensitivity/default.yaml) with SALib's Morris or
Sobol' method, run the audit at every point through the Hydra launcher, and report for each
conclusion the share of the space where it holds and which assumptions drive it. OVERRIDES
are those of `ampaudit run` (recommender=popularity, hydra/launcher=joblib, seed=3) plus
sensitivity.* fields (sensitivity.method=sobol sensitivity.n=8,
~sensitivity.factors.activity)."""


class SensitivityError(Exception):
    """A failure after the checks (the sweep, the store): exit 1 with one line."""


def main(args: list[str]) -> int:
    """Run ``ampaudit sensitivity ARGS``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="ampaudit sensitivity", description=DESCRIPTION)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for ampaudit run")
    parser.add_argument(
        "--plan", action="store_true", help="check the config and print the design; run nothing"
    )
    ns = parser.parse_args(args)
    try:
        plan = prepare(ns.overrides)
    except ConfigError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 2
    if ns.plan:
        print(plan.describe())
        return 0
    try:
        result = execute(plan)
    except SensitivityError as exc:
        print(f"ampaudit: error: {exc}", file=sys.stderr)
        return 1
    from ampaudit.sensitivity.table import robustness_table

    print(robustness_table(result))
    print(f"\nMLflow: {plan.tracking_uri}  sensitivity run={result.run_id}")
    print(f"Re-run exactly: {plan.command}")
    return 0


@dataclass
class Plan:
    """Everything checked and decided before any audit runs."""

    sconf: Any  # SensitivityConf
    conf: Any  # RunConf of the points, before their factor values
    overrides: list[str]  # the command line's, as given
    point_overrides: list[str]  # what each point's `ampaudit run` gets, seed included
    entropy: int
    points: np.ndarray
    analysis_id: str
    labels: dict[str, str]
    tags: dict[str, str]
    tracking_uri: str
    command: str

    def describe(self) -> str:
        """The design in a few lines (``--plan``)."""
        s = self.sconf
        lines = [
            f"Sensitivity analysis {self.analysis_id}: {s.method}, n={s.n}, "
            f"{len(s.factors)} factors, {len(self.points)} audits of "
            f"{self.labels['treatment']} vs {self.labels['control']} (seed {self.entropy})",
            "each point runs: ampaudit run " + shlex.join(self.point_overrides),
            "",
            "factor            config path                  low       high",
        ]
        for name, f in s.factors.items():
            lines.append(f"{name[:16]:<16}  {f.path[:27]:<27}  {f.low:<8g}  {f.high:g}")
        lines.append("")
        for name, c in s.conclusions.items():
            lines.append(f"{name}: {c.metric}, {c.arm} - {c.baseline} {c.direction}")
        return "\n".join(lines)


def _key(override: str) -> str:
    """The config key an override sets (``+a.b=1`` → ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~")


def merge_overrides(base: list[str], given: list[str]) -> list[str]:
    """``base`` then ``given``, dropping base overrides of keys ``given`` sets.

    Examples
    --------
    >>> merge_overrides(["world=small", "audit.n_steps=30"], ["audit.n_steps=5"])
    ['world=small', 'audit.n_steps=5']
    """
    keys = {_key(o) for o in given}
    return [o for o in base if _key(o) not in keys] + list(given)


def _compose(overrides: list[str]) -> Any:
    """The audit config ``ampaudit run OVERRIDES`` would get (no Hydra run)."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from ampaudit.config import register_configs

    register_configs()
    try:
        with initialize_config_module(config_module="ampaudit.configs", version_base="1.3"):
            return compose("config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        message = " ".join(str(exc).split())
        raise ConfigError("overrides", " ".join(overrides), f"a valid config ({message})") from None


def _to_object(cfg: Any) -> Any:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or "config"
        message = " ".join(str(exc).split())
        raise ConfigError(str(key), getattr(exc, "value", None), message) from None


def prepare(overrides: list[str]) -> Plan:
    """Check the analysis and decide its design; nothing runs, nothing is logged.

    Raises
    ------
    ConfigError
        For the first invalid field (one line naming it, the value and what is allowed).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ampaudit.audit import arm_names, audited_label
    from ampaudit.config import validate
    from ampaudit.core.seeding import draw_entropy
    from ampaudit.plugins import system_tags
    from ampaudit.sensitivity.design import check_paths, design_id, sample

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise ConfigError("overrides", " ".join(overrides), f"Hydra overrides ({exc})") from None
    for o in parsed:
        if o.is_sweep_override():
            line = o.input_line or ""
            raise ConfigError(
                o.get_key_element(),
                line.split("=", 1)[-1],
                "one value (a sensitivity analysis is no sweep)",
            )
        if o.get_key_element().lstrip("+~") in OWNED:
            raise ConfigError(o.get_key_element(), o.input_line, "unset: the command sets it")
    given = list(overrides)
    if not any(_key(o) == "sensitivity" for o in given):
        given = ["sensitivity=default", *given]
    cfg = _compose(given)
    sconf = _to_object(cfg.sensitivity)
    sconf.validate()
    point_overrides = merge_overrides([*sconf.overrides, *POINT_OVERRIDES], list(given))
    cfg = _compose(point_overrides)
    conf = _to_object(cfg)
    if not conf.tracking.enabled:
        raise ConfigError(
            "tracking.enabled", False, "true: the points' audits are read back from MLflow"
        )
    if conf.audit.mode != "compare":
        raise ConfigError("audit.mode", conf.audit.mode, "compare for a sensitivity analysis")
    check_paths(cfg, sconf)
    validate(conf)
    for corner in ("low", "high"):
        _check_corner(cfg, sconf, corner)
    arms = arm_names(conf.interventions)
    for name, c in sconf.conclusions.items():
        for role in ("arm", "baseline"):
            if getattr(c, role) not in arms:
                raise ConfigError(
                    f"sensitivity.conclusions.{name}.{role}",
                    getattr(c, role),
                    f"an arm of the audit: {', '.join(arms)} (add interventions=[...] for more)",
                )
    _check_metrics(conf, sconf)
    entropy = int(cfg.seed) if cfg.get("seed") is not None else draw_entropy()
    seeded = [o for o in point_overrides if _key(o) != "seed"] + [f"seed={entropy}"]
    # the launcher changes where points run, not their results (nor, so, the analysis)
    analysis_id = design_id(sconf, [o for o in seeded if not _key(o).startswith("hydra")], entropy)
    system = system_tags(conf.recommender)
    labels = {"treatment": audited_label(conf.recommender, system), "control": conf.audit.control}
    return Plan(
        sconf=sconf,
        conf=conf,
        overrides=list(overrides),
        point_overrides=seeded,
        entropy=entropy,
        points=sample(sconf, entropy),
        analysis_id=analysis_id,
        labels=labels,
        tags={
            "mode": "sensitivity",
            "sensitivity_id": analysis_id,
            "recommender": labels["treatment"],
            **system,
            "control": labels["control"],
            "interventions": ",".join(conf.interventions) or "none",
        },
        tracking_uri=conf.tracking.uri,
        command=shlex.join(
            [
                "ampaudit",
                "sensitivity",
                *[o for o in overrides if _key(o) != "seed"],
                f"seed={entropy}",
            ]
        ),
    )


def _check_corner(cfg: Any, sconf: Any, corner: str) -> None:
    """The audit accepts every factor at its ``low`` (or ``high``) bound at once.

    Field ranges and joint constraints (``p_follow + p_search <= 1``) are monotone in
    the factors checked here, so the two corners stand for the whole box.
    """
    from omegaconf import OmegaConf

    from ampaudit.config import validate
    from ampaudit.sensitivity.design import factor_value

    probe = cfg.copy()
    for f in sconf.factors.values():
        value = factor_value(getattr(f, corner), OmegaConf.select(cfg, f.path))
        OmegaConf.update(probe, f.path, value, merge=False)
    try:
        validate(_to_object(probe))
    except ConfigError as exc:
        for name, f in sconf.factors.items():
            if exc.field == f.path or exc.field.startswith(f.path + " "):
                raise ConfigError(
                    f"sensitivity.factors.{name}.{corner}",
                    getattr(f, corner),
                    f"a value the audit accepts ({exc})",
                ) from None
        raise ConfigError(
            "sensitivity.factors", f"all at {corner}", f"values the audit accepts ({exc})"
        ) from None


def _check_metrics(conf: Any, sconf: Any) -> None:
    """Each conclusion's metric is one the audit records: a one-step, one-replicate dry run."""
    import copy

    from ampaudit.audit import run_audit

    probe = copy.deepcopy(conf)
    probe.audit.n_steps, probe.audit.replicates, probe.audit.target_ci = 1, 1, 0.0
    probe.seed = 0
    result = run_audit(probe)
    recorded = set(result.runs[0].final) if result.runs else set()
    for name, c in sconf.conclusions.items():
        if c.metric not in recorded:
            near = sorted(k for k in recorded if k.split(".")[0] == c.metric.split(".")[0])
            hint = f"e.g. {', '.join(near[:6])}" if near else "see ampaudit.metrics.final_metrics"
            raise ConfigError(
                f"sensitivity.conclusions.{name}.metric",
                c.metric,
                f"a final metric the audit records ({hint})",
            )


def execute(plan: Plan) -> Any:
    """Run the points, read them back, analyse, log; returns the :class:`Robustness`."""
    from ampaudit.sensitivity.analysis import analyse
    from ampaudit.tracking import MlflowTracker, provenance_tags

    s = plan.sconf
    tracker = MlflowTracker(plan.tracking_uri, plan.conf.tracking.experiment)
    params = _params(plan)
    tags = {**plan.tags, **provenance_tags(plan.entropy), "command": plan.command}
    name = f"sensitivity: {plan.labels['treatment']} vs {plan.labels['control']}"
    run_id = tracker.start_parent(name, params, tags)
    try:
        log = Path(f"sensitivity-{plan.analysis_id}.log").resolve()
        _sweep(plan, tracker, log)
        tracker.client.log_artifact(run_id, str(log))
        finals, runs = _collect(tracker, plan.analysis_id, len(plan.points))
        result = analyse(
            s,
            plan.points,
            finals,
            entropy=plan.entropy,
            labels=plan.labels,
            analysis_id=plan.analysis_id,
            overrides=plan.point_overrides,
        )
        result.run_id = run_id
        for row, run in zip(result.points, runs, strict=True):
            row["run"] = run
        tracker.log_values(run_id, _metrics(result))
        tracker.log_text(run_id, json.dumps(result.to_dict(), indent=2), "sensitivity.json")
        tracker.end(run_id, "FINISHED")
    except BaseException as exc:
        tracker.end_after_error(exc)
        raise
    return result


def _params(plan: Plan) -> dict[str, str]:
    s = plan.sconf
    params = {
        "sensitivity.method": s.method,
        "sensitivity.n": str(s.n),
        "sensitivity.num_levels": str(s.num_levels),
        "sensitivity.num_resamples": str(s.num_resamples),
        "sensitivity.confidence": str(s.confidence),
        "sensitivity.n_points": str(len(plan.points)),
        "sensitivity.seed": str(plan.entropy),
        "sensitivity.overrides": " ".join(plan.point_overrides),
    }
    for name, f in s.factors.items():
        params[f"sensitivity.factors.{name}"] = f"{f.path} in [{f.low:g}, {f.high:g}]"
    for name, c in s.conclusions.items():
        params[f"sensitivity.conclusions.{name}"] = (
            f"{c.metric}: {c.arm} - {c.baseline} {c.direction}"
        )
    return params


def _sweep(plan: Plan, tracker: Any, log: Path) -> None:
    """Run every point through ``ampaudit run --multirun``; progress from MLflow."""
    from tqdm import tqdm

    n = len(plan.points)
    argv = [
        sys.executable,
        "-m",
        "ampaudit.cli",
        "run",
        "--multirun",
        *plan.point_overrides,
        f"sensitivity.id={plan.analysis_id}",
        f"sensitivity.point=range(0,{n})",
    ]
    print(f"Running {n} audits; their output goes to {log}", file=sys.stderr)
    with (
        log.open("w") as out,
        _process(argv, out) as proc,
        tqdm(total=n, desc="sensitivity", unit="audit", file=sys.stderr) as bar,
    ):
        while proc.poll() is None:
            time.sleep(2)
            bar.update(len(_finished(tracker, plan.analysis_id)) - bar.n)
        bar.update(len(_finished(tracker, plan.analysis_id)) - bar.n)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise SensitivityError(
            f"the sweep of {n} audits stopped with exit code {proc.returncode}: {tail[0]} "
            f"(full output: {log})"
        )


@contextlib.contextmanager
def _process(argv: list[str], out: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is stopped (only it, by its id) if this one is interrupted."""
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _finished(tracker: Any, analysis_id: str) -> dict[int, Any]:
    """Point → its newest FINISHED audit run of analysis ``analysis_id``."""
    from ampaudit.tracking import PARENT_TAG

    # analysis ids are hex digests (design_id), safe in a filter
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.sensitivity_id = '{analysis_id}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=50_000,
    )
    out: dict[int, Any] = {}
    for run in runs:
        point = run.data.tags.get("sensitivity_point")
        if point is not None and PARENT_TAG not in run.data.tags:
            out.setdefault(int(point), run)
    return out


def _collect(
    tracker: Any, analysis_id: str, n_points: int
) -> tuple[list[dict[str, dict[int, dict[str, float]]] | None], list[str | None]]:
    """Per point, the final values of its finished arm runs (None when missing)."""
    from ampaudit.tracking import arm_runs

    found = _finished(tracker, analysis_id)
    finals: list[dict[str, dict[int, dict[str, float]]] | None] = []
    runs: list[str | None] = []
    for point in range(n_points):
        run = found.get(point)
        runs.append(run.info.run_id if run is not None else None)
        if run is None:
            finals.append(None)
            continue
        audit: dict[str, dict[int, dict[str, float]]] = {}
        for child in arm_runs(tracker.client, run):
            arm, rep = child.data.tags.get("arm"), child.data.tags.get("replicate")
            if child.info.status != "FINISHED" or arm is None or rep is None:
                continue
            audit.setdefault(arm, {})[int(rep)] = {
                k[len("final.") :]: v
                for k, v in child.data.metrics.items()
                if k.startswith("final.")
            }
        finals.append(audit)
    return finals, runs


def _metrics(result: Any) -> dict[str, float]:
    """The analysis as MLflow metrics ``sensitivity.<conclusion>[.<factor>].<stat>``."""
    out: dict[str, float] = {}
    for c in result.conclusions:
        key = f"sensitivity.{c.name}"
        out[f"{key}.points"] = float(c.n_points)
        if c.holds_share is not None:
            out[f"{key}.holds_share"] = c.holds_share.value
            out[f"{key}.holds_share_low"] = c.holds_share.low
            out[f"{key}.holds_share_high"] = c.holds_share.high
        if c.confirmed is not None and c.n_points:
            out[f"{key}.confirmed_share"] = c.confirmed / c.n_points
        if c.noise_share is not None:
            out[f"{key}.noise_share"] = c.noise_share
        for e in c.effects:
            stat = "mu_star" if result.method == "morris" else "ST"
            base = f"{key}.{e.factor}"
            out[f"{base}.{stat}"] = e.index.value
            out[f"{base}.{stat}_low"] = e.index.low
            out[f"{base}.{stat}_high"] = e.index.high
            if e.first_order is not None:
                out[f"{base}.S1"] = e.first_order.value
                out[f"{base}.S1_low"] = e.first_order.low
                out[f"{base}.S1_high"] = e.first_order.high
            if e.sigma is not None:
                out[f"{base}.sigma"] = e.sigma
            out[f"{base}.sign"] = float(e.sign)
    return out
