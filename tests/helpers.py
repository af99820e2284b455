"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import ampaudit.recommenders
import numpy as np
import yaml
from mlflow.tracking import MlflowClient

#: The protocol's OpenAPI document, as the package ships it.
SPEC = yaml.safe_load((Path(ampaudit.recommenders.__file__).parent / "openapi.yaml").read_text())


def inline_refs(node):
    """``node`` of :data:`SPEC` with local $refs replaced by what they name (no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = SPEC
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return inline_refs(target)
        return {k: inline_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(v) for v in node]
    return node


#: A real audit with two interventions, small enough for a few seconds.
AUDIT = [
    "world=small",
    "world.n_users=400",
    "audit.n_steps=12",
    "audit.replicates=3",  # three: floating-point sums then depend on their order
    "audit.progress=false",
    "interventions=[redirect,downrank]",
    "seed=11",
]


def ampaudit(*args, cwd=None, env=None, timeout=600):
    """Run the ``ampaudit`` CLI as a real subprocess (in ``cwd``, with ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "ampaudit.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def local_client(cwd):
    """A client of the SQLite store ``ampaudit run`` keeps in ``cwd`` (``mlflow.db``)."""
    return MlflowClient(tracking_uri=f"sqlite:///{Path(cwd) / 'mlflow.db'}")


def local_runs(cwd, experiment="ampaudit"):
    """Every run of ``experiment`` in the store of :func:`local_client`."""
    client = local_client(cwd)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def audit_parents(runs):
    """The audits' parent runs among ``runs``: no parent, and not a sweep's own run."""
    return [
        r
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags and r.data.tags.get("mode") != "sweep"
    ]


def parent_run_id(stdout):
    """The parent run id ``ampaudit run`` printed."""
    return re.search(r"parent run=(\w+)", stdout).group(1)


def audit_model(
    world, recommender, *, n_steps, n_candidates, seed=1, interventions=(), slate_size=10
):
    """An :class:`~ampaudit.simulations.AuditModel` of ``world`` with a fresh ``recommender``.

    The behaviour stream is seeded with ``seed``, the recommender's with ``seed + 1``.
    """
    from ampaudit.recommenders import REGISTRY
    from ampaudit.simulations import AuditModel, BehaviorConf

    return AuditModel(
        world,
        REGISTRY[recommender](),
        behavior=BehaviorConf(),
        n_steps=n_steps,
        slate_size=slate_size,
        n_candidates=n_candidates,
        rng=np.random.default_rng(seed),
        recommender_rng=np.random.default_rng(seed + 1),
        interventions=list(interventions),
    )


def cli(*args, extra_path=(), cwd=None):
    """:func:`ampaudit` with ``extra_path`` prepended to ``PYTHONPATH`` (installed plugins)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_path), env.get("PYTHONPATH", "")])
    return ampaudit(*args, cwd=cwd, env=env, timeout=300)
