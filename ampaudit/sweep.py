"""Sweeps: which audits one ``ampaudit run --multirun`` ran, recorded as MLflow tags.

A sweep gets an id in the launching process (:func:`new_sweep_id`), which reaches
every job through the Hydra override :func:`join_override`: each job's config is
recomposed from the sweep's Hydra overrides, whatever the launcher (basic, joblib,
submitit, Ray), and Hydra sets ``hydra.job.env_set`` in the job. The job tags its
audit's parent run with :func:`membership_tags`; an audit skipped because it already
finished (``tracking.skip_finished``) joins the sweep by the same tag. So the audits
of a sweep are found in MLflow, never in local folders, and exactly that sweep's.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MEMBER_PREFIX",
    "SWEEP_ENV",
    "SWEEP_MODE",
    "SWEEP_TAG",
    "command_overrides",
    "job_membership",
    "join_override",
    "membership",
    "membership_tags",
    "new_sweep_id",
    "point_labels",
    "sweep_audit_runs",
    "sweep_ids",
    "sweep_run",
]

#: The variable Hydra sets in every job of a sweep (``hydra.job.env_set``).
SWEEP_ENV = "AMPAUDIT_SWEEP"
#: Tag of the audits a sweep created (and of the sweep's own run): the sweep id.
SWEEP_TAG = "sweep"
#: ``sweep.<id>`` tags an audit as a point of sweep ``<id>``; the value is JSON
#: ``{"job": <job number>, "overrides": [<the job's overrides>]}``. An audit reused
#: by a later sweep carries one such tag per sweep.
MEMBER_PREFIX = "sweep."
#: ``mode`` tag of a sweep's own run (it holds the sweep report; it is not an audit).
SWEEP_MODE = "sweep"
_SWEEP_ID = re.compile(r"[0-9a-f]{12}")


def new_sweep_id() -> str:
    """A fresh sweep id: 12 hex digits (48 random bits).

    Examples
    --------
    >>> len(new_sweep_id())
    12
    """
    return uuid.uuid4().hex[:12]


def join_override(sweep_id: str) -> str:
    """The Hydra override that hands ``sweep_id`` to every job of the sweep.

    Examples
    --------
    >>> join_override("0123456789ab")
    '++hydra.job.env_set.AMPAUDIT_SWEEP=0123456789ab'
    """
    return f"++hydra.job.env_set.{SWEEP_ENV}={sweep_id}"


def job_membership() -> tuple[str, int, list[str]] | None:
    """``(sweep id, job number, overrides)`` of the running Hydra job, if a sweep's.

    ``None`` outside Hydra, in a single run, or in a sweep started without the
    ampaudit sweep callback.
    """
    from hydra.core.hydra_config import HydraConfig

    try:
        hydra = HydraConfig.get()
    except ValueError:  # outside a Hydra app
        return None
    sweep_id = str((hydra.job.env_set or {}).get(SWEEP_ENV, ""))
    if not _SWEEP_ID.fullmatch(sweep_id):
        return None
    num = getattr(hydra.job, "num", None)
    return sweep_id, int(num) if num is not None else 0, [str(o) for o in hydra.overrides.task]


def membership_tags(sweep_id: str, job: int, overrides: Sequence[str]) -> dict[str, str]:
    """The tag that makes an audit point ``job`` of sweep ``sweep_id``.

    Examples
    --------
    >>> membership_tags("0123456789ab", 2, ["recommender=mf"])
    {'sweep.0123456789ab': '{"job": 2, "overrides": ["recommender=mf"]}'}
    """
    return {MEMBER_PREFIX + sweep_id: json.dumps({"job": job, "overrides": list(overrides)})}


def membership(tags: Mapping[str, str], sweep_id: str) -> tuple[int, list[str]] | None:
    """``(job number, overrides)`` of an audit in sweep ``sweep_id``; None if not in it.

    Tags are untrusted text: a value that is not the expected JSON counts as job 0
    with no overrides, not as an error.

    Examples
    --------
    >>> membership({"sweep.0123456789ab": '{"job": 1, "overrides": ["x=1"]}'}, "0123456789ab")
    (1, ['x=1'])
    >>> membership({}, "0123456789ab") is None
    True
    """
    raw = tags.get(MEMBER_PREFIX + sweep_id)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        return int(value["job"]), [str(o) for o in value["overrides"]]
    except (ValueError, TypeError, KeyError):
        return 0, []


def sweep_ids(tags: Mapping[str, str]) -> list[str]:
    """The sweeps an audit belongs to, from its tags (sorted).

    Examples
    --------
    >>> sweep_ids({"sweep": "0123456789ab", "sweep.0123456789ab": "{}", "sweep.x": "{}"})
    ['0123456789ab']
    """
    found = (k[len(MEMBER_PREFIX) :] for k in tags if k.startswith(MEMBER_PREFIX))
    return sorted(s for s in found if _SWEEP_ID.fullmatch(s))


def sweep_audit_runs(client: Any, sweep_id: str) -> list[Any]:
    """The parent runs of sweep ``sweep_id``'s audits, in job order, in any experiment.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
    sweep_id : str
        A full sweep id (12 hex digits).

    Returns
    -------
    list of mlflow.entities.Run
    """
    if not _SWEEP_ID.fullmatch(sweep_id):
        raise ValueError(f"sweep id {sweep_id!r} is not 12 hex digits")
    experiments = [e.experiment_id for e in client.search_experiments()]
    # the id is checked hex, safe inside a filter
    runs = client.search_runs(
        experiments, f"tags.`{MEMBER_PREFIX}{sweep_id}` LIKE '%'", max_results=50_000
    )
    return sorted(runs, key=lambda r: (membership(r.data.tags, sweep_id) or (0, []))[0])


def sweep_run(client: Any, sweep_id: str) -> Any:
    """The newest run of sweep ``sweep_id`` itself (``mode=sweep``), or None."""
    if not _SWEEP_ID.fullmatch(sweep_id):
        return None
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.mode = '{SWEEP_MODE}' and tags.{SWEEP_TAG} = '{sweep_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def command_overrides(command: str) -> list[str]:
    """The overrides of an ``ampaudit run ...`` command (a parent run's ``command`` tag).

    Examples
    --------
    >>> command_overrides("ampaudit run recommender=mf 'interventions=[redirect]' seed=3")
    ['recommender=mf', 'interventions=[redirect]', 'seed=3']
    >>> command_overrides("ampaudit run seed=1  # plus the overrides in config.yaml")
    ['seed=1']
    """
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # unbalanced quotes in an untrusted tag
        return []
    if words[:2] == ["ampaudit", "run"]:
        words = words[2:]
    return [w for w in words if "=" in w or w.startswith("~")]


def _key_value(override: str) -> tuple[str, str]:
    """``(key, value)`` of a Hydra override (``+``/``++`` prefixes dropped)."""
    if override.startswith("~"):
        return override[1:].split("=", 1)[0], "(deleted)"
    key, _, value = override.lstrip("+").partition("=")
    return key, value


def point_labels(overrides: Sequence[Sequence[str]], *, ids: Sequence[str] = ()) -> list[str]:
    """One label per sweep point: the overrides whose values differ across points.

    ``seed`` is left out when anything else differs (each point of an unseeded
    sweep draws its own). Points whose labels would still coincide get a suffix
    from ``ids`` (their run ids), or their position.

    Examples
    --------
    >>> point_labels([["recommender=mf", "seed=1"], ["recommender=random", "seed=1"]])
    ['recommender=mf', 'recommender=random']
    >>> point_labels([["a=1", "b=x"], ["a=2", "b=x"], ["a=2", "b=y"]])
    ['a=1, b=x', 'a=2, b=x', 'a=2, b=y']
    >>> point_labels([["a=1"], ["a=1"]], ids=["3f2a0000", "9c1b0000"])
    ['a=1 #3f2a0000', 'a=1 #9c1b0000']
    """
    parsed = [dict(_key_value(o) for o in point) for point in overrides]
    keys: list[str] = []
    for point in parsed:
        keys += [k for k in point if k not in keys]
    varying = [k for k in keys if len({p.get(k) for p in parsed}) > 1]
    if any(k != "seed" for k in varying):
        varying = [k for k in varying if k != "seed"]
    if varying:
        labels = [
            ", ".join(f"{k}={p[k]}" if k in p else f"{k} unset" for k in varying) for p in parsed
        ]
    else:
        labels = [", ".join(f"{k}={v}" for k, v in p.items()) or "defaults" for p in parsed]
    if len(set(labels)) < len(labels):
        if len(ids) == len(labels):
            suffixes = [f"#{i[:8]}" for i in ids]
        else:
            suffixes = [f"#{n}" for n in range(len(labels))]
        labels = [f"{label} {s}" for label, s in zip(labels, suffixes, strict=True)]
    return labels
