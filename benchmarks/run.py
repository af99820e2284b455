"""Performance benchmarks of the simulation against its bare numerical kernels.

Usage
-----
::

    python benchmarks/run.py W1 W3
    python benchmarks/run.py --repeat 5 W1
    python benchmarks/run.py --list

Each named workload runs in its own subprocess (``run.py --one NAME``), so its
peak memory is its own. One line per workload is printed::

    W1 sim_s=0.84 peak_mb=210 kernel_s=0.51 step_over_kernel=1.6

Fields
------
sim_s
    Wall time of ``AuditModel.run()`` only. Imports, building the world and
    constructing the model (including the recommender's initial fit) are set-up
    and excluded.
peak_mb
    Peak resident set size of the workload's process (``ru_maxrss``), in MB
    (10**6 bytes); it includes the set-up.
kernel_s
    Wall time, in the same process, of the bare kernels a step needs, repeated
    for as many steps as the simulation: a chunked float32 scoring GEMM
    (``n_active × dims`` user vectors ``@`` the ``n_items × dims`` item matrix
    transposed, chunked with :func:`ampaudit.core.ranking.chunk_rows` at the
    recommender's memory budget), then ``np.argpartition`` top-``k``
    (``k = n_candidates``) of each chunk. ``n_active`` is the mean number of
    users the recommender scored per step (``trace.n_feed``: active users who
    opened the feed), so the kernel does exactly the scoring work of the step.
step_over_kernel
    ``sim_s / kernel_s``: the overhead of everything the simulation does
    beyond the kernels (masking, sorting the slate, behaviour, logging,
    refits, metrics).

With ``--repeat N`` the workload runs ``N`` times in its subprocess (world
rebuilt each time) and the best ``sim_s`` and best ``kernel_s`` are reported,
which filters out interference from other processes on a shared machine.

Workloads
---------
W1
    1,000 users × 1,000 items × 20 dims × 100 steps, every user active every
    step, :class:`~ampaudit.recommenders.ContentRecommender` refit every step,
    slates of 10, no new items (T-RECS's ``ContentFiltering`` workload, with its
    default of allowing repeated items).
W1x
    W1 with ampaudit's default ``exclude_consumed=True`` (a per-step sparse
    mask of each user's consumed items before the top-k).
W3
    100,000 users × 10,000 items × 16 dims × 100 steps, 10% active per step,
    :class:`~ampaudit.recommenders.MFRecommender` (32 factors) refit every 10
    steps, slates of 10, no new items, 1,000 creators.

Adding a workload
-----------------
Write a function ``() -> Result`` (usually a one-line call of :func:`run_audit`)
and add it to :data:`WORKLOADS` under its name.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ampaudit.recommenders import ContentRecommender, MFRecommender
from ampaudit.simulations import AuditModel, BehaviorConf, GraphConf, WorldConf, build_world

from ampaudit.core.ranking import DEFAULT_CHUNK_BYTES, chunk_rows

#: Seeds of the ``world``, ``behavior`` and ``recommender`` streams.
SEEDS = (0, 1, 2)


@dataclass
class Result:
    """Timings of one workload (``peak_mb`` is added by :func:`run_one`)."""

    sim_s: float
    kernel_s: float

    @property
    def step_over_kernel(self) -> float:
        """``sim_s / kernel_s``."""
        return self.sim_s / self.kernel_s if self.kernel_s > 0 else float("inf")


# -- measurement ----------------------------------------------------------------


def kernel_time(
    *,
    n_active: int,
    n_items: int,
    dims: int,
    k: int,
    n_steps: int,
    budget_bytes: int = DEFAULT_CHUNK_BYTES,
    seed: int = 0,
) -> float:
    """Seconds of ``n_steps`` × (chunked scoring GEMM + ``argpartition`` top-``k``).

    Parameters
    ----------
    n_active : int
        Users scored per step.
    n_items : int
        Items scored per user.
    dims : int
        Length of the user and item vectors.
    k : int
        Items kept per user.
    n_steps : int
        Steps timed.
    budget_bytes : int, default=64 MiB
        Memory budget of one float32 score block (as the recommenders use).
    seed : int, default=0
        Seed of the random inputs.
    """
    rng = np.random.default_rng(seed)
    users = rng.standard_normal((n_active, dims), dtype=np.float32)
    items_t = np.ascontiguousarray(rng.standard_normal((n_items, dims), dtype=np.float32).T)
    step = chunk_rows(n_items, budget_bytes)
    kth = max(n_items - k, 0)
    sink = 0
    t0 = time.perf_counter()
    for _ in range(n_steps):
        for start in range(0, n_active, step):
            block = users[start : start + step] @ items_t
            top = np.argpartition(block, kth, axis=1)[:, kth:]
            sink += int(top[0, 0])
    return time.perf_counter() - t0


def _world(world_conf: WorldConf, n_steps: int, graph_conf: GraphConf | None = None) -> Any:
    """The benchmark world of ``world_conf``, from the fixed world seed."""
    rng = np.random.default_rng(SEEDS[0])
    return build_world(world_conf, graph_conf or GraphConf(), n_steps=n_steps, rng=rng)


def _timed_run(
    world: Any, recommender: Any, n_steps: int, *, slate_size: int = 10, n_candidates: int = 10
) -> tuple[float, Any]:
    """Seconds ``AuditModel.run()`` takes on ``world`` (fixed seeds), and its trace."""
    _, behavior_seed, rec_seed = SEEDS
    model = AuditModel(
        world,
        recommender,
        behavior=BehaviorConf(),
        n_steps=n_steps,
        slate_size=slate_size,
        n_candidates=n_candidates,
        rng=np.random.default_rng(behavior_seed),
        recommender_rng=np.random.default_rng(rec_seed),
    )
    t0 = time.perf_counter()
    trace = model.run()
    return time.perf_counter() - t0, trace


def run_audit(
    world_conf: WorldConf,
    recommender: ContentRecommender | MFRecommender,
    *,
    n_steps: int,
    dims: int,
    graph_conf: GraphConf | None = None,
    activity: float | None = None,
    slate_size: int = 10,
    n_candidates: int = 10,
) -> Result:
    """Build a world, time ``AuditModel.run()``, then time the matching kernels.

    Parameters
    ----------
    world_conf : WorldConf
    recommender : Recommender
        A fresh recommender (it must score with a ``dims``-long user vector).
    n_steps : int
        Horizon.
    dims : int
        Length of the recommender's user / item vectors (``n_dims`` for content
        filtering, ``factors`` for matrix factorisation).
    graph_conf : GraphConf, optional
        Defaults to ``GraphConf()``.
    activity : float, optional
        If given, overrides every user's activity probability after the build
        (e.g. ``1.0``: everyone active every step).
    slate_size, n_candidates : int, default=10
    """
    world = _world(world_conf, n_steps, graph_conf)
    if activity is not None:
        pop = dataclasses.replace(
            world.population, activity=np.full(world.n_users, activity, dtype=float)
        )
        world = dataclasses.replace(world, population=pop)
    sim_s, trace = _timed_run(
        world, recommender, n_steps, slate_size=slate_size, n_candidates=n_candidates
    )
    n_active = round(float(np.mean(trace.n_feed)))
    kernel_s = kernel_time(
        n_active=n_active,
        n_items=world_conf.n_items,
        dims=dims,
        k=n_candidates,
        n_steps=n_steps,
        budget_bytes=recommender.chunk_bytes,
    )
    return Result(sim_s=sim_s, kernel_s=kernel_s)


# -- workloads --------------------------------------------------------------------


def w1(*, exclude_consumed: bool = False) -> Result:
    """T-RECS ContentFiltering: 1k users × 1k items × 20 dims, 100 steps, all active.

    T-RECS allows repeated items by default, so W1 does too; W1x is the same
    workload with ampaudit's default of never re-recommending consumed items.
    """
    conf = WorldConf(
        n_users=1_000, n_items=1_000, new_items_per_step=0, n_dims=20, activity_mean=0.999
    )
    rec = ContentRecommender(retrain_every=1, exclude_consumed=exclude_consumed)
    return run_audit(conf, rec, n_steps=100, dims=conf.n_dims, activity=1.0)


def w1x() -> Result:
    """W1 with consumed items excluded from recommendations (ampaudit's default)."""
    return w1(exclude_consumed=True)


#: The W3 world: 100k users × 10k items × 16 dims, 10% active, 1k creators, no new items.
W3_WORLD = WorldConf(
    n_users=100_000,
    n_items=10_000,
    new_items_per_step=0,
    n_dims=16,
    n_creators=1_000,
    activity_mean=0.1,
)


def w3() -> Result:
    """100k users × 10k items, 100 steps, 10% active, ALS (32 factors) every 10 steps."""
    rec = MFRecommender(factors=32, retrain_every=10)
    return run_audit(W3_WORLD, rec, n_steps=100, dims=rec.factors)


def w3_recommenders(n_steps: int = 10) -> list[str]:
    """Per-recommender step time on W3 shapes (one shared world, ``n_steps`` steps each).

    Refits happen at each recommender's own ``retrain_every`` (mf: every 10 steps,
    so one refit is inside the window); the initial fit is set-up.
    """
    from ampaudit.recommenders import REGISTRY

    world = _world(W3_WORLD, n_steps)
    lines = []
    for name, cls in REGISTRY.items():
        sim_s, trace = _timed_run(world, cls(), n_steps)
        lines.append(
            f"W3rec name={name} step_s={sim_s / n_steps:.3f} "
            f"feed_users={float(np.mean(trace.n_feed)):.0f}"
        )
    return lines


def http_overhead(n_steps: int = 10, rounds: int = 5) -> list[str]:
    """The remote adapter's cost: popularity in-process vs. through ``serve-stub``.

    100,000 users, 10% active (10,000 active users per step), 10,000 items; the
    service runs in its own process on 127.0.0.1, so serialisation, transport and
    validation are all counted. The two runs alternate ``rounds`` times and the
    median of the per-round ratios is reported: one pair of runs on a shared
    2-core machine moves by about ±20 points.
    """
    from ampaudit.recommenders import PopularityRecommender, RemoteRecommender
    from ampaudit.recommenders.testing import stub_service

    world = _world(W3_WORLD, n_steps)
    local_times, remote_times, same = [], [], True
    with stub_service("popularity") as url:
        for _ in range(rounds):
            local_s, local = _timed_run(world, PopularityRecommender(), n_steps)
            remote = RemoteRecommender(url=url, timeout_s=120)
            remote_s, trace = _timed_run(world, remote, n_steps)
            local_times.append(local_s)
            remote_times.append(remote_s)
            same &= bool(np.array_equal(local.rec_slots, trace.rec_slots))
    ratios = [r / loc for r, loc in zip(remote_times, local_times, strict=True)]
    active = float(np.mean(local.n_active))
    return [
        f"HTTP inproc_step_s={np.median(local_times) / n_steps:.3f} "
        f"remote_step_s={np.median(remote_times) / n_steps:.3f} "
        f"overhead_pct={100 * (np.median(ratios) - 1):.0f} "
        f"rounds_pct={','.join(f'{100 * (r - 1):.0f}' for r in ratios)} "
        f"active_users={active:.0f} identical={same}"
    ]


#: Multi-line reports: name → function returning the lines (run in their own process).
REPORTS: dict[str, Callable[[], list[str]]] = {
    "W3rec": w3_recommenders,
    "HTTP": http_overhead,
}


#: Workload name → function; the function runs the workload in the current process.
WORKLOADS: dict[str, Callable[[], Result]] = {
    "W1": w1,
    "W1x": w1x,
    "W3": w3,
}

#: Every name the command line accepts: workloads, then reports.
AVAILABLE = (*WORKLOADS, *REPORTS)


# -- driver -----------------------------------------------------------------------


def peak_mb() -> float:
    """Peak RSS of this process in MB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return rss * scale / 1e6


def format_line(name: str, result: Result, peak: float) -> str:
    """The one-line report of a workload."""
    return (
        f"{name} sim_s={result.sim_s:.2f} peak_mb={peak:.0f} "
        f"kernel_s={result.kernel_s:.2f} step_over_kernel={result.step_over_kernel:.1f}"
    )


def run_one(name: str, repeat: int = 1) -> str:
    """Run workload ``name`` ``repeat`` times in this process; return its report line.

    The best ``sim_s`` and the best ``kernel_s`` over the repeats are reported.
    """
    if name in REPORTS:
        lines = REPORTS[name]()
        return "\n".join([*lines, f"{name} peak_mb={peak_mb():.0f}"])
    results = [WORKLOADS[name]() for _ in range(max(1, repeat))]
    best = Result(sim_s=min(r.sim_s for r in results), kernel_s=min(r.kernel_s for r in results))
    return format_line(name, best, peak_mb())


def run_isolated(name: str, repeat: int = 1) -> int:
    """Run workload ``name`` in a fresh interpreter, echo its line; return its exit code."""
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--one",
            name,
            "--repeat",
            str(repeat),
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.stdout:
        print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        print(f"{name}: failed with exit code {proc.returncode}", file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Time ampaudit simulations against their bare scoring kernels.",
        epilog=f"workloads: {', '.join(AVAILABLE)}",
    )
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD", help="names to run")
    parser.add_argument(
        "--one", metavar="WORKLOAD", help="run one workload in this process (used internally)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each workload N times and report the best times (default: 1)",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.list:
        for name, fn in [*WORKLOADS.items(), *REPORTS.items()]:
            print(f"{name}\t{(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    names = [args.one] if args.one else args.workloads
    if not names:
        parser.error(f"name at least one workload (available: {', '.join(AVAILABLE)})")
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        parser.error(
            f"unknown workload(s): {', '.join(unknown)} (available: {', '.join(AVAILABLE)})"
        )
    logging.getLogger("MESA").setLevel(logging.WARNING)
    if args.one:
        print(run_one(args.one, args.repeat), flush=True)
        return 0
    status = 0
    for name in names:
        status = run_isolated(name, args.repeat) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
