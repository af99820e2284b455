"""The shared world of one replicate: graph, population, creators, follows, catalog.

A world is assembled from arrays (:func:`assemble_world`; the keys are listed in
:mod:`ampaudit.simulations.worldfile`): the generator :func:`build_world` is one way
to draw them, a world file another. :func:`make_world` picks between the two from
the config (``world.source``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ampaudit.core.categories import CATEGORIES
from ampaudit.core.errors import ConfigError, check_range

from .catalog import (
    AXES,
    EXTREMITY_RANGES,
    TOPIC_LEAN,
    Catalog,
    CategoryTable,
    add_crisis,
    classifier_score,
    item_appeal,
    make_catalog,
)
from .graphs import GraphConf, build_graph
from .population import Population, draw_tastes, draw_traits, make_population, unit_rows
from .worldfile import check_world_arrays, load_world_arrays

__all__ = [
    "WORLD_SOURCES",
    "World",
    "WorldConf",
    "assemble_world",
    "build_world",
    "freeze",
    "generate_world_arrays",
    "make_follows",
    "make_world",
    "world_arrays",
]

#: Where a world comes from: drawn by the generator, or loaded from a file.
WORLD_SOURCES = ("generate", "file")


@dataclass
class WorldConf:
    """Size and composition of the simulated world, or the file it is loaded from.

    Parameters
    ----------
    source : {"generate", "file"}, default="generate"
        ``generate`` draws the world from the replicate's ``world`` stream with the
        settings below; ``file`` loads it from ``path`` (``world=arrays``). A file
        world is the same in every replicate (the file is the world; its absent
        keys are drawn from its own ``seed``), while behaviour and recommender
        streams still differ per replicate. Of the settings below, a file world
        uses only ``n_dims``, ``activity_mean``, ``latitude_low``/``_high``,
        ``mean_follows``, ``follow_bandwidth`` and ``classifier_noise``, to fill
        keys the file leaves out.
    path : str or None, default=None
        The world file (``.npz``, keys in :mod:`ampaudit.simulations.worldfile`)
        for ``source="file"``.
    axis : {"one_sided", "two_sided"} or None, default=None
        ``one_sided``: positions in [0, 1], 0 mainstream; ``two_sided``: positions in
        [-1, 1], 0 the centre, harm grows with ``|position|``. ``None``: the file's
        ``axis`` key, or ``one_sided``. The generator draws one-sided worlds only.
    n_users : int, default=1500
        Number of simulated users.
    n_items : int, default=2000
        Items in the catalog at the start.
    new_items_per_step : int, default=20
        Items created at each step.
    n_dims : int, default=16
        Dimension of taste and topic vectors.
    n_creators : int, default=400
        Number of content creators.
    creator_mix : list of float, default=[0.90, 0.03, 0.03, 0.015, 0.025]
        Share of creators per category (mainstream, news, counter, borderline,
        extreme); must sum to 1.
    opinion_low, opinion_high : float, default=0.1, 0.4
        Opinion centres of the most mainstream and the least mainstream community.
    opinion_spread : float, default=0.1
        Spread of initial opinions around a community's centre.
    at_risk_fraction : float, default=0.03
        Share of users in the at-risk minority (high opinion, appetite, susceptibility).
    at_risk_opinion_low, at_risk_opinion_high : float, default=0.65, 0.95
        Range of the at-risk minority's initial opinions (uniform).
    activity_mean : float, default=0.4
        Mean probability that a user is active in a step.
    latitude_low, latitude_high : float, default=0.1, 0.3
        Range of users' latitude of acceptance.
    mean_follows : float, default=5.0
        Mean number of creators a user follows.
    follow_bandwidth : float, default=0.12
        Ideological homophily of follows: ``P(follow c) ∝ share_c · exp(-|x - e_c| / bw)``.
    classifier_noise : float, default=0.1
        Standard deviation of the platform classifier's error on extremity.
    variant_share : float, default=0.3
        Share of new extreme items that are re-uploaded variants of earlier ones.
    variant_bits : float, default=4.0
        Mean Hamming distance between a variant's perceptual hash and its original's.
    crisis_step : int, default=-1
        Step at which a crisis burst (an attack video and its re-uploads) enters the
        catalog; -1 for none.
    crisis_variants, crisis_spread, crisis_bits : int, int, float
        Re-uploads in the burst, the steps they spread over, and their mean Hamming
        distance from the original.
    """

    source: str = "generate"
    path: str | None = None
    axis: str | None = None
    # defaults calibrated to real-user panels: see configs/world/default.yaml
    n_users: int = 1500
    n_items: int = 2000
    new_items_per_step: int = 20
    n_dims: int = 16
    n_creators: int = 400
    creator_mix: list[float] = field(default_factory=lambda: [0.90, 0.03, 0.03, 0.015, 0.025])
    opinion_low: float = 0.1
    opinion_high: float = 0.4
    opinion_spread: float = 0.1
    at_risk_fraction: float = 0.03
    at_risk_opinion_low: float = 0.65
    at_risk_opinion_high: float = 0.95
    activity_mean: float = 0.4
    latitude_low: float = 0.1
    latitude_high: float = 0.3
    mean_follows: float = 5.0
    follow_bandwidth: float = 0.12
    classifier_noise: float = 0.1
    variant_share: float = 0.3
    variant_bits: float = 4.0
    crisis_step: int = -1
    crisis_variants: int = 50
    crisis_spread: int = 5
    crisis_bits: float = 6.0

    def validate(self, prefix: str = "world") -> None:
        """Raise :class:`ConfigError` naming the first invalid field.

        A file world is loaded and its arrays checked here, so a bad file stops the
        run before anything starts, with a message naming the array.
        """
        if self.source not in WORLD_SOURCES:
            raise ConfigError(f"{prefix}.source", self.source, " or ".join(WORLD_SOURCES))
        if self.axis is not None and self.axis not in AXES:
            raise ConfigError(f"{prefix}.axis", self.axis, "one_sided, two_sided or null")
        if self.source == "generate":
            if self.path is not None:
                raise ConfigError(
                    f"{prefix}.path", self.path, "null unless world.source=file (world=arrays)"
                )
            if self.axis == "two_sided":
                raise ConfigError(
                    f"{prefix}.axis",
                    self.axis,
                    "one_sided with world.source=generate (give a two-sided world as a file)",
                )
        self._validate_generator(prefix)
        if self.source == "file":
            if self.crisis_step >= 0:
                raise ConfigError(
                    f"{prefix}.crisis_step",
                    self.crisis_step,
                    "-1 with world.source=file (mark a burst in the file: item_crisis)",
                )
            if self.path is None:
                raise ConfigError(f"{prefix}.path", None, "a world file with world.source=file")
            check_world_arrays(load_world_arrays(self.path), axis=self.axis, prefix=self.path)

    def _validate_generator(self, prefix: str) -> None:
        check_range(f"{prefix}.n_users", self.n_users, low=10)
        check_range(f"{prefix}.n_items", self.n_items, low=1)
        check_range(f"{prefix}.new_items_per_step", self.new_items_per_step, low=0)
        check_range(f"{prefix}.n_dims", self.n_dims, low=1, high=1024)
        check_range(f"{prefix}.n_creators", self.n_creators, low=len(CATEGORIES))
        mix = np.asarray(self.creator_mix, dtype=float)
        if mix.shape != (len(CATEGORIES),) or (mix < 0).any() or abs(mix.sum() - 1) > 1e-6:
            raise ConfigError(
                f"{prefix}.creator_mix",
                list(self.creator_mix),
                f"{len(CATEGORIES)} non-negative shares summing to 1 ({', '.join(CATEGORIES)})",
            )
        for name in ("opinion_low", "opinion_high", "at_risk_fraction", "latitude_low"):
            check_range(f"{prefix}.{name}", getattr(self, name), low=0, high=1)
        check_range(f"{prefix}.at_risk_opinion_low", self.at_risk_opinion_low, low=0, high=1)
        check_range(
            f"{prefix}.at_risk_opinion_high",
            self.at_risk_opinion_high,
            low=self.at_risk_opinion_low,
            high=1,
        )
        check_range(f"{prefix}.opinion_spread", self.opinion_spread, low=0, high=1)
        check_range(
            f"{prefix}.activity_mean",
            self.activity_mean,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
        check_range(f"{prefix}.latitude_high", self.latitude_high, low=self.latitude_low, high=1)
        check_range(f"{prefix}.mean_follows", self.mean_follows, low=0)
        check_range(f"{prefix}.follow_bandwidth", self.follow_bandwidth, low=0, low_open=True)
        check_range(f"{prefix}.classifier_noise", self.classifier_noise, low=0)
        check_range(f"{prefix}.variant_share", self.variant_share, low=0, high=1)
        check_range(f"{prefix}.variant_bits", self.variant_bits, low=0, high=64)
        check_range(f"{prefix}.crisis_step", self.crisis_step, low=-1)
        check_range(f"{prefix}.crisis_variants", self.crisis_variants, low=0)
        check_range(f"{prefix}.crisis_spread", self.crisis_spread, low=1)
        check_range(f"{prefix}.crisis_bits", self.crisis_bits, low=0, high=64)


@dataclass
class World:
    """The shared, mostly read-only world of one replicate.

    Arms call :meth:`fresh_arm_state` to get private copies of the mutable arrays
    (opinions, tastes, availability); everything else is shared.

    Attributes
    ----------
    adjacency : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Social graph.
    population : Population
    catalog : Catalog
        Items carry their harm class (``category``, what metrics count) and their
        world category (``label``, an index into ``categories``).
    follows : scipy.sparse.csr_matrix of shape (n_users, n_creators)
        Which creators each user follows.
    creator_category : ndarray of shape (n_creators,)
        World category of each creator (the harm class in generated worlds).
    creator_items_indptr, creator_items : ndarray
        Items of each creator, in creation order, CSR-style.
    n_steps : int
        Horizon the catalog was drawn for.
    axis : {"one_sided", "two_sided"}
        The opinion axis (see :data:`~ampaudit.simulations.catalog.AXES`).
    categories : CategoryTable
        The world's categories: names, position ranges, harm labels.
    """

    adjacency: sp.csr_matrix
    population: Population
    catalog: Catalog
    follows: sp.csr_matrix
    creator_category: np.ndarray
    creator_items_indptr: np.ndarray
    creator_items: np.ndarray
    n_steps: int
    axis: str = "one_sided"
    categories: CategoryTable = field(default_factory=CategoryTable.harm_classes)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.population)

    @property
    def opinion_range(self) -> tuple[float, float]:
        """Ends of the axis: ``(0, 1)`` one-sided, ``(-1, 1)`` two-sided."""
        return AXES[self.axis]

    def fresh_arm_state(self) -> tuple[Population, Catalog]:
        """Private copies of the mutable population and catalog state for one arm."""
        return self.population.copy_mutable(), self.catalog.copy_mutable()


def make_follows(
    x: np.ndarray,
    creator_category: np.ndarray,
    *,
    creator_mix: np.ndarray,
    mean_follows: float,
    bandwidth: float,
    rng: np.random.Generator,
    mids: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Draw who follows whom: ideologically homophilous follows of creators.

    A user follows ``Poisson(mean_follows)`` creators; each follow picks a category
    with probability ``∝ creator_mix_c · exp(-|x_i - m_c| / bandwidth)`` (``m_c`` the
    midpoint of the category's position range), then a creator of that category
    uniformly. Duplicates collapse.

    Parameters
    ----------
    mids : ndarray of shape (n_categories,), optional
        Category midpoints ``m_c``; default those of :data:`EXTREMITY_RANGES`.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_users, n_creators)
        Binary follow matrix.
    """
    n_users, n_creators = len(x), len(creator_category)
    if mids is None:
        mids = EXTREMITY_RANGES.mean(axis=1)
    present = np.bincount(creator_category, minlength=len(mids)) > 0
    weights = np.where(present, creator_mix, 0.0) * np.exp(
        -np.abs(x[:, None] - mids[None, :]) / bandwidth
    )
    weights /= weights.sum(axis=1, keepdims=True)
    counts = rng.poisson(mean_follows, n_users)
    users = np.repeat(np.arange(n_users), counts)
    cdf = np.cumsum(weights, axis=1)[users]
    u = rng.random(len(users))
    cats = np.minimum((u[:, None] > cdf).sum(axis=1), len(mids) - 1)
    order = np.argsort(creator_category, kind="stable")
    starts = np.searchsorted(creator_category[order], np.arange(len(mids)))
    sizes = np.bincount(creator_category, minlength=len(mids))
    pick = (rng.random(len(users)) * sizes[cats]).astype(np.int64)
    creators = order[starts[cats] + pick]
    return _binary(users, creators, (n_users, n_creators))


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Canonical binary CSR matrix (float32 ones, sorted indices) of ``(rows, cols)`` pairs."""
    mat = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def build_world(
    world: WorldConf, graph: GraphConf, *, n_steps: int, rng: np.random.Generator
) -> World:
    """Draw one replicate's world from the ``world`` stream (the generator).

    Draws the world's arrays (:func:`generate_world_arrays`) and assembles them
    (:func:`assemble_world`), the way a world file is assembled.

    Parameters
    ----------
    world : WorldConf
    graph : GraphConf
    n_steps : int
        Horizon: the catalog holds every item that will arrive in it.
    rng : numpy.random.Generator
        The replicate's ``world`` stream.
    """
    arrays = generate_world_arrays(world, graph, n_steps=n_steps, rng=rng)
    return assemble_world(arrays, n_steps=n_steps, conf=world, graph=graph, rng=rng)


def generate_world_arrays(
    world: WorldConf, graph: GraphConf, *, n_steps: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Draw every array of a one-sided world with the five harm classes as categories.

    Returns
    -------
    dict of str to ndarray
        Every key of :data:`~ampaudit.simulations.worldfile.SCHEMA` but ``utility``
        and ``item_count``, so assembling them draws nothing more.
    """
    adjacency, communities = build_graph(graph, world.n_users, rng=rng)
    population = make_population(
        communities,
        n_dims=world.n_dims,
        opinion_low=world.opinion_low,
        opinion_high=world.opinion_high,
        opinion_spread=world.opinion_spread,
        at_risk_fraction=world.at_risk_fraction,
        activity_mean=world.activity_mean,
        latitude_low=world.latitude_low,
        latitude_high=world.latitude_high,
        rng=rng,
        at_risk_opinion_low=world.at_risk_opinion_low,
        at_risk_opinion_high=world.at_risk_opinion_high,
    )
    mix = np.asarray(world.creator_mix, dtype=float)
    # every category gets at least one creator so the catalog can hold all five
    creator_category = np.concatenate(
        [np.arange(len(mix)), rng.choice(len(mix), world.n_creators - len(mix), p=mix)]
    ).astype(np.int8)
    follows = make_follows(
        population.x,
        creator_category,
        creator_mix=mix,
        mean_follows=world.mean_follows,
        bandwidth=world.follow_bandwidth,
        rng=rng,
    )
    catalog = make_catalog(
        n_items=world.n_items,
        n_steps=n_steps,
        new_items_per_step=world.new_items_per_step,
        creator_category=creator_category,
        n_dims=world.n_dims,
        classifier_noise=world.classifier_noise,
        rng=rng,
        variant_share=world.variant_share,
        variant_bits=world.variant_bits,
    )
    if world.crisis_step >= 0:
        catalog = add_crisis(
            catalog,
            step=world.crisis_step,
            n_variants=world.crisis_variants,
            spread_steps=world.crisis_spread,
            variant_bits=world.crisis_bits,
            creator=int(np.flatnonzero(creator_category == len(mix) - 1)[0]),
            rng=rng,
        )
    table = CategoryTable.harm_classes()
    return _arrays("one_sided", population, table, catalog, creator_category, follows, adjacency)


def _pairs(mat: sp.spmatrix) -> np.ndarray:
    """The ``(row, col)`` pairs of a sparse matrix's stored entries, shape (nnz, 2)."""
    coo = sp.coo_matrix(mat)
    return np.stack([coo.row, coo.col], axis=1).astype(np.int64)


def _arrays(
    axis: str,
    population: Population,
    table: CategoryTable,
    catalog: Catalog,
    creator_label: np.ndarray,
    follows: sp.csr_matrix,
    adjacency: sp.csr_matrix,
) -> dict[str, Any]:
    """The arrays of a world's parts, keyed as in a world file."""
    arrays = {
        "axis": axis,
        "user_position": population.x0,
        "user_taste": population.taste,
        "user_group": population.community,
        "user_at_risk": population.at_risk,
        "user_susceptibility": population.susceptibility,
        "user_appetite": population.appetite,
        "user_latitude": population.latitude,
        "user_activity": population.activity,
        **_category_arrays(table),
        **_catalog_arrays(catalog),
        "creator_label": creator_label,
        "follows": _pairs(follows),
        "edges": _pairs(sp.triu(adjacency, format="csr")),
    }
    if population.utility is not None:
        arrays["utility"] = population.utility
    return arrays


def _category_arrays(table: CategoryTable) -> dict[str, Any]:
    return {
        "category_name": np.array(table.names),
        "category_low": table.ranges[:, 0],
        "category_high": table.ranges[:, 1],
        "category_harm": np.array(table.harm_names),
        "category_topic_lean": table.topic_lean,
    }


def _catalog_arrays(catalog: Catalog) -> dict[str, Any]:
    return {
        "item_label": catalog.label,
        "item_position": catalog.extremity,
        "item_topics": catalog.topics,
        "item_quality": catalog.quality,
        "item_appeal": catalog.appeal,
        "item_score": catalog.score,
        "item_created": catalog.created,
        "item_creator": catalog.creator,
        "item_phash": catalog.phash,
        "item_original": catalog.original,
        "item_crisis": catalog.crisis,
    }


def world_arrays(world: World) -> dict[str, Any]:
    """The arrays a world is made of, as :func:`assemble_world` takes them.

    Saved with :func:`~ampaudit.simulations.worldfile.save_world_arrays`, a
    generated world becomes a world file that loads back to the same world
    (opinions and tastes as they were at the start).
    """
    return _arrays(
        world.axis,
        world.population,
        world.categories,
        world.catalog,
        world.creator_category,
        world.follows,
        world.adjacency,
    )


#: Per-user traits drawn together when any of them is absent.
_TRAITS = ("user_susceptibility", "user_appetite", "user_latitude", "user_activity")


def assemble_world(
    arrays: Mapping[str, Any],
    *,
    n_steps: int,
    rng: np.random.Generator | None = None,
    conf: WorldConf | None = None,
    graph: GraphConf | None = None,
    prefix: str = "world",
) -> World:
    """Assemble a world from its arrays, drawing the absent ones.

    Parameters
    ----------
    arrays : mapping of str to array_like
        Keys of :data:`~ampaudit.simulations.worldfile.SCHEMA` (the table there
        gives each key's shape, meaning and default). Checked first: a bad array
        raises one :class:`ConfigError` naming it.
    n_steps : int
        Horizon; with ``item_count_per_step``, that many steps of arrivals are drawn.
    rng : numpy.random.Generator, optional
        Draws absent arrays, in a fixed order (graph, user traits, tastes, item
        positions, topics, quality, appeal, score, hashes, follows); only absent
        ones draw. Default: a generator seeded with the arrays' ``seed`` (0), so a
        file makes the same world every time.
    conf : WorldConf, optional
        Settings of the defaults (``n_dims``, ``activity_mean``, latitudes,
        ``mean_follows``, ``follow_bandwidth``, ``classifier_noise``) and ``axis``.
    graph : GraphConf, optional
        Draws the social graph when ``edges`` is absent; users are placed by
        position, so SBM blocks are bands of the axis. Default: :class:`GraphConf`.
    prefix : str, default="world"
        Names the source in error messages (a file's path).

    Returns
    -------
    World
        Read-only; the axis and the category table travel with it.

    Examples
    --------
    >>> world = assemble_world(
    ...     {"axis": "two_sided", "user_position": np.linspace(-1, 1, 20),
    ...      "category_name": ["far_left", "centre", "far_right"],
    ...      "category_low": [-1.0, -0.5, 0.8], "category_high": [-0.8, 0.5, 1.0],
    ...      "category_harm": ["extreme", "mainstream", "extreme"],
    ...      "item_count": [2, 5, 3]}, n_steps=5)
    >>> world.catalog.label.tolist()
    [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]
    >>> [CATEGORIES[c] for c in world.catalog.category[[0, 2, 9]]]
    ['extreme', 'mainstream', 'extreme']
    """
    conf = conf if conf is not None else WorldConf()
    graph = graph if graph is not None else GraphConf()
    a = check_world_arrays(arrays, axis=conf.axis, prefix=prefix)
    rng = rng if rng is not None else np.random.default_rng(a["seed"])
    harm = np.array([CATEGORIES.index(h) for h in a["category_harm"]], dtype=np.int8)
    table = CategoryTable(
        names=tuple(a["category_name"].tolist()),
        ranges=np.stack([a["category_low"], a["category_high"]], axis=1),
        harm=harm,
        topic_lean=a.get("category_topic_lean", TOPIC_LEAN[harm]),
    )
    population, adjacency = _assemble_population(a, conf, graph, rng)
    label, created = _item_slots(a, n_steps)
    n_dims = population.taste.shape[1]
    catalog = _assemble_catalog(a, table, label, created, n_dims, conf.classifier_noise, rng)
    population.utility = a.get("utility")  # its shape is checked with the others
    n_cat = len(table)
    if "item_creator" in a:
        creator_label = a.get("creator_label", _first_label(a["item_creator"], label))
    else:
        creator_label = np.arange(n_cat)  # one creator per category
    creator_label = creator_label.astype(np.int8 if n_cat <= 127 else np.int16)
    n_creators = len(creator_label)
    if "follows" in a:
        follows = _binary(a["follows"][:, 0], a["follows"][:, 1], (len(population), n_creators))
    elif n_creators == 0:
        follows = sp.csr_matrix((len(population), 0), dtype=np.float32)
    else:
        follows = make_follows(
            population.x,
            creator_label,
            creator_mix=np.bincount(creator_label, minlength=n_cat) / n_creators,
            mean_follows=conf.mean_follows,
            bandwidth=conf.follow_bandwidth,
            rng=rng,
            mids=table.mids,
        )
    creator_items = np.argsort(catalog.creator, kind="stable").astype(np.int64)
    indptr = np.concatenate(
        [[0], np.cumsum(np.bincount(catalog.creator, minlength=n_creators))]
    ).astype(np.int64)
    world = World(
        adjacency=adjacency,
        population=population,
        catalog=catalog,
        follows=follows,
        creator_category=creator_label,
        creator_items_indptr=indptr,
        creator_items=creator_items,
        n_steps=n_steps,
        axis=a["axis"],
        categories=table,
    )
    freeze(world)
    return world


def _assemble_population(
    a: dict[str, Any], conf: WorldConf, graph: GraphConf, rng: np.random.Generator
) -> tuple[Population, sp.csr_matrix]:
    """Users and their social graph, drawing the absent arrays (graph first)."""
    x = a["user_position"]
    n = len(x)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(x, kind="stable")] = np.arange(n)
    if "edges" in a:
        edges = a["edges"]
        rows = np.concatenate([edges[:, 0], edges[:, 1]])
        adjacency = _binary(rows, np.concatenate([edges[:, 1], edges[:, 0]]), (n, n))
    else:
        adjacency, _ = build_graph(graph, n, rng=rng)
        if graph.kind != "file":
            # generators order blocks along node ids: user u becomes node rank[u]
            rows, cols = adjacency[rank][:, rank].nonzero()
            adjacency = _binary(rows, cols, (n, n))
    at_risk = a.get("user_at_risk", np.zeros(n, dtype=bool))
    traits: tuple[np.ndarray, ...] = ()
    if any(name not in a for name in _TRAITS):
        traits = draw_traits(
            at_risk,
            latitude_low=conf.latitude_low,
            latitude_high=conf.latitude_high,
            activity_mean=conf.activity_mean,
            rng=rng,
        )
    susceptibility, appetite, latitude, activity = (
        a[name] if name in a else traits[i] for i, name in enumerate(_TRAITS)
    )
    if "user_taste" in a:
        taste = a["user_taste"].astype(np.float32)
    else:
        n_dims = a["item_topics"].shape[1] if "item_topics" in a else conf.n_dims
        taste = draw_tastes(x, n_dims, rng=rng)
    group = a.get("user_group", rank * max(1, min(graph.n_communities, n)) // max(n, 1))
    population = Population(
        x=x.copy(),
        x0=x.copy(),
        taste=taste,
        susceptibility=susceptibility,
        appetite=appetite,
        latitude=latitude,
        activity=activity,
        community=group.astype(np.int32),
        at_risk=at_risk,
    )
    return population, adjacency


def _item_slots(a: dict[str, Any], n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Category index and creation step of every item of the horizon."""
    if "item_label" in a:
        label = a["item_label"]
        return label, a.get("item_created", np.full(len(label), -1))
    codes = np.arange(len(a["item_count"]))
    per_step = a.get("item_count_per_step", np.zeros_like(codes))
    label = np.concatenate(
        [np.repeat(codes, a["item_count"]), np.tile(np.repeat(codes, per_step), n_steps)]
    )
    created = np.concatenate(
        [np.full(a["item_count"].sum(), -1), np.repeat(np.arange(n_steps), per_step.sum())]
    )
    return label, created


def _assemble_catalog(
    a: dict[str, Any],
    table: CategoryTable,
    label: np.ndarray,
    created: np.ndarray,
    n_dims: int,
    classifier_noise: float,
    rng: np.random.Generator,
) -> Catalog:
    """The catalog, drawing absent item arrays like :func:`make_catalog` does."""
    capacity = len(label)
    if "item_position" in a:
        position = a["item_position"]
    else:
        low, high = table.ranges[label, 0], table.ranges[label, 1]
        position = low + (high - low) * rng.random(capacity)
    if "item_topics" in a:
        topics = a["item_topics"].astype(np.float32)
    else:
        lean = np.zeros((capacity, n_dims))
        lean[:, 0] = table.topic_lean[label]
        topics = unit_rows(rng.standard_normal((capacity, n_dims)) + lean).astype(np.float32)
    quality = a["item_quality"] if "item_quality" in a else rng.beta(2, 2, capacity)
    appeal = a["item_appeal"] if "item_appeal" in a else item_appeal(position, rng=rng)
    if "item_score" in a:
        score = a["item_score"]
    else:
        score = classifier_score(position, classifier_noise, rng=rng)
    if "item_phash" in a:
        phash = a["item_phash"]
    else:
        phash = rng.integers(0, 2**63, size=capacity, dtype=np.int64).astype(np.uint64)
    return Catalog(
        category=table.harm[label].astype(np.int8),
        extremity=position,
        topics=topics,
        quality=quality,
        appeal=appeal,
        creator=a.get("item_creator", label).astype(np.int32),
        created=created.astype(np.int32),
        score=score.astype(np.float32),
        phash=phash,
        original=a.get("item_original", np.arange(capacity)).astype(np.int64),
        available=np.ones(capacity, dtype=bool),
        crisis=a.get("item_crisis", np.zeros(capacity, dtype=bool)),
        label=label.astype(np.int16),
    )


def _first_label(creator: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Category of each creator's first item (0 for creators without items)."""
    n_creators = int(creator.max()) + 1 if len(creator) else 0
    out = np.zeros(n_creators, dtype=np.int64)
    out[creator[::-1]] = label[::-1]  # the last write of each creator is its first item
    return out


def make_world(
    world: WorldConf, graph: GraphConf, *, n_steps: int, rng: np.random.Generator
) -> World:
    """The world of one replicate, as ``world.source`` says: generated or loaded.

    Parameters
    ----------
    world : WorldConf
    graph : GraphConf
    n_steps : int
        Horizon.
    rng : numpy.random.Generator
        The replicate's ``world`` stream; a file world does not use it (the file is
        the world: every replicate gets the same one).
    """
    if world.source == "file":
        assert world.path is not None, "WorldConf.validate checks the path"
        arrays = load_world_arrays(world.path)
        return assemble_world(arrays, n_steps=n_steps, conf=world, graph=graph, prefix=world.path)
    return build_world(world, graph, n_steps=n_steps, rng=rng)


def freeze(world: World) -> None:
    """Make every array of the shared world read-only.

    Arms work on private copies of the mutable state (:meth:`World.fresh_arm_state`);
    anything else that tried to write shared state would silently change every
    later arm, so it fails loudly instead.
    """
    arrays = [
        *vars(world.population).values(),
        *vars(world.catalog).values(),
        world.creator_category,
        world.creator_items_indptr,
        world.creator_items,
    ]
    for mat in (world.adjacency, world.follows):
        arrays += [mat.data, mat.indices, mat.indptr]
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
