"""Sock-puppet audits: scripted accounts walk a recommender and record what it shows.

The standard external audit of a black box (e.g. Ribeiro et al. 2020; Haroon et al.
2023; Hosseinmardi et al. 2024): new accounts start from a seed item, follow a
scripted persona for ``depth`` steps, and the category mix of what they are
recommended and what they pick is recorded by depth, with the rank of each item in
the puppet's own preferences. It needs nothing but ``recommend`` (and
``observe``/``fit``), so it works on any recommender, the ``remote`` adapter included.

Isolation
---------
The ordinary population uses the platform for ``warmup_steps``; the platform is then
frozen (a :class:`Snapshot`). With ``isolation="snapshot"`` (the default) every
puppet walks a private :class:`PuppetPlatform`: a deep copy of the fitted
recommender and a log holding the snapshot's events plus the puppet's own, with the
puppet as one fresh account (row ``n_users``) outside the social graph and the
follows. Puppets never see each other and never change the world, so a puppet's walk
is the same whoever else walks. A ``remote`` adapter copies as a new client with no
session (its state lives in the service), so each puppet opens its own session and
the service is refitted on the snapshot's log plus the puppet's history; state the
service learnt only from the warm-up's impressions (``observe``) and cannot rebuild
from the log is not carried over. A service's puppets walk :data:`REMOTE_WORKERS` at
a time, since they spend their time waiting on it. ``isolation="shared"`` walks all
puppets at once on one copy, as rows in a random order, so they can become each
other's neighbours — for a scenario that asks for it.

Personas
--------
``random``
    clicks a uniformly random item of each slate;
``top1``
    always clicks the first item;
``seeded``
    first watches ``seed_length`` start items, then clicks the first;
``utility``
    picks from the slate by its own utility with the choice model
    ``audit.sock_puppet.choice`` (default: ``behavior.choice``) and never leaves.

Each puppet draws everything (its tastes, start items, choices and the recommender's
generator) from its own stream, ``SeedSequence(entropy, spawn_key=(r, 3, 0, persona,
start, j))``: a child of the replicate's ``interventions`` stream (unused by this
mode) keyed by what the puppet is, not by how many others walk.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ampaudit.core.categories import CATEGORIES, RECOMMENDED
from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import InteractionLog, PlatformData, StepBatch
from ampaudit.core.seeding import replicate_streams
from ampaudit.metrics import exposure_share
from ampaudit.recommenders import RemoteRecommender
from ampaudit.simulations import AuditModel, Population, make_world
from ampaudit.simulations.behavior import BehaviorConf, item_utility, visible_utility
from ampaudit.simulations.choice import CHOICE_MODELS, choose
from ampaudit.simulations.model import valid_candidates
from ampaudit.simulations.population import unit_rows

__all__ = [
    "ISOLATION",
    "PERSONAS",
    "REMOTE_WORKERS",
    "STARTS",
    "Puppet",
    "PuppetPlatform",
    "Snapshot",
    "SockPuppetConf",
    "SockPuppetResult",
    "Walks",
    "persona_population",
    "plan_puppets",
    "run_sock_puppets",
    "sock_table",
    "walk",
    "walk_puppets",
    "warm_up",
]

PERSONAS = ("random", "top1", "seeded", "utility")
#: Start rules: a seed item of each category, or the puppet's own favourite items.
STARTS = ("category", "favourite")
#: How puppets share the platform.
ISOLATION = ("snapshot", "shared")
N_CAT = len(CATEGORIES)
#: Puppets of a ``remote`` service that walk at once, each in its own session.
REMOTE_WORKERS = 16
_TASTES = f"population, random or category:<name> with <name> one of {', '.join(CATEGORIES)}"


@dataclass
class SockPuppetConf:
    """Settings of a sock-puppet audit (``audit.mode=sock_puppet``).

    Parameters
    ----------
    personas : list of str, default=all of random, top1, seeded, utility
    puppets_per_cell : int, default=5
        Accounts per persona and start.
    depth : int, default=20
        Steps each account walks.
    warmup_steps : int, default=20
        Steps the ordinary population uses the platform first, so the recommender
        has learnt something before the puppets arrive.
    seed_length : int, default=5
        Start items the ``seeded`` persona watches before walking.
    taste : str, default="population"
        The puppet's tastes (taste vector, opinion, appetite), which drive the
        ``utility`` persona's choices, the ``favourite`` start and every utility
        rank: ``population`` copies the initial state of a uniformly drawn user of
        the population (the at-risk minority included, at its share);
        ``random`` draws an opinion uniform on [0, 1], a taste vector leaning along
        the extremism topic with the opinion (as the population's) and an appetite
        uniform on [0, 1]; ``category:<name>`` centres the puppet on a category:
        the mean extremity and the normalised mean topic of its visible items, and
        the population's mean appetite.
    start : {"category", "favourite"}, default="category"
        ``category``: each persona starts from random items of each category (one
        cell per category); ``favourite``: from the puppet's own top-utility items
        (one cell, named ``favourite``).
    choice : str or None, default=None
        Choice model of the ``utility`` persona (a name in
        :data:`~ampaudit.simulations.choice.CHOICE_MODELS`); ``None`` uses
        ``behavior.choice``.
    reset_history : bool, default=False
        Wipe the account's history (its start items) before walking: the
        recommender is refitted on the snapshot's log alone, keeping only what it
        learnt otherwise. Shows what a recommender remembers after a history is
        cleared (Hosseinmardi et al. 2024 measure how fast it forgets).
    isolation : {"snapshot", "shared"}, default="snapshot"
        ``snapshot``: each puppet walks its own copy of the frozen platform;
        ``shared``: all puppets walk one copy together and see each other.
    """

    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    puppets_per_cell: int = 5
    depth: int = 20
    warmup_steps: int = 20
    seed_length: int = 5
    taste: str = "population"
    start: str = "category"
    choice: Optional[str] = None  # noqa: UP045 - OmegaConf 2.3 does not read `str | None`
    reset_history: bool = False
    isolation: str = "snapshot"

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
        kind, _, name = str(self.taste).partition(":")
        if not (
            (kind in ("population", "random") and not name)
            or (kind == "category" and name in CATEGORIES)
        ):
            raise ConfigError(f"{prefix}.taste", self.taste, _TASTES)
        if self.start not in STARTS:
            raise ConfigError(f"{prefix}.start", self.start, f"one of {', '.join(STARTS)}")
        if self.choice is not None and self.choice not in CHOICE_MODELS:
            raise ConfigError(
                f"{prefix}.choice",
                self.choice,
                f"null (behavior.choice) or one of {', '.join(CHOICE_MODELS)}",
            )
        if not isinstance(self.reset_history, bool):
            raise ConfigError(f"{prefix}.reset_history", self.reset_history, "true or false")
        if self.isolation not in ISOLATION:
            raise ConfigError(
                f"{prefix}.isolation", self.isolation, f"one of {', '.join(ISOLATION)}"
            )

    def start_labels(self, categories: Sequence[str] = CATEGORIES) -> tuple[str, ...]:
        """Names of the start cells: the ``categories`` the world has, or ``("favourite",)``."""
        return tuple(categories) if self.start == "category" else ("favourite",)


@dataclass(frozen=True)
class Puppet:
    """One scripted account: its persona, its start cell and its index in the cell.

    Its random stream is keyed by these three, so the same puppet walks the same
    way whichever other puppets are planned.
    """

    persona: str
    start: str
    index: int

    def seed_sequence(self, entropy: int, replicate: int) -> np.random.SeedSequence:
        """The puppet's own stream: a child of the replicate's ``interventions`` stream.

        Examples
        --------
        >>> Puppet("top1", "news", 3).seed_sequence(7, 2).spawn_key
        (2, 3, 0, 1, 1, 3)
        """
        parent = replicate_streams(entropy, replicate)["interventions"]
        start = CATEGORIES.index(self.start) if self.start in CATEGORIES else N_CAT
        key = (*parent.spawn_key, 0, PERSONAS.index(self.persona), start, self.index)
        return np.random.SeedSequence(parent.entropy, spawn_key=key)


def plan_puppets(conf: SockPuppetConf, categories: Sequence[str] = CATEGORIES) -> list[Puppet]:
    """Every puppet of an audit, cell by cell (persona, then start), in config order.

    ``categories``: the harm classes the world has items of (a world file may leave
    some out); a ``category`` start walks from each.
    """
    return [
        Puppet(persona, start, j)
        for persona in conf.personas
        for start in conf.start_labels(categories)
        for j in range(conf.puppets_per_cell)
    ]


def world_categories(world: Any) -> tuple[str, ...]:
    """The harm classes a world config's items can belong to, in code order.

    A generated world has all of them; a world file those its category table labels.
    """
    if getattr(world, "source", "generate") != "file":
        return CATEGORIES
    from ampaudit.simulations.worldfile import load_world_arrays

    labels = {str(h) for h in load_world_arrays(world.path)["category_harm"]}
    return tuple(c for c in CATEGORIES if c in labels)


@dataclass
class Snapshot:
    """The platform as the warm-up left it: every walk starts from here and none changes it.

    Attributes
    ----------
    model : AuditModel
        The ordinary population's model after ``warmup_steps``: its world (built
        for the population only), catalog, population, log, clock and fitted
        recommender.
    """

    model: AuditModel
    _graphs: dict[int, tuple[sp.csr_matrix, sp.csr_matrix]] = field(
        default_factory=dict, repr=False
    )

    def graphs(self, n_accounts: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Follows and social graph with ``n_accounts`` edge-less rows appended (cached).

        Returns
        -------
        follows : scipy.sparse.csr_matrix of shape (n_users + n_accounts, n_creators)
        social : scipy.sparse.csr_matrix of shape (n_users + n_accounts, n_users + n_accounts)
        """
        if n_accounts not in self._graphs:
            world = self.model.world
            follows = sp.vstack(
                [world.follows, sp.csr_matrix((n_accounts, world.follows.shape[1]))],
                format="csr",
            )
            social = sp.block_diag(
                [world.adjacency, sp.csr_matrix((n_accounts, n_accounts))], format="csr"
            )
            for mat in (follows, social):
                for a in (mat.data, mat.indices, mat.indptr):
                    a.flags.writeable = False  # shared by every platform of this snapshot
            self._graphs[n_accounts] = (follows, social)
        return self._graphs[n_accounts]

    @property
    def t(self) -> int:
        """The step at which puppets arrive."""
        return int(self.model.t)

    @property
    def n_users(self) -> int:
        """Accounts of the ordinary population; puppets get rows from here on."""
        return int(self.model.world.n_users)


def warm_up(
    conf: Any,
    replicate: int,
    entropy: int,
    *,
    make_recommender: Callable[[], Any],
) -> Snapshot:
    """Build the replicate's world for the ordinary population and run its warm-up.

    Parameters
    ----------
    conf : RunConf
        A validated run config (``audit.sock_puppet`` as :class:`SockPuppetConf`).
    replicate : int
    entropy : int
    make_recommender : callable
        Returns a fresh, unfitted recommender.
    """
    sp_conf = conf.audit.sock_puppet
    streams = replicate_streams(entropy, replicate)
    n_steps = sp_conf.warmup_steps + sp_conf.depth + 1
    rng = np.random.default_rng(streams["world"])
    world = make_world(conf.world, conf.graph, n_steps=n_steps, rng=rng)
    model = AuditModel(
        world,
        make_recommender(),
        behavior=conf.behavior,
        n_steps=sp_conf.warmup_steps,
        slate_size=conf.audit.slate_size,
        n_candidates=conf.audit.n_candidates,
        rng=np.random.default_rng(streams["behavior"]),
        recommender_rng=np.random.default_rng(streams["recommender"]),
    )
    model.run()
    return Snapshot(model)


def persona_population(
    taste: str, snapshot: Snapshot, rngs: Sequence[np.random.Generator]
) -> Population:
    """The puppets' own state (one row per generator), drawn by the ``taste`` rule.

    Puppets belong to no community (``-1``), are never active on their own and do
    not drift: their utility is fixed for the walk.

    Parameters
    ----------
    taste : str
        See :attr:`SockPuppetConf.taste`.
    snapshot : Snapshot
    rngs : sequence of numpy.random.Generator
        One per puppet, its tastes stream; ``population`` draws one integer,
        ``random`` one opinion, ``n_dims`` normals and one appetite,
        ``category:<name>`` nothing.
    """
    world = snapshot.model.world
    pop, cat = world.population, world.catalog
    n, n_dims = len(rngs), pop.taste.shape[1]
    kind, _, name = taste.partition(":")
    if kind == "population":
        rows = np.array([g.integers(len(pop)) for g in rngs], dtype=np.int64)
        # the drawn users' initial state, every per-user array included
        return dataclasses.replace(
            _rows(pop, rows),
            x=pop.x0[rows],
            activity=np.zeros(n),
            community=np.full(n, -1, dtype=np.int32),
        )
    if kind == "random":
        x = np.array([g.random() for g in rngs])
        lean = np.zeros((n, n_dims))
        lean[:, 0] = 2.0 * x  # tastes lean with the opinion, as make_population's do
        noise = np.stack([g.standard_normal(n_dims) for g in rngs]).reshape(n, n_dims)
        tastes = unit_rows((noise + lean).astype(np.float32))
        appetite = np.array([g.random() for g in rngs])
    else:
        code = CATEGORIES.index(name)
        members = np.flatnonzero(cat.category[: cat.n_visible(snapshot.t)] == code)
        x = np.full(n, cat.extremity[members].mean() if len(members) else 0.0)
        centre = cat.topics[members].mean(axis=0) if len(members) else np.zeros(n_dims)
        tastes = unit_rows(np.repeat(centre[None, :], n, axis=0).astype(np.float32))
        appetite = np.full(n, pop.appetite.mean())
    return Population(
        x=x,
        x0=x.copy(),
        taste=tastes,
        susceptibility=np.full(n, pop.susceptibility.mean()),
        appetite=appetite,
        latitude=np.full(n, pop.latitude.mean()),
        activity=np.zeros(n),
        community=np.full(n, -1, dtype=np.int32),
        at_risk=np.zeros(n, dtype=bool),
    )


class PuppetPlatform:
    """A private platform: a snapshot plus ``len(personas)`` fresh puppet accounts.

    The accounts are rows ``n_users, n_users + 1, ...`` with no social edges and no
    follows. The recommender is a deep copy of the snapshot's (arrays of the frozen
    world are shared, not copied) and the log starts as a copy of the snapshot's, so
    nothing done here reaches the snapshot or another platform.

    Parameters
    ----------
    snapshot : Snapshot
    personas : Population
        The accounts' own state, one row per account (:func:`persona_population`).

    Attributes
    ----------
    accounts : ndarray of shape (n_accounts,)
        The puppets' user ids.
    t : int
        The platform's clock.
    log : InteractionLog
        The snapshot's events, then the accounts' own.
    recommender : object
        The private copy; fit it (:meth:`fit`) before it recommends: it has not
        seen the accounts yet.
    utility : ndarray of shape (n_accounts, n_catalog)
        Each account's deterministic utility of every item of the catalog
        (:func:`~ampaudit.simulations.behavior.item_utility`, no position term).
    """

    def __init__(self, snapshot: Snapshot, personas: Population) -> None:
        model = snapshot.model
        self.snapshot = snapshot
        self.personas = personas
        self.behavior: BehaviorConf = model.behavior
        self.catalog = model.catalog
        self.t = snapshot.t
        n_users, n_acc = snapshot.n_users, len(personas)
        self.accounts = np.arange(n_users, n_users + n_acc, dtype=np.int64)
        self.follows, self.social = snapshot.graphs(n_acc)
        self.log = self._snapshot_log()
        self.recommender = _private_copy(model)
        n_items = len(self.catalog)
        self.utility = np.concatenate(
            [
                item_utility(
                    self.behavior, personas, self.catalog, np.array([i]), np.arange(n_items)[None]
                )
                for i in range(n_acc)
            ]
        ).reshape(n_acc, n_items)

    @property
    def n_users(self) -> int:
        """Accounts on this platform: the population's and the puppets'."""
        return self.snapshot.n_users + len(self.accounts)

    def _snapshot_log(self) -> InteractionLog:
        """A fresh log sized for this platform's accounts, holding the snapshot's events."""
        old = self.snapshot.model.log
        log = InteractionLog(self.n_users, capacity=max(1024, len(old) + 64))
        steps = old.steps
        cuts = np.flatnonzero(np.diff(steps)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(steps)], strict=True):
            if hi > lo:
                log.append(old.users[lo:hi], old.items[lo:hi], int(steps[lo]), old.channels[lo:hi])
        return log

    def wipe_history(self) -> None:
        """Delete every event of the accounts: the log is the snapshot's again.

        The private recommender keeps whatever it holds beyond the log until its
        next :meth:`fit`. A ``remote`` service cannot be told to delete events (a
        sync only adds), so it is replaced by a fresh copy, a new session that the
        next fit fills with the wiped log.
        """
        self.log = self._snapshot_log()
        if isinstance(self.recommender, RemoteRecommender):
            self.recommender = _private_copy(self.snapshot.model)

    def platform_data(self) -> PlatformData:
        """What the platform sees now (as :meth:`AuditModel.platform_data`)."""
        privileged = bool(getattr(self.recommender, "privileged", False))
        return PlatformData(
            step=self.t,
            n_users=self.n_users,
            items=self.catalog.view(self.t),
            log=self.log,
            follows=self.follows,
            social=self.social,
            oracle=self.true_utility if privileged else None,
            seed=self.snapshot.model.tie_seed,
        )

    def true_utility(self, users: np.ndarray) -> np.ndarray:
        """Expected utility of every visible item (the privileged oracle), float32."""
        users = np.asarray(users, dtype=np.int64)
        n = self.catalog.n_visible(self.t)
        out = np.empty((len(users), n), dtype=np.float32)
        own = users >= self.snapshot.n_users
        out[own] = self.utility[users[own] - self.snapshot.n_users, :n]
        if (~own).any():
            model = self.snapshot.model
            # the model's own oracle: chunked, no gather of users × items ids
            out[~own] = visible_utility(
                self.behavior, model.population, self.catalog, users[~own], n
            )
        return out

    def fit(self) -> None:
        """Fully refit the private recommender on this platform."""
        self.recommender.fit(self.platform_data())

    def learn(self, slates: np.ndarray, clicked: np.ndarray, *, refit: bool) -> None:
        """Show the recommender the accounts' slates and clicks; refit when due."""
        data = self.platform_data()
        observe = getattr(self.recommender, "observe", None)
        if observe is not None:
            observe(StepBatch(data=data, users=self.accounts, slates=slates, clicked=clicked))
        if refit:
            self.recommender.fit(data)


def _private_copy(model: AuditModel) -> Any:
    """Deep copy of the model's recommender that shares the frozen world, never copies it.

    Whatever the recommender references of the snapshot (its last ``PlatformData``:
    the log, the world's graphs, the oracle bound to the model) is shared; the copy
    is refitted on its own platform before it recommends, which replaces those
    references.
    """
    world = model.world
    shared: list[Any] = [model, model.log, world, model.population, model.catalog]
    shared += [world.adjacency, world.follows, world.population, world.catalog]
    memo = {id(obj): obj for obj in shared}
    return copy.deepcopy(model.recommender, memo)


@dataclass
class Walks:
    """What a group of puppets saw and did, step by step.

    Attributes
    ----------
    shown : ndarray of shape (n_puppets, depth, n_categories)
        Recommended slots per category.
    picked : ndarray of shape (n_puppets, depth)
        Category of each pick (``-1`` for none).
    pick_rank : ndarray of shape (n_puppets, depth)
        Utility rank of each pick (``-1`` for none): how many visible, available
        items the puppet's own deterministic utility puts above it (0 = its
        favourite).
    slate_rank : ndarray of shape (n_puppets, depth)
        Mean utility rank of the recommended slots (NaN for an empty slate).
    n_ranked : ndarray of shape (depth,)
        Visible, available items ranked at each depth.
    """

    shown: np.ndarray
    picked: np.ndarray
    pick_rank: np.ndarray
    slate_rank: np.ndarray
    n_ranked: np.ndarray

    @classmethod
    def concatenate(cls, walks: Sequence[Walks]) -> Walks:
        """Stack the puppets of several walks of equal depth."""
        return cls(
            shown=np.concatenate([w.shown for w in walks]),
            picked=np.concatenate([w.picked for w in walks]),
            pick_rank=np.concatenate([w.pick_rank for w in walks]),
            slate_rank=np.concatenate([w.slate_rank for w in walks]),
            n_ranked=walks[0].n_ranked,
        )

    def take(self, order: np.ndarray) -> Walks:
        """The walks of the puppets ``order`` (rows reordered)."""
        return Walks(
            shown=self.shown[order],
            picked=self.picked[order],
            pick_rank=self.pick_rank[order],
            slate_rank=self.slate_rank[order],
            n_ranked=self.n_ranked,
        )


def _start_items(
    platform: PuppetPlatform, row: int, start: str, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` start items of account ``row``: random items of a category, or favourites."""
    cat = platform.catalog
    n_visible = cat.n_visible(platform.t)
    available = cat.available[:n_visible]
    if start == "favourite":
        own = platform.utility[row, :n_visible]
        # best first; ties broken by the puppet's stream, never by id
        order = np.lexsort((rng.random(n_visible), -own))
        return order[available[order]][:size]
    pool = np.flatnonzero((cat.category[:n_visible] == CATEGORIES.index(start)) & available)
    if len(pool) == 0:
        raise ConfigError(
            "world.creator_mix",
            start,
            "a world with at least one visible item of every category",
        )
    return pool[rng.integers(len(pool), size=size)]


def walk(
    platform: PuppetPlatform,
    puppets: Sequence[Puppet],
    conf: SockPuppetConf,
    *,
    slate_size: int,
    choice: str,
    rank_discount: float,
    rngs: Sequence[np.random.Generator],
    recommender_rng: np.random.Generator,
) -> Walks:
    """Walk ``puppets`` (the platform's accounts, in order) for ``conf.depth`` steps.

    Each puppet first watches its start items (``seed_length`` of them for the
    ``seeded`` persona, else one) and the recommender is refitted; with
    ``conf.reset_history`` that history is then wiped and the recommender refitted
    again. Each step the recommender ranks ``slate_size`` items per puppet, each
    puppet picks one, the pick is logged, the recommender observes the step and it
    refits on the platform's clock (``t % retrain_every == 0``, except after the
    last step).

    Parameters
    ----------
    platform : PuppetPlatform
        Holds one account per puppet.
    puppets : sequence of Puppet
    conf : SockPuppetConf
    slate_size : int
    choice : str
        Choice model of the ``utility`` persona.
    rank_discount : float
        ``β`` of the ``rank_discounted`` choice model.
    rngs : sequence of numpy.random.Generator
        One per puppet, its walk stream: start items, then each step one uniform
        and ``slate_size + 1`` float32 uniforms, whatever the persona.
    recommender_rng : numpy.random.Generator
        Handed to ``recommend``.
    """
    n, depth, k = len(puppets), conf.depth, slate_size
    cat, accounts = platform.catalog, platform.accounts
    personas = np.array([PERSONAS.index(p.persona) for p in puppets])
    for i, puppet in enumerate(puppets):
        size = conf.seed_length if puppet.persona == "seeded" else 1
        items = _start_items(platform, i, puppet.start, size, rngs[i])
        platform.log.append(
            np.full(size, accounts[i]), items, platform.t - 1, np.full(size, RECOMMENDED, np.int8)
        )
    platform.fit()
    if conf.reset_history:
        platform.wipe_history()
        platform.fit()
    out = Walks(
        shown=np.zeros((n, depth, N_CAT), dtype=np.int64),
        picked=np.full((n, depth), -1, dtype=np.int64),
        pick_rank=np.full((n, depth), -1, dtype=np.int64),
        slate_rank=np.full((n, depth), np.nan),
        n_ranked=np.zeros(depth, dtype=np.int64),
    )
    is_random = personas == PERSONAS.index("random")
    is_util = np.flatnonzero(personas == PERSONAS.index("utility"))
    rows = np.arange(n)
    rec = platform.recommender
    for d in range(depth):
        n_visible = cat.n_visible(platform.t)
        available = cat.available[:n_visible]
        items, scores = rec.recommend(accounts, k, rng=recommender_rng)
        slates, _ = valid_candidates(items, scores, available)
        slates = np.ascontiguousarray(slates[:, :k])
        valid = slates >= 0
        u = np.array([g.random() for g in rngs])
        choice_u = np.stack([g.random(k + 1, dtype=np.float32) for g in rngs]).reshape(n, k + 1)
        n_valid = valid.sum(axis=1)
        pick = np.where(n_valid > 0, 0, -1)
        pick[is_random] = np.where(
            n_valid[is_random] > 0, (u[is_random] * n_valid[is_random]).astype(np.int64), -1
        )
        if len(is_util):
            util = item_utility(platform.behavior, platform.personas, cat, is_util, slates[is_util])
            pick[is_util] = choose(
                util, -np.inf, choice_u[is_util], model=choice, rank_discount=rank_discount
            )
        # with nothing to choose from, some choice models still name a column
        pick = np.where((pick >= 0) & valid[rows, np.maximum(pick, 0)], pick, -1)
        # utility rank: visible, available items each puppet prefers to the slot's
        own = platform.utility[:, :n_visible]
        ranked = np.where(available[None, :], own, -np.inf)
        slot_u = np.take_along_axis(own, np.maximum(slates, 0), axis=1)
        slot_rank = (ranked[:, None, :] > slot_u[:, :, None]).sum(axis=2)
        out.n_ranked[d] = int(available.sum())
        has = n_valid > 0
        out.slate_rank[has, d] = np.where(valid, slot_rank, 0).sum(axis=1)[has] / n_valid[has]
        hit = np.flatnonzero(pick >= 0)
        chosen = slates[hit, pick[hit]]
        out.picked[hit, d] = cat.category[chosen]
        out.pick_rank[hit, d] = slot_rank[hit, pick[hit]]
        slot_cat = cat.category[slates[valid]].astype(np.int64)
        out.shown[:, d] = np.bincount(
            np.broadcast_to(rows[:, None], slates.shape)[valid] * N_CAT + slot_cat,
            minlength=n * N_CAT,
        ).reshape(n, N_CAT)
        platform.log.append(
            accounts[hit], chosen, platform.t, np.full(len(hit), RECOMMENDED, dtype=np.int8)
        )
        platform.t += 1
        every = max(1, int(rec.retrain_every))
        platform.learn(slates, pick, refit=platform.t % every == 0 and d < depth - 1)
    return out


def walk_puppets(
    snapshot: Snapshot,
    puppets: Sequence[Puppet],
    conf: Any,
    entropy: int,
    replicate: int,
    *,
    progress: Callable[[], None] | None = None,
) -> Walks:
    """Every puppet's walk from ``snapshot``, isolated or shared as ``conf`` says.

    With ``isolation="snapshot"`` each puppet walks its own
    :class:`PuppetPlatform` (account ``n_users``); with ``"shared"`` all walk one
    platform, their accounts in an order drawn from the replicate's stream.
    Neither changes ``snapshot``.

    Parameters
    ----------
    snapshot : Snapshot
    puppets : sequence of Puppet
    conf : RunConf
    entropy, replicate : int
        Root of every puppet's stream (:meth:`Puppet.seed_sequence`).
    progress : callable, optional
        Called after each puppet's walk (after all of them when shared).

    Returns
    -------
    Walks
        Rows in the order of ``puppets``.
    """
    sp_conf = conf.audit.sock_puppet
    seqs = [p.seed_sequence(entropy, replicate).spawn(3) for p in puppets]
    taste_rngs, walk_rngs, rec_rngs = (
        [np.random.default_rng(s[i]) for s in seqs] for i in range(3)
    )
    options = {
        "slate_size": conf.audit.slate_size,
        "choice": sp_conf.choice or conf.behavior.choice,
        "rank_discount": conf.behavior.rank_discount,
    }
    personas = persona_population(sp_conf.taste, snapshot, taste_rngs)
    if sp_conf.isolation == "snapshot":
        snapshot.graphs(1)  # built once, before any worker reads the cache

        def walk_one(i: int) -> Walks:
            platform = PuppetPlatform(snapshot, _rows(personas, np.array([i])))
            return walk(
                platform,
                [puppets[i]],
                sp_conf,
                rngs=[walk_rngs[i]],
                recommender_rng=rec_rngs[i],
                **options,
            )

        # a service's puppets spend their time waiting on it: walk several at once (each
        # walk depends on nothing but its own platform and streams, so results do not)
        remote = isinstance(snapshot.model.recommender, RemoteRecommender)
        workers = REMOTE_WORKERS if remote else 1
        # Many small refits: OpenMP threads inside each (implicit's default, 0 = all
        # cores) cost more than they give, 23x per mf fit on a busy 2-core machine.
        # Results do not depend on it; an explicit recommender.num_threads still wins.
        with threadpool_limits(1, "openmp"):
            return Walks.concatenate(_each(walk_one, len(puppets), workers, progress))
    # shared: one platform, accounts in a random order so no id order favours a cell
    streams = replicate_streams(entropy, replicate)["interventions"]
    shared_seq = np.random.SeedSequence(streams.entropy, spawn_key=(*streams.spawn_key, 1))
    order_seq, rec_seq = shared_seq.spawn(2)
    order = np.random.default_rng(order_seq).permutation(len(puppets))
    platform = PuppetPlatform(snapshot, _rows(personas, order))
    walked = walk(
        platform,
        [puppets[i] for i in order],
        sp_conf,
        rngs=[walk_rngs[i] for i in order],
        recommender_rng=np.random.default_rng(rec_seq),
        **options,
    )
    if progress is not None:
        for _ in puppets:
            progress()
    return walked.take(np.argsort(order))


def _each(
    run: Callable[[int], Walks], n: int, workers: int, progress: Callable[[], None] | None
) -> list[Walks]:
    """``[run(0), ..., run(n - 1)]``, on up to ``workers`` threads; ``progress`` after each."""
    if workers <= 1:
        out = []
        for i in range(n):
            out.append(run(i))
            if progress is not None:
                progress()
        return out
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sock-puppet")
    try:
        futures = [pool.submit(run, i) for i in range(n)]
        out = []
        for future in futures:
            out.append(future.result())
            if progress is not None:
                progress()
        return out
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _rows(population: Population, rows: np.ndarray) -> Population:
    """The users ``rows`` of ``population`` (fields that are ``None`` stay ``None``)."""
    values = {f.name: getattr(population, f.name) for f in dataclasses.fields(population)}
    return Population(**{k: None if v is None else v[rows] for k, v in values.items()})


@dataclass
class SockPuppetResult:
    """Category mixes and utility ranks by depth.

    Cells are ``(persona, start)``: a start category, or ``"favourite"``.

    Attributes
    ----------
    rec_mix, choice_mix : dict of (persona, start) to ndarray
        Shape ``(n_replicates, depth, n_categories)``: share of recommended slots,
        and of chosen items, in each category at each depth.
    entropy : int
    parent_run_id : str or None
    label : str
        What the walked recommender is called (a service: the name it declares).
    pick_rank, slate_rank : dict of (persona, start) to ndarray
        Shape ``(n_replicates, depth)``: mean utility rank of the puppets' picks
        and of the recommended slots, by each puppet's own deterministic utility
        among the ``n_ranked`` visible, available items (0 = its favourite; NaN
        where there was nothing to rank).
    n_ranked : ndarray of shape (n_replicates, depth)
    shown : dict of (persona, start) to ndarray
        Shape ``(n_replicates, puppets_per_cell, depth, n_categories)``: each
        puppet's recommended slots per category.
    picked_rank : dict of (persona, start) to ndarray
        Shape ``(n_replicates, puppets_per_cell, depth)``: each pick's utility rank
        (``-1`` for none).
    isolation : str
        ``snapshot`` or ``shared``.
    """

    rec_mix: dict[tuple[str, str], np.ndarray]
    choice_mix: dict[tuple[str, str], np.ndarray]
    entropy: int
    parent_run_id: str | None = None
    label: str = "?"
    pick_rank: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    slate_rank: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    n_ranked: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    shown: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    picked_rank: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    isolation: str = "snapshot"


def _mean_rank(ranks: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Mean over puppets (axis 0) of ``ranks`` where ``ok``; NaN where none is."""
    count = ok.sum(axis=0)
    total = np.where(ok, ranks, 0).sum(axis=0)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def run_sock_puppets(
    conf: Any,
    *,
    make_recommender: Callable[[], Any],
    entropy: int,
    tracker: Any = None,
    params: dict[str, str] | None = None,
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    progress: Callable[[], None] | None = None,
) -> SockPuppetResult:
    """Run a sock-puppet audit for every replicate of ``conf`` (a validated RunConf).

    With a ``tracker``, the audit is a parent run with one child per replicate,
    tagged like a compare audit's (see :func:`ampaudit.audit.run_audit` for
    ``params`` and ``overrides``) plus ``mode=sock_puppet`` and ``extra_tags``
    (``companion_of``: the comparison audit this one belongs to). ``progress`` is
    called after each puppet's walk.
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
    sp_conf = conf.audit.sock_puppet
    categories = world_categories(conf.world)
    puppets = plan_puppets(sp_conf, categories)
    cells = [(p, s) for p in sp_conf.personas for s in sp_conf.start_labels(categories)]
    per_cell = sp_conf.puppets_per_cell
    collected: dict[str, dict[tuple[str, str], list[np.ndarray]]] = {
        name: {} for name in ("rec_mix", "choice_mix", "pick_rank", "slate_rank", "shown", "ranks")
    }
    n_ranked = []
    parent = None
    try:
        if tracker is not None:
            only_parent = parent_tags(entropy, seed=conf.seed, params=params, overrides=overrides)
            parent = tracker.start_parent(
                f"sock puppets: {label}", params, {**tags, **only_parent, **(extra_tags or {})}
            )
        for r in range(conf.audit.replicates):
            snapshot = warm_up(conf, r, entropy, make_recommender=make_recommender)
            walks = walk_puppets(snapshot, puppets, conf, entropy, r, progress=progress)
            n_ranked.append(walks.n_ranked)
            series: dict[str, np.ndarray] = {"sock.n_ranked": walks.n_ranked.astype(float)}
            for c, cell in enumerate(cells):
                at = slice(c * per_cell, (c + 1) * per_cell)
                shown, picked = walks.shown[at], walks.picked[at]
                picks = np.stack(
                    [np.bincount(p[p >= 0], minlength=N_CAT) for p in picked.T]
                ).reshape(-1, N_CAT)
                got = {
                    "rec_mix": exposure_share(shown.sum(axis=0)),
                    "choice_mix": exposure_share(picks),
                    "pick_rank": _mean_rank(walks.pick_rank[at], walks.pick_rank[at] >= 0),
                    "slate_rank": _mean_rank(
                        walks.slate_rank[at], np.isfinite(walks.slate_rank[at])
                    ),
                    "shown": shown,
                    "ranks": walks.pick_rank[at],
                }
                for name, value in got.items():
                    collected[name].setdefault(cell, []).append(value)
                key = f"sock.{cell[0]}.{cell[1]}"
                for cc, cc_name in enumerate(CATEGORIES):
                    series[f"{key}.rec_share.{cc_name}"] = got["rec_mix"][:, cc]
                    series[f"{key}.choice_share.{cc_name}"] = got["choice_mix"][:, cc]
                series[f"{key}.utility_rank.pick"] = got["pick_rank"]
                series[f"{key}.utility_rank.slate"] = got["slate_rank"]
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

    def stacked(name: str) -> dict[tuple[str, str], np.ndarray]:
        return {cell: np.stack(v) for cell, v in collected[name].items()}

    return SockPuppetResult(
        rec_mix=stacked("rec_mix"),
        choice_mix=stacked("choice_mix"),
        entropy=entropy,
        parent_run_id=parent,
        label=label,
        pick_rank=stacked("pick_rank"),
        slate_rank=stacked("slate_rank"),
        n_ranked=np.stack(n_ranked),
        shown=stacked("shown"),
        picked_rank=stacked("ranks"),
        isolation=sp_conf.isolation,
    )


def sock_table(result: SockPuppetResult, *, category: str = "extreme") -> str:
    """Share of ``category`` in recommendations (and picks) by walk depth, per persona and start.

    Two more columns give the mean utility rank of the puppets' picks and of the
    recommended slots over the walk, by each puppet's own tastes (0 = its favourite).
    """
    from ampaudit.summary import text_table  # summary → audit → config → this module

    c = CATEGORIES.index(category)
    any_mix = next(iter(result.rec_mix.values()))
    depth = any_mix.shape[1]
    marks = sorted({1, *np.linspace(1, depth, num=min(depth, 5)).round().astype(int).tolist()})
    header = ["persona", "start", *[f"d={d}" for d in marks], "picks (mean)"]
    header += ["pick rank", "slate rank"]
    rows = [header]
    for (persona, start), mix in result.rec_mix.items():
        by_depth = mix[:, :, c].mean(axis=0)
        picks = result.choice_mix[(persona, start)][:, :, c].mean()
        ranks = [
            _rank_cell(table.get((persona, start)))
            for table in (result.pick_rank, result.slate_rank)
        ]
        rows.append(
            [persona, start, *[f"{by_depth[d - 1]:.3f}" for d in marks], f"{picks:.3f}", *ranks]
        )
    lines = text_table(rows)
    lines.append(
        f"\nShare of {category} items among recommended slots at walk depth d, and "
        f"among the puppets' picks, averaged over puppets and replicates."
    )
    if result.n_ranked.size:
        lo, hi = int(result.n_ranked.min()), int(result.n_ranked.max())
        span = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
        lines.append(
            f"Rank: where the picks and the recommended items stand among the {span} visible "
            "items by each puppet's own tastes (0 = its favourite), mean over the walk."
        )
    if result.isolation == "shared":
        lines.append("Puppets walked together on one platform (isolation=shared).")
    return "\n".join(lines)


def _rank_cell(ranks: np.ndarray | None) -> str:
    if ranks is None or not np.isfinite(ranks).any():
        return "n/a"
    return f"{np.nanmean(ranks):,.0f}"
