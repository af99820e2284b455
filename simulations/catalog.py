"""The item catalog: one struct of arrays, generated up front and revealed over time.

All items of the horizon (the initial catalog plus every step's arrivals) are drawn
when the world is built, from the ``world`` stream; an item becomes visible at its
creation step. Arms of one replicate therefore see the same supply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ampaudit.core.categories import CATEGORIES
from ampaudit.core.platform import ItemView

from .population import unit_rows

__all__ = [
    "AXES",
    "EXTREMITY_RANGES",
    "TOPIC_LEAN",
    "Catalog",
    "CategoryTable",
    "classifier_score",
    "item_appeal",
    "make_catalog",
]

#: Uniform range of true extremity per category (code order of ``CATEGORIES``).
EXTREMITY_RANGES = np.array([[0.0, 0.35], [0.25, 0.55], [0.2, 0.5], [0.55, 0.8], [0.8, 1.0]])
#: Lean of topic vectors along the extremism topic (dimension 0): news and
#: counter-narratives are topically close to extreme content.
TOPIC_LEAN = np.array([0.0, 1.5, 1.5, 1.5, 2.0])

#: Position range of each kind of axis. ``one_sided``: 0 mainstream to 1 extreme;
#: ``two_sided``: -1 and 1 are the two extremes, 0 the centre. Harm grows with
#: ``|position|`` on both.
AXES: dict[str, tuple[float, float]] = {"one_sided": (0.0, 1.0), "two_sided": (-1.0, 1.0)}


@dataclass(frozen=True)
class CategoryTable:
    """The world's content categories: names, position ranges and harm labels.

    Metrics count by harm class (:data:`ampaudit.core.categories.CATEGORIES`); a
    world may name any number of categories on its axis and say which harm class
    each one is, so which content counts as extreme, borderline, counter-speech or
    news is data.

    Attributes
    ----------
    names : tuple of str
        Category names, in index order (``Catalog.label`` indexes them).
    ranges : ndarray of shape (n_categories, 2)
        Position range ``[low, high]`` of each category on the axis; items are
        drawn uniformly from it.
    harm : ndarray of shape (n_categories,)
        Harm class code of each category (``int8``, an index into ``CATEGORIES``).
    topic_lean : ndarray of shape (n_categories,)
        Lean of its items' topic vectors along topic dimension 0 (the extremism topic).
    """

    names: tuple[str, ...]
    ranges: np.ndarray
    harm: np.ndarray
    topic_lean: np.ndarray

    @classmethod
    def harm_classes(cls) -> CategoryTable:
        """The generator's one-sided table: one category per harm class.

        Examples
        --------
        >>> CategoryTable.harm_classes().names == CATEGORIES
        True
        """
        return cls(
            names=CATEGORIES,
            ranges=EXTREMITY_RANGES,
            harm=np.arange(len(CATEGORIES), dtype=np.int8),
            topic_lean=TOPIC_LEAN,
        )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def mids(self) -> np.ndarray:
        """Midpoint of each category's range, ndarray of shape (n_categories,)."""
        return self.ranges.mean(axis=1)

    @property
    def harm_names(self) -> tuple[str, ...]:
        """Harm class name of each category."""
        return tuple(CATEGORIES[h] for h in self.harm)


@dataclass
class Catalog:
    """Per-item state (arrays of length ``capacity``; only ``created <= step`` are visible).

    Attributes
    ----------
    category : ndarray of shape (capacity,)
        Harm class code (see :data:`ampaudit.core.categories.CATEGORIES`); every
        metric counts by it.
    extremity : ndarray of shape (capacity,)
        True position on the axis: in [0, 1] on a one-sided axis, signed in [-1, 1]
        on a two-sided one; never shown to recommenders.
    topics : ndarray of shape (capacity, n_dims)
        Unit topic vectors (float32, public).
    quality : ndarray of shape (capacity,)
        Production quality in [0, 1].
    appeal : ndarray of shape (capacity,)
        Sensational appeal in [0, 1], correlated with harmfulness ``|extremity|``.
    creator : ndarray of shape (capacity,)
        Creator id.
    created : ndarray of shape (capacity,)
        Creation step (-1 for the initial catalog); sorted ascending.
    score : ndarray of shape (capacity,)
        The platform's noisy classifier score of harmfulness ``|extremity|``, in [0, 1].
    phash : ndarray of shape (capacity,)
        64-bit perceptual hash (uint64).
    original : ndarray of shape (capacity,)
        Id of the original an item is a variant of (itself for originals).
    available : ndarray of shape (capacity,)
        False once removed (mutable, per arm).
    crisis : ndarray of shape (capacity,)
        Items of a crisis burst (an attack video and its re-uploads).
    label : ndarray of shape (capacity,)
        World category index (into the world's :class:`CategoryTable`; ``int16``);
        defaults to ``category``, the harm-class table.
    """

    category: np.ndarray
    extremity: np.ndarray
    topics: np.ndarray
    quality: np.ndarray
    appeal: np.ndarray
    creator: np.ndarray
    created: np.ndarray
    score: np.ndarray
    phash: np.ndarray
    original: np.ndarray
    available: np.ndarray
    crisis: np.ndarray = None  # type: ignore[assignment]
    label: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.crisis is None:
            self.crisis = np.zeros(len(self.category), dtype=bool)
        if self.label is None:
            self.label = self.category.astype(np.int16)

    def __len__(self) -> int:
        return len(self.category)

    def n_visible(self, step: int) -> int:
        """Number of items created at or before ``step`` (they are a prefix)."""
        return int(np.searchsorted(self.created, step, side="right"))

    def view(self, step: int) -> ItemView:
        """Public features of the items visible at ``step`` (views, no copies)."""
        n = self.n_visible(step)
        return ItemView(
            features=self.topics[:n],
            created=self.created[:n],
            creator=self.creator[:n],
            score=self.score[:n],
            available=self.available[:n],
        )

    def copy_mutable(self) -> Catalog:
        """Return a catalog sharing static arrays, with private availability."""
        return replace(self, available=self.available.copy())


def make_catalog(
    *,
    n_items: int,
    n_steps: int,
    new_items_per_step: int,
    creator_category: np.ndarray,
    n_dims: int,
    classifier_noise: float,
    rng: np.random.Generator,
    variant_share: float = 0.0,
    variant_bits: float = 4.0,
) -> Catalog:
    """Draw the whole catalog of the horizon.

    Each item's creator is drawn uniformly; its category is the creator's. True
    extremity is uniform in the category's range (:data:`EXTREMITY_RANGES`, a
    one-sided axis), appeal is extremity plus noise, the classifier score is
    extremity plus Gaussian noise of scale ``classifier_noise`` (clipped to [0, 1]).

    Parameters
    ----------
    n_items : int
        Items in the initial catalog (``created = -1``).
    n_steps : int
        Horizon; ``new_items_per_step`` items are created at each step.
    new_items_per_step : int
        Arrivals per step.
    creator_category : ndarray of shape (n_creators,)
        Category code of each creator.
    n_dims : int
        Topic dimension.
    classifier_noise : float
        Standard deviation of the classifier's error.
    rng : numpy.random.Generator
        The ``world`` stream.
    variant_share : float, default=0.0
        Share of extreme items created during the horizon that are re-uploads
        (variants) of an earlier extreme item: same content, a perceptual hash at
        Hamming distance ``Poisson(variant_bits)`` from the original's.
    variant_bits : float, default=4.0
        Mean Hamming distance of a variant's hash from its original's.
    """
    capacity = n_items + n_steps * new_items_per_step
    created = np.concatenate(
        [np.full(n_items, -1), np.repeat(np.arange(n_steps), new_items_per_step)]
    ).astype(np.int32)
    creator = rng.integers(len(creator_category), size=capacity).astype(np.int32)
    category = creator_category[creator].astype(np.int8)
    lo, hi = EXTREMITY_RANGES[category, 0], EXTREMITY_RANGES[category, 1]
    extremity = lo + (hi - lo) * rng.random(capacity)
    lean = np.zeros((capacity, n_dims))
    lean[:, 0] = TOPIC_LEAN[category]
    topics = unit_rows(rng.standard_normal((capacity, n_dims)) + lean).astype(np.float32)
    quality = rng.beta(2, 2, capacity)
    appeal = item_appeal(extremity, rng=rng)
    score = classifier_score(extremity, classifier_noise, rng=rng)
    phash = rng.integers(0, 2**63, size=capacity, dtype=np.int64).astype(np.uint64)
    original = np.arange(capacity, dtype=np.int64)
    if variant_share > 0:
        _add_variants(category, created, original, phash, variant_share, variant_bits, rng)
        # a re-upload carries its original's content (its classifier score is its own)
        for array in (extremity, topics, quality, appeal):
            array[:] = array[original]
    return Catalog(
        category=category,
        extremity=extremity,
        topics=topics,
        quality=quality,
        appeal=appeal,
        creator=creator,
        created=created,
        score=score.astype(np.float32),
        phash=phash,
        original=original,
        available=np.ones(capacity, dtype=bool),
    )


assert len(EXTREMITY_RANGES) == len(CATEGORIES) == len(TOPIC_LEAN)


def item_appeal(extremity: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Sensational appeal: harmfulness ``|extremity|`` plus noise of scale 0.15, in [0, 1].

    Draws ``len(extremity)`` normals from ``rng`` (the ``world`` stream).
    """
    return np.clip(np.abs(extremity) + 0.15 * rng.standard_normal(len(extremity)), 0.0, 1.0)


def classifier_score(
    extremity: np.ndarray, noise: float, *, rng: np.random.Generator
) -> np.ndarray:
    """The platform classifier's score: harmfulness ``|extremity|`` plus Gaussian noise.

    On a two-sided axis both extremes are harmful, so recommenders and
    interventions, which see only this score, treat them alike. Draws
    ``len(extremity)`` normals from ``rng``; clipped to [0, 1].
    """
    return np.clip(np.abs(extremity) + noise * rng.standard_normal(len(extremity)), 0.0, 1.0)


def _bit_masks(flips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """64-bit masks with ``flips[i]`` distinct random bits set (uint64)."""
    ranks = np.argsort(rng.random((len(flips), 64)), axis=1)
    bits = np.uint64(1) << np.arange(64, dtype=np.uint64)
    return ((ranks < flips[:, None]) * bits).sum(axis=1, dtype=np.uint64)


def _add_variants(category, created, original, phash, share, bits, rng) -> None:
    """Mark re-uploads in place: ``original`` points at the root, ``phash`` is perturbed."""
    extreme = np.flatnonzero(category == CATEGORIES.index("extreme"))
    later = extreme[created[extreme] >= 0]
    u = rng.random((len(later), 2))
    earlier = np.searchsorted(extreme, later)  # extreme items created before each one
    is_variant = (u[:, 0] < share) & (earlier > 0)
    picks = extreme[(u[:, 1] * earlier).astype(np.int64)]
    original[later[is_variant]] = picks[is_variant]
    for _ in range(64):  # follow variants of variants to their root
        root = original[original]
        if np.array_equal(root, original):
            break
        original[:] = root
    variants = later[is_variant]
    flips = np.minimum(rng.poisson(bits, len(variants)), 64)
    phash[variants] = phash[original[variants]] ^ _bit_masks(flips, rng)


def add_crisis(
    catalog: Catalog,
    *,
    step: int,
    n_variants: int,
    spread_steps: int,
    variant_bits: float,
    creator: int,
    rng: np.random.Generator,
) -> Catalog:
    """Insert a crisis burst: an attack video at ``step`` and ``n_variants`` re-uploads.

    Re-uploads arrive uniformly over ``spread_steps`` steps from ``step``, copy the
    original's content and carry hashes at ``Poisson(variant_bits)`` bits from it.
    Items stay sorted by creation step; ``original`` ids are remapped.

    Returns
    -------
    Catalog
        A new catalog with the burst marked in ``crisis``.
    """
    n_new = 1 + n_variants
    extreme = np.flatnonzero(catalog.category == CATEGORIES.index("extreme"))
    template = int(extreme[rng.integers(len(extreme))]) if len(extreme) else 0
    created = np.concatenate(
        [[step], step + rng.integers(0, max(spread_steps, 1), size=n_variants)]
    ).astype(np.int32)
    flips = np.minimum(rng.poisson(variant_bits, n_new), 64)
    flips[0] = 0
    masks = _bit_masks(flips, rng)
    base_hash = rng.integers(0, 2**63, dtype=np.int64).astype(np.uint64)
    score = np.clip(
        np.abs(catalog.extremity[template]) + 0.1 * rng.standard_normal(n_new), 0.0, 1.0
    ).astype(np.float32)
    n_old = len(catalog)
    extra = {
        "category": np.full(n_new, catalog.category[template]),
        "extremity": np.full(n_new, catalog.extremity[template]),
        "topics": np.repeat(catalog.topics[template][None, :], n_new, axis=0),
        "quality": np.full(n_new, catalog.quality[template]),
        "appeal": np.full(n_new, max(catalog.appeal[template], 0.9)),
        "creator": np.full(n_new, creator, dtype=catalog.creator.dtype),
        "created": created,
        "score": score,
        "phash": base_hash ^ masks,
        "original": np.full(n_new, n_old, dtype=np.int64),
        "available": np.ones(n_new, dtype=bool),
        "crisis": np.ones(n_new, dtype=bool),
        "label": np.full(n_new, catalog.label[template], dtype=catalog.label.dtype),
    }
    merged = {name: np.concatenate([getattr(catalog, name), extra[name]]) for name in extra}
    order = np.argsort(merged["created"], kind="stable")
    new_index = np.empty(len(order), dtype=np.int64)
    new_index[order] = np.arange(len(order))
    fields = {name: values[order] for name, values in merged.items()}
    fields["original"] = new_index[fields["original"]]
    fields["category"] = fields["category"].astype(np.int8)
    return Catalog(**fields)
