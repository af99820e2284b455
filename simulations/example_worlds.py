"""Example worlds given as data (not imported by the package: run it as a script).

``python -m ampaudit.simulations.example_worlds OUT.npz`` writes
:func:`two_sided_example`, the world the tests load with ``world=arrays``.
"""

from __future__ import annotations

import sys

import numpy as np

from .worldfile import save_world_arrays

__all__ = ["two_sided_example"]


def two_sided_example(*, seed: int = 0) -> dict[str, np.ndarray]:
    """A small two-sided world with five categories and a utility matrix.

    60 users spread over [-1, 1] (the outer tenth at risk), 100 items: 80 at the
    start and 2 per step over 10 steps. Categories: ``far_left`` [-1, -0.75] and
    ``far_right`` [0.75, 1] are extreme, ``left`` and ``right`` (the partisan
    zones, up to ±0.75) borderline, ``centre`` [-0.25, 0.25] mainstream. The
    utility matrix is low-rank (3 factors). The social graph and traits are left
    to the defaults.

    Parameters
    ----------
    seed : int, default=0
        Seed of the example's own generator (and of the file's defaults).

    Returns
    -------
    dict of str to ndarray
        Keys of :data:`SCHEMA`.
    """
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 100
    position = np.clip(rng.normal(0.0, 0.45, n_users), -1.0, 1.0)
    low = np.array([-1.0, -0.75, -0.25, 0.25, 0.75])
    high = np.array([-0.75, -0.25, 0.25, 0.75, 1.0])
    label = rng.choice(5, size=n_items, p=[0.1, 0.25, 0.3, 0.25, 0.1])
    created = np.concatenate([np.full(80, -1), np.repeat(np.arange(10), 2)])
    item_position = low[label] + (high[label] - low[label]) * rng.random(n_items)
    factors_u = rng.normal(0.0, 0.6, (n_users, 3))
    factors_i = rng.normal(0.0, 0.6, (n_items, 3))
    return {
        "axis": np.array("two_sided"),
        "seed": np.array(seed),
        "user_position": position,
        "user_at_risk": np.abs(position) > 0.75,
        "category_name": np.array(["far_left", "left", "centre", "right", "far_right"]),
        "category_low": low,
        "category_high": high,
        "category_harm": np.array(["extreme", "borderline", "mainstream", "borderline", "extreme"]),
        "item_label": label,
        "item_position": item_position,
        "item_created": created,
        "utility": factors_u @ factors_i.T,
    }


def main(argv: list[str] | None = None) -> int:
    """Write :func:`two_sided_example`: ``python -m ampaudit.simulations.example_worlds OUT``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ampaudit.simulations.example_worlds OUT.npz", file=sys.stderr)
        return 2
    print(save_world_arrays(args[0], two_sided_example()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
