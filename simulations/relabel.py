"""Relabel a world's users and items: the same world under other ids.

An audit's results must not depend on how users and items happen to be numbered
(user ids follow communities along the radicalisation axis; ties broken by id
would favour one end). Relabelling a world and running it again is the test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .world import World, freeze

__all__ = ["random_relabelling", "relabel_world"]


def relabel_world(world: World, users: np.ndarray, items: np.ndarray) -> World:
    """The world with user ``users[i]`` as new user ``i`` and item ``items[j]`` as item ``j``.

    Parameters
    ----------
    world : World
    users : ndarray of shape (n_users,)
        A permutation of the user ids: old id of each new id.
    items : ndarray of shape (n_items,)
        A permutation of the item ids that keeps creation order (items are a
        prefix by creation step): it may only permute items created at the same
        step.

    Raises
    ------
    ValueError
        If ``users`` or ``items`` is not a permutation, or ``items`` breaks
        creation order.
    """
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    for name, perm, n in (("users", users, world.n_users), ("items", items, len(world.catalog))):
        if not np.array_equal(np.sort(perm), np.arange(n)):
            raise ValueError(f"{name} must be a permutation of 0..{n - 1}")
    cat = world.catalog
    if not np.array_equal(cat.created[items], cat.created):
        raise ValueError("items may only permute items created at the same step")
    new_item = np.empty_like(items)
    new_item[items] = np.arange(len(items))
    population = dataclasses.replace(
        world.population,
        **{
            f.name: getattr(world.population, f.name)[users].copy()
            for f in _fields(world.population)
        },
    )
    if population.utility is not None:  # users × items: columns follow the items
        population = dataclasses.replace(population, utility=population.utility[:, items].copy())
    fields = {f.name: getattr(cat, f.name)[items].copy() for f in _fields(cat)}
    fields["original"] = new_item[fields["original"]]
    catalog = dataclasses.replace(cat, **fields)
    creator_items = np.argsort(catalog.creator, kind="stable").astype(np.int64)
    relabelled = dataclasses.replace(
        world,
        adjacency=sp.csr_matrix(world.adjacency[users][:, users]),
        follows=sp.csr_matrix(world.follows[users]),
        population=population,
        catalog=catalog,
        creator_items=creator_items,
    )
    freeze(relabelled)
    return relabelled


def _fields(obj: object) -> list[dataclasses.Field]:
    """Dataclass fields that hold one array row per entity."""
    n = len(obj)  # type: ignore[arg-type]
    return [
        f
        for f in dataclasses.fields(obj)  # type: ignore[arg-type]
        if isinstance(getattr(obj, f.name), np.ndarray) and len(getattr(obj, f.name)) == n
    ]


def random_relabelling(
    world: World, rng: np.random.Generator, *, reverse_users: bool = False
) -> World:
    """The world under uniformly random user ids and item ids (items within a step).

    With ``reverse_users`` the user ids are reversed instead: the relabelling
    that most changes an id-order artefact, since ids follow communities.
    """
    n_users = world.n_users
    users = np.arange(n_users)[::-1].copy() if reverse_users else rng.permutation(n_users)
    created = world.catalog.created
    # a random key within each creation step keeps the steps in order
    items = np.lexsort((rng.random(len(created)), created))
    return relabel_world(world, users, items)
