"""Power analysis for the default audit's replicate count.

Usage
-----
::

    python benchmarks/power.py                       # 10 pilot replicates, seed 2026
    python benchmarks/power.py --pilot 12 --seed 7 recommender=bandit

Runs a pilot of the default audit (any Hydra overrides after the options), takes the
paired differences treatment − control of the headline metrics, one per replicate
(common random numbers: both arms of a replicate share the world and behaviour
draws), and prints for each the mean difference ``d``, its standard deviation ``s``,
the pilot's 95% Student-t interval and the replicates needed for the 95% interval to
exclude 0 with 80% power (:func:`ampaudit.power.replicates_for_power`). The last
line recommends the default ``audit.replicates``: the largest count among the headline
metrics that a conclusive answer needs at a reasonable count (at most ``--max-reasonable``
replicates); the others are reported as needing more.

Metrics
-------
extreme cons share
    ``cons_share.extreme``: share of consumption that is extreme.
extreme cons reach
    ``cons_reach.extreme``: fraction of users who consumed at least one extreme item.
drift
    ``drift``: change in mean opinion over the horizon.
radicalised
    ``radicalised``: fraction of users at or above the threshold at the end.
amplification (log)
    ``log(rec_reach_trt / rec_reach_ctl)`` of extreme content: the amplification ratio
    ``a + 1`` of Huszár et al. (2022) on the log scale, where its interval is symmetric
    (the control's own amplification is 0, so the paired difference is the log ratio).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time

import numpy as np

from ampaudit.audit import run_audit
from ampaudit.config import compose_conf
from ampaudit.core.errors import ConfigError
from ampaudit.power import replicates_for_power
from ampaudit.stats import mean_ci

#: (label, per-replicate paired difference from the two arms' final metrics, headline?)
METRICS = (
    ("extreme cons share", lambda t, c: t["cons_share.extreme"] - c["cons_share.extreme"], False),
    ("extreme cons reach", lambda t, c: t["cons_reach.extreme"] - c["cons_reach.extreme"], True),
    ("drift", lambda t, c: t["drift"] - c["drift"], True),
    ("radicalised", lambda t, c: t["radicalised"] - c["radicalised"], True),
    (
        "amplification (log)",
        lambda t, c: (
            math.log(t["rec_reach.extreme"] / c["rec_reach.extreme"])
            if t["rec_reach.extreme"] > 0 and c["rec_reach.extreme"] > 0
            else math.nan
        ),
        True,
    ),
)


def main(argv: list[str] | None = None) -> int:
    """Run the pilot and print the power table; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilot", type=int, default=10, help="pilot replicates (default 10)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the pilot")
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument(
        "--max-reasonable",
        type=int,
        default=10,
        help="largest replicate count the default audit may use (runtime), default 10",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. recommender=bandit")
    args = parser.parse_args(argv)
    if args.pilot < 2:
        parser.error(f"--pilot={args.pilot} is not allowed: a standard deviation needs >= 2")
    if not (0 < args.power < 1 and 0 < args.confidence < 1):
        parser.error("--power and --confidence must lie strictly between 0 and 1")
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        conf = compose_conf(
            [
                "tracking=none",
                "audit.progress=false",
                f"audit.replicates={args.pilot}",
                f"seed={args.seed}",
                *args.overrides,
            ]
        )
    except ConfigError as exc:
        print(f"power.py: error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    result = run_audit(conf)
    elapsed = time.perf_counter() - start
    finals = result.finals()
    trt, ctl = finals["treatment"], finals["control"]
    reps = sorted(trt.keys() & ctl.keys())
    print(
        f"Pilot: {result.labels['treatment']} vs {result.labels['control']}, "
        f"{len(reps)} replicates x {conf.audit.n_steps} steps, {conf.world.n_users} users, "
        f"seed {args.seed} ({elapsed:.0f} s, {elapsed / len(reps):.1f} s per replicate)."
    )
    print(
        f"Paired differences treatment - control; n = replicates for the "
        f"{args.confidence:.0%} CI to exclude 0 with {args.power:.0%} power.\n"
    )
    header = f"{'metric':22s} {'mean d':>10s} {'sd s':>10s}  {'pilot 95% CI':>24s} {'n':>6s}"
    print(header)
    print("-" * len(header))
    needed: dict[str, tuple[float, bool]] = {}
    for label, diff, headline in METRICS:
        values = np.array([diff(trt[r], ctl[r]) for r in reps])
        finite = values[np.isfinite(values)]
        if len(finite) < 2:
            print(f"{label:22s} {'n/a':>10s}  (fewer than 2 finite differences)")
            continue
        mean, low, high = mean_ci(finite, confidence=args.confidence)
        n = replicates_for_power(finite, confidence=args.confidence, power=args.power)
        needed[label] = (n, headline)
        shown = "> 1e4" if math.isinf(n) else f"{n:.0f}"
        print(
            f"{label:22s} {mean:+10.5f} {finite.std(ddof=1):10.5f}  "
            f"[{low:+10.5f}, {high:+10.5f}] {shown:>6s}"
        )
    reasonable = [n for n, headline in needed.values() if headline and n <= args.max_reasonable]
    too_many = [
        f"{label} ({'more than 10,000' if math.isinf(n) else f'{n:.0f}'})"
        for label, (n, headline) in needed.items()
        if n > args.max_reasonable
    ]
    default = int(max(reasonable, default=2))
    print(
        f"\nRecommended audit.replicates = {default}: enough for "
        + ", ".join(label for label, (n, h) in needed.items() if h and n <= args.max_reasonable)
        + "."
    )
    if too_many:
        print(
            f"Inconclusive at up to {args.max_reasonable} replicates (would need): "
            + ", ".join(too_many)
            + "."
        )
    print(
        f"Runtime of the default audit at {default} replicates: about "
        f"{elapsed / len(reps) * default:.0f} s of simulation here."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
