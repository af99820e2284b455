"""The simulated world (import as ``ampaudit.simulations``)."""

from .behavior import BehaviorConf
from .catalog import Catalog, CategoryTable, make_catalog
from .graphs import GraphConf, build_graph
from .model import AuditModel
from .population import Population, make_population
from .world import World, WorldConf, assemble_world, build_world, make_world, world_arrays
from .worldfile import check_world_arrays, load_world_arrays, save_world_arrays

__all__ = [
    "AuditModel",
    "BehaviorConf",
    "Catalog",
    "CategoryTable",
    "GraphConf",
    "Population",
    "World",
    "WorldConf",
    "assemble_world",
    "build_graph",
    "build_world",
    "check_world_arrays",
    "load_world_arrays",
    "make_catalog",
    "make_population",
    "make_world",
    "save_world_arrays",
    "world_arrays",
]
