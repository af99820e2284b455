"""Build the shared world of one replicate: graph, population, creators, follows, catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ampaudit.core.categories import CATEGORIES
from ampaudit.core.errors import ConfigError, check_range

from .catalog import EXTREMITY_RANGES, Catalog, add_crisis, make_catalog
from .graphs import GraphConf, build_graph
from .population import Population, make_population

__all__ = ["World", "WorldConf", "build_world", "freeze", "make_follows"]


@dataclass
class WorldConf:
    """Size and composition of the simulated world.

    Parameters
    ----------
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
        """Raise :class:`ConfigError` naming the first invalid field."""
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
    follows : scipy.sparse.csr_matrix of shape (n_users, n_creators)
        Which creators each user follows.
    creator_category : ndarray of shape (n_creators,)
    creator_items_indptr, creator_items : ndarray
        Items of each creator, in creation order, CSR-style.
    n_steps : int
        Horizon the catalog was drawn for.
    """

    adjacency: sp.csr_matrix
    population: Population
    catalog: Catalog
    follows: sp.csr_matrix
    creator_category: np.ndarray
    creator_items_indptr: np.ndarray
    creator_items: np.ndarray
    n_steps: int

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.population)

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
) -> sp.csr_matrix:
    """Draw who follows whom: ideologically homophilous follows of creators.

    A user follows ``Poisson(mean_follows)`` creators; each follow picks a category
    with probability ``∝ creator_mix_c · exp(-|x_i - m_c| / bandwidth)`` (``m_c`` the
    midpoint of the category's extremity range), then a creator of that category
    uniformly. Duplicates collapse.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_users, n_creators)
        Binary follow matrix.
    """
    n_users, n_creators = len(x), len(creator_category)
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
    follows = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, creators)), shape=(n_users, n_creators)
    )
    follows.sum_duplicates()
    follows.data[:] = 1.0
    return follows


def build_world(
    world: WorldConf, graph: GraphConf, *, n_steps: int, rng: np.random.Generator
) -> World:
    """Build one replicate's world from the ``world`` stream.

    Parameters
    ----------
    world : WorldConf
    graph : GraphConf
    n_steps : int
        Horizon: the catalog holds every item that will arrive in it.
    rng : numpy.random.Generator
        The replicate's ``world`` stream.
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
    creator_items = np.argsort(catalog.creator, kind="stable").astype(np.int64)
    indptr = np.concatenate(
        [[0], np.cumsum(np.bincount(catalog.creator, minlength=world.n_creators))]
    ).astype(np.int64)
    world_ = World(
        adjacency=adjacency,
        population=population,
        catalog=catalog,
        follows=follows,
        creator_category=creator_category,
        creator_items_indptr=indptr,
        creator_items=creator_items,
        n_steps=n_steps,
    )
    freeze(world_)
    return world_


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
