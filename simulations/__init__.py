"""The simulated world (import as ``ampaudit.simulations``)."""

from .behavior import BehaviorConf
from .catalog import Catalog, make_catalog
from .graphs import GraphConf, build_graph
from .model import AuditModel
from .population import Population, make_population
from .world import World, WorldConf, build_world

__all__ = [
    "AuditModel",
    "BehaviorConf",
    "Catalog",
    "GraphConf",
    "Population",
    "World",
    "WorldConf",
    "build_graph",
    "build_world",
    "make_catalog",
    "make_population",
]
