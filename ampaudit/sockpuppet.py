"""Sock-puppet audits: scripted accounts walk a recommender and record what it shows.

The standard external audit of a black box (e.g. Ribeiro et al. 2020; Haroon et al.
2023; Hosseinmardi et al. 2024): new accounts start from a seed item of each
category, follow a scripted persona for ``depth`` steps, and the category mix of
what they are recommended and what they pick is recorded by depth. It needs
nothing but ``recommend`` (and ``observe``/``fit``), so it works on any
recommender, the ``remote`` adapter included.

Personas
--------
``random``
    clicks a uniformly random item of each slate;
``top1``
    always clicks the first item;
``seeded``
    first watches ``seed_length`` items of the start category, then clicks the first;
``utility``
    clicks the item with the highest utility for its own (simulated) tastes, under
    the behaviour model's Gumbel noise, and never leaves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ampaudit.core.categories import CATEGORIES, RECOMMENDED
from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.seeding import replicate_streams
from ampaudit.metrics import exposure_share
from ampaudit.simulations import AuditModel, make_world
from ampaudit.simulations.behavior import item_utility
from ampaudit.simulations.choice import choose
from ampaudit.simulations.model import valid_candidates

__all__ = ["PERSONAS", "SockPuppetConf", "SockPuppetResult", "run_sock_puppets", "sock_table"]

PERSONAS = ("random", "top1", "seeded", "utility")
N_CAT = len(CATEGORIES)


@dataclass
class SockPuppetConf:
    """Settings of a sock-puppet audit (``audit.mode=sock_puppet``).

    Parameters
    ----------
    personas : list of str, default=all of random, top1, seeded, utility
    puppets_per_cell : int, default=10
        Accounts per persona and start category.
    depth : int, default=20
        Steps each account walks.
    warmup_steps : int, default=20
        Steps the ordinary population uses the platform first, so the recommender
        has learnt something before the puppets arrive.
    seed_length : int, default=5
        Start-category items the ``seeded`` persona watches before walking.
    """

    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    puppets_per_cell: int = 10
    depth: int = 20
    warmup_steps: int = 20
    seed_length: int = 5

    def validate(self, prefix: str = "audit.sock_puppet") -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        unknown = [p for p in self.personas if p not in PERSONAS]
        if unknown or not self.personas:
            raise ConfigError(
                f"{prefix}.personas",
                list(self.personas),
                f"a non-empty list drawn from {', '.join(PERSONAS)}",
            )
        check_range(f"{prefix}.puppets_per_cell", self.puppets_per_cell, low=1)
        check_range(f"{prefix}.depth", self.depth, low=1)
        check_range(f"{prefix}.warmup_steps", self.warmup_steps, low=0)
        check_range(f"{prefix}.seed_length", self.seed_length, low=1)


@dataclass
class SockPuppetResult:
    """Category mixes by depth.

    Attributes
    ----------
    rec_mix, choice_mix : dict of (persona, start category) to ndarray
        Shape ``(n_replicates, depth, n_categories)``: share of recommended slots,
        and of chosen items, in each category at each depth.
    """

    rec_mix: dict[tuple[str, str], np.ndarray]
    choice_mix: dict[tuple[str, str], np.ndarray]
    entropy: int
    parent_run_id: str | None = None
    #: What the walked recommender is called (a service: the name it declares).
    label: str = "?"


def _seed_items(catalog: Any, n_visible: int, category: int, size: int, rng) -> np.ndarray:
    pool = np.flatnonzero(
        (catalog.category[:n_visible] == category) & catalog.available[:n_visible]
    )
    if len(pool) == 0:
        raise ConfigError(
            "world.creator_mix",
            CATEGORIES[category],
            "a world with at least one visible item of every category",
        )
    return pool[rng.integers(len(pool), size=size)]


def walk(
    model: AuditModel,
    puppets: np.ndarray,
    personas: np.ndarray,
    starts: np.ndarray,
    conf: SockPuppetConf,
    slate_size: int,
    rng: np.random.Generator,
    recommender_rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``puppets`` through the model's recommender for ``conf.depth`` steps.

    Returns
    -------
    slot_categories : ndarray of shape (depth, n_puppets, slate_size)
        Category of each recommended slot (-1 for an empty slot).
    choice_categories : ndarray of shape (depth, n_puppets)
        Category of each pick (-1 for none).
    """
    rec, cat = model.recommender, model.catalog
    seeded = personas == PERSONAS.index("seeded")
    n_seed = np.where(seeded, conf.seed_length, 1)
    n_visible = cat.n_visible(model.t)
    for c in range(N_CAT):  # the seed items: a watch page of the start category
        rows = np.flatnonzero(starts == c)
        for j in range(int(n_seed[rows].max(initial=0))):
            who = rows[n_seed[rows] > j]
            items = _seed_items(cat, n_visible, c, len(who), rng)
            model.log.append(
                puppets[who], items, model.t - 1, np.full(len(who), RECOMMENDED, dtype=np.int8)
            )
    rec.fit(model.platform_data())
    slots = np.full((conf.depth, len(puppets), slate_size), -1, dtype=np.int64)
    picks = np.full((conf.depth, len(puppets)), -1, dtype=np.int64)
    for d in range(conf.depth):
        n_visible = cat.n_visible(model.t)
        items, scores = rec.recommend(puppets, slate_size, rng=recommender_rng)
        slates, _ = valid_candidates(items, scores, cat.available[:n_visible])
        slates = slates[:, :slate_size]
        valid = slates >= 0
        # persona choices, every draw in a fixed shape
        u = rng.random(len(puppets))
        choice_u = rng.random((len(puppets), slate_size + 1))
        n_valid = valid.sum(axis=1)
        pick = np.where(n_valid > 0, 0, -1)
        is_random = personas == PERSONAS.index("random")
        pick[is_random] = np.where(
            n_valid[is_random] > 0, (u[is_random] * n_valid[is_random]).astype(np.int64), -1
        )
        is_util = np.flatnonzero(personas == PERSONAS.index("utility"))
        if len(is_util):
            util = item_utility(
                model.behavior, model.population, cat, puppets[is_util], slates[is_util]
            )
            pick[is_util] = choose(util, -np.inf, choice_u[is_util])
        rows = np.flatnonzero(pick >= 0)
        chosen = slates[rows, pick[rows]]
        slots[d] = np.where(valid, cat.category[np.maximum(slates, 0)], -1)
        picks[d, rows] = cat.category[chosen]
        model.log.append(
            puppets[rows], chosen, model.t, np.full(len(rows), RECOMMENDED, dtype=np.int8)
        )
        clicked = np.full(len(puppets), -1, dtype=np.int64)
        clicked[rows] = pick[rows]
        model.t += 1
        model.learn(puppets, slates, clicked, refit=(d + 1) % max(1, int(rec.retrain_every)) == 0)
    return slots, picks


def run_sock_puppets(
    conf: Any,
    *,
    make_recommender: Callable[[], Any],
    entropy: int,
    tracker: Any = None,
    params: dict[str, str] | None = None,
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
) -> SockPuppetResult:
    """Run a sock-puppet audit for every replicate of ``conf`` (a validated RunConf).

    With a ``tracker``, the audit is a parent run with one child per replicate,
    tagged like a compare audit's (see :func:`ampaudit.audit.run_audit` for
    ``params`` and ``overrides``) plus ``mode=sock_puppet`` and ``extra_tags``
    (``companion_of``: the comparison audit this one belongs to).
    """
    from ampaudit.audit import audited_label  # audit → config → this module
    from ampaudit.plugins import system_tags
    from ampaudit.tracking import parent_tags, provenance_tags

    system = system_tags(conf.recommender)
    label = audited_label(conf.recommender, system)
    tags = {
        "recommender": label,
        **system,
        "mode": "sock_puppet",
        **provenance_tags(entropy),
    }
    params = params or {}
    sp = conf.audit.sock_puppet
    n_cells = len(sp.personas) * N_CAT
    n_puppets = n_cells * sp.puppets_per_cell
    world_conf = dataclasses.replace(conf.world, n_users=conf.world.n_users + n_puppets)
    depth, k = sp.depth, conf.audit.slate_size
    personas = np.repeat(
        np.array([PERSONAS.index(p) for p in sp.personas]), N_CAT * sp.puppets_per_cell
    )
    starts = np.tile(np.repeat(np.arange(N_CAT), sp.puppets_per_cell), len(sp.personas))
    rec_mix: dict[tuple[str, str], list[np.ndarray]] = {}
    choice_mix: dict[tuple[str, str], list[np.ndarray]] = {}
    parent = None
    try:
        if tracker is not None:
            only_parent = parent_tags(entropy, seed=conf.seed, params=params, overrides=overrides)
            parent = tracker.start_parent(
                f"sock puppets: {label}", params, {**tags, **only_parent, **(extra_tags or {})}
            )
        for r in range(conf.audit.replicates):
            streams = replicate_streams(entropy, r)
            world = make_world(
                world_conf,
                conf.graph,
                n_steps=sp.warmup_steps + depth + 1,
                rng=np.random.default_rng(streams["world"]),
            )
            puppets = np.arange(conf.world.n_users, world_conf.n_users)
            activity = world.population.activity.copy()
            activity[puppets] = 0.0  # puppets only ever act by script
            world = dataclasses.replace(
                world, population=dataclasses.replace(world.population, activity=activity)
            )
            rec_rng = np.random.default_rng(streams["recommender"])
            model = AuditModel(
                world,
                make_recommender(),
                behavior=conf.behavior,
                n_steps=sp.warmup_steps,
                slate_size=k,
                n_candidates=conf.audit.n_candidates,
                rng=np.random.default_rng(streams["behavior"]),
                recommender_rng=rec_rng,
            )
            model.run()
            slots, picks = walk(
                model,
                puppets,
                personas,
                starts,
                sp,
                k,
                np.random.default_rng(streams["interventions"]),
                rec_rng,
            )
            series: dict[str, np.ndarray] = {}
            for p_name in sp.personas:
                for c, c_name in enumerate(CATEGORIES):
                    cell = (personas == PERSONAS.index(p_name)) & (starts == c)
                    rec_counts = np.stack(
                        [np.bincount(s[s >= 0], minlength=N_CAT) for s in slots[:, cell]]
                    )
                    pick_counts = np.stack(
                        [np.bincount(s[s >= 0], minlength=N_CAT) for s in picks[:, cell]]
                    )
                    rec_mix.setdefault((p_name, c_name), []).append(exposure_share(rec_counts))
                    choice_mix.setdefault((p_name, c_name), []).append(exposure_share(pick_counts))
                    for cc, cc_name in enumerate(CATEGORIES):
                        key = f"sock.{p_name}.{c_name}"
                        series[f"{key}.rec_share.{cc_name}"] = rec_mix[(p_name, c_name)][-1][:, cc]
                        series[f"{key}.choice_share.{cc_name}"] = choice_mix[(p_name, c_name)][-1][
                            :, cc
                        ]
            if tracker is not None and parent is not None:
                child = tracker.start_child(
                    parent,
                    f"sock_puppet/r{r}",
                    params,
                    {**tags, "arm": "sock_puppet", "replicate": str(r)},
                )
                tracker.log_series(child, series)
                tracker.end(child)
        if tracker is not None and parent is not None:
            tracker.end(parent)
    except BaseException as exc:
        if tracker is not None:
            tracker.end_after_error(exc)
        raise
    return SockPuppetResult(
        rec_mix={k_: np.stack(v) for k_, v in rec_mix.items()},
        choice_mix={k_: np.stack(v) for k_, v in choice_mix.items()},
        entropy=entropy,
        parent_run_id=parent,
        label=label,
    )


def sock_table(result: SockPuppetResult, *, category: str = "extreme") -> str:
    """Share of ``category`` in recommendations (and picks) by walk depth, per persona and start."""
    from ampaudit.summary import text_table  # summary → audit → config → this module

    c = CATEGORIES.index(category)
    any_mix = next(iter(result.rec_mix.values()))
    depth = any_mix.shape[1]
    marks = sorted({1, *np.linspace(1, depth, num=min(depth, 5)).round().astype(int).tolist()})
    header = ["persona", "start", *[f"d={d}" for d in marks], "picks (mean)"]
    rows = [header]
    for (persona, start), mix in result.rec_mix.items():
        by_depth = mix[:, :, c].mean(axis=0)
        picks = result.choice_mix[(persona, start)][:, :, c].mean()
        rows.append([persona, start, *[f"{by_depth[d - 1]:.3f}" for d in marks], f"{picks:.3f}"])
    lines = text_table(rows)
    lines.append(
        f"\nShare of {category} items among recommended slots at walk depth d, and "
        f"among the puppets' picks, averaged over puppets and replicates."
    )
    return "\n".join(lines)
