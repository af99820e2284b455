"""The Hydra application behind ``ampaudit run``."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, NoReturn

import hydra
from omegaconf import DictConfig, OmegaConf

from ampaudit.config import RunConf, register_configs, validate
from ampaudit.core.errors import ConfigError
from ampaudit.recommenders.remote import RemoteRecommenderError

#: Environment variable ``ampaudit run --wide`` sets (inherited by sweep workers).
WIDE = "AMPAUDIT_WIDE"

__all__ = ["main"]

register_configs()


def _fail(message: str, *, status: int = 2) -> NoReturn:
    """One line on stderr, then exit with ``status`` (2: bad config; 1: a failed run)."""
    print(f"ampaudit: error: {message}", file=sys.stderr)
    raise SystemExit(status) from None


def _terminate_as_interrupt() -> None:
    """Let SIGTERM (a scheduler's or ``kill``'s stop) end runs as KILLED, like Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _progress(total: int, desc: str, unit: str, *, on: bool) -> Any:
    """A progress bar on stderr (``audit.progress``; hidden when stderr is no terminal)."""
    from tqdm import tqdm  # imported late: a config error never pays for it

    return tqdm(total=total, desc=desc, unit=unit, disable=None if on else True, file=sys.stderr)


def run_from_config(cfg: DictConfig) -> Any:
    """Validate ``cfg``, run the audit, log it and print the per-arm table."""
    _terminate_as_interrupt()
    # Mesa logs every step at INFO, and Hydra turns INFO on: keep the terminal readable
    logging.getLogger("MESA").setLevel(logging.WARNING)

    from ampaudit.audit import run_audit
    from ampaudit.summary import (
        cost_table,
        crisis_table,
        paired_vs_unpaired,
        summary_table,
        target_line,
    )
    from ampaudit.tracking import MlflowTracker, flatten

    try:
        if cfg.get("sensitivity") is not None and cfg.sensitivity.point >= 0:
            from ampaudit.sensitivity.design import apply_point

            cfg = apply_point(cfg)  # a point of `ampaudit sensitivity`: its factor values
        conf: RunConf = OmegaConf.to_object(cfg)  # type: ignore[assignment]
        validate(conf)
    except (ConfigError, RemoteRecommenderError) as exc:
        _fail(str(exc))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    if resolved.get("sensitivity") is None:
        # a plain audit: keep its params (and job_key) as before the sensitivity group
        resolved.pop("sensitivity", None)
    tracker = None
    if conf.tracking.enabled:
        tracker = MlflowTracker(conf.tracking.uri, conf.tracking.experiment)
    a = conf.audit
    params = flatten({str(k): v for k, v in resolved.items()})
    if tracker is not None and conf.seed is not None and conf.tracking.skip_finished:
        from ampaudit.tracking import job_key

        done = tracker.finished_job(job_key(params))
        if done is not None:
            # the finished audit is this sweep's point too (its own sweep tag is kept)
            tracker.set_tags(done, _sweep_tags(created=False))
            print(
                f"Already finished: parent run {done} has this exact config and seed; "
                "skipped (tracking.skip_finished=false reruns it)."
            )
            return None
    if a.mode == "sock_puppet":
        return _sock_puppets(conf, tracker, params)
    if a.mode == "dynamics":
        return _dynamics(conf, tracker, params, OmegaConf.to_yaml(cfg, resolve=True))
    total = 2 * a.replicates * a.n_steps
    try:
        with _progress(total, "audit", "step", on=a.progress) as bar:
            result = run_audit(
                conf,
                tracker=tracker,
                params=params,
                config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
                progress=bar.update,
                overrides=_overrides(),
                extra_tags={**(_sensitivity_tags(conf) or {}), **_sweep_tags(created=True)},
            )
    except RemoteRecommenderError as exc:
        _fail(str(exc), status=1)  # the runs are already marked FAILED
    wide = os.environ.get(WIDE) == "1"
    print(summary_table(result, confidence=a.confidence, n_steps=a.n_steps, wide=wide))
    if a.target_ci > 0:
        print(target_line(result, a))
    paired = paired_vs_unpaired(result, confidence=a.confidence)
    if paired:
        print(paired)
    crisis = crisis_table(result, confidence=a.confidence)
    if crisis:
        print("\nCrisis burst\n")
        print(crisis)
    costs = cost_table(result, confidence=a.confidence, wide=wide)
    if costs:
        print("\nBenefit and cost of each intervention\n")
        print(costs)
    if tracker is not None:
        print(
            f"\nMLflow: {tracker.uri}  experiment={conf.tracking.experiment}  "
            f"parent run={result.parent_run_id}"
        )
    print(f"Seed entropy {result.entropy}: add seed={result.entropy} to re-run exactly.")
    if a.mode == "compare+sock_puppet":
        print()
        _sock_puppets(conf, tracker, params, companion_of=result.parent_run_id)
    _panel_report(tracker, result.parent_run_id, a.report)
    return result


def _sensitivity_tags(conf: RunConf) -> dict[str, str] | None:
    """Tags that file a point's audit under its sensitivity analysis (None otherwise)."""
    s = conf.sensitivity
    if s is None or s.point < 0:
        return None
    return {"sensitivity_id": s.id, "sensitivity_point": str(s.point)}


def _panel_report(tracker: Any, parent_run_id: str | None, wanted: bool) -> None:
    """Write the finished audit's panel report; a failure here loses no result."""
    if tracker is None or parent_run_id is None:
        return
    hint = f"ampaudit report {parent_run_id} -o report.html"
    if not wanted:
        print(f"Panel report: {hint}")
        return
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    from ampaudit.report import write_report

    try:
        folder = Path(HydraConfig.get().runtime.output_dir)
    except ValueError:  # outside a Hydra app
        folder = Path.cwd()
    path = folder / "report.html"
    try:
        write_report(parent_run_id, path, uri=tracker.uri)
    except Exception as exc:  # the audit is stored; say why the page is missing
        print(f"Panel report not written ({type(exc).__name__}: {exc}); retry with: {hint}")
        return
    print(f"Panel report: {path} (also the parent run's report.html artifact)")


def _sock_puppets(
    conf: RunConf, tracker: Any, params: dict[str, str], *, companion_of: str | None = None
) -> Any:
    """Run and print a sock-puppet audit; ``companion_of``: the comparison it belongs to.

    A companion audit shares the comparison's seed, is linked to it both ways by
    tags (``companion_of``, ``sock_puppet_run``), and appears in its panel report.
    """
    from ampaudit.config import make_recommender
    from ampaudit.core.seeding import draw_entropy
    from ampaudit.sockpuppet import plan_puppets, run_sock_puppets, sock_table, world_categories

    entropy = conf.seed if conf.seed is not None else draw_entropy()
    # a companion joins its comparison, and a sweep through it
    tags = {"companion_of": companion_of} if companion_of else _sweep_tags(created=True)
    n_walks = conf.audit.replicates * len(
        plan_puppets(conf.audit.sock_puppet, world_categories(conf.world))
    )
    try:
        with _progress(n_walks, "sock puppets", "walk", on=conf.audit.progress) as bar:
            result = run_sock_puppets(
                conf,
                make_recommender=lambda: make_recommender(conf.recommender),
                entropy=entropy,
                tracker=tracker,
                params=params,
                overrides=_overrides(),
                extra_tags=tags,
                progress=bar.update,
            )
    except RemoteRecommenderError as exc:
        _fail(str(exc), status=1)  # the runs are already marked FAILED
    print(f"Sock-puppet audit of {result.label}\n")
    print(sock_table(result))
    if tracker is not None:
        print(f"\nMLflow: {tracker.uri}  parent run={result.parent_run_id}")
    if companion_of is not None:
        if tracker is not None and result.parent_run_id is not None:
            tracker.set_tags(companion_of, {"sock_puppet_run": result.parent_run_id})
        return result
    print(f"Seed entropy {entropy}: add seed={entropy} to re-run exactly.")
    _panel_report(tracker, result.parent_run_id, conf.audit.report)
    return result


def _dynamics(conf: RunConf, tracker: Any, params: dict[str, str], config_yaml: str) -> Any:
    """Run and print opinion dynamics alone (``audit.mode=dynamics``)."""
    from ampaudit.core.seeding import draw_entropy
    from ampaudit.dynamics import dynamics_table, run_dynamics

    a = conf.audit
    entropy = conf.seed if conf.seed is not None else draw_entropy()
    with _progress(a.replicates * a.n_steps, "dynamics", "step", on=a.progress) as bar:
        result = run_dynamics(
            conf,
            entropy=entropy,
            tracker=tracker,
            params=params,
            overrides=_overrides(),
            extra_tags=_sweep_tags(created=True),
            config_yaml=config_yaml,
            progress=bar.update,
        )
    print(dynamics_table(result, confidence=a.confidence))
    if tracker is not None:
        print(
            f"\nMLflow: {tracker.uri}  experiment={conf.tracking.experiment}  "
            f"parent run={result.parent_run_id}"
        )
    print(f"Seed entropy {entropy}: add seed={entropy} to re-run exactly.")
    return result


def _overrides() -> list[str] | None:
    """Hydra overrides of the running job (a sweep job's own values); None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return None


def _sweep_tags(*, created: bool) -> dict[str, str]:
    """Tags that make this job's audit a point of its sweep (none outside a sweep).

    ``created``: the audit was run by this sweep, so it also gets the ``sweep`` tag
    (an audit reused from an earlier sweep keeps that one's).
    """
    from ampaudit.sweep import SWEEP_TAG, job_membership, membership_tags

    member = job_membership()
    if member is None:
        return {}
    sweep_id, job, overrides = member
    tags = membership_tags(sweep_id, job, overrides)
    return {SWEEP_TAG: sweep_id, **tags} if created else tags


@hydra.main(version_base="1.3", config_path="pkg://ampaudit.configs", config_name="config")
def main(cfg: DictConfig) -> None:
    """Run one audit (Hydra entry point; ``ampaudit run`` calls it)."""
    run_from_config(cfg)
