"""Recommender algorithms (import as ``ampaudit.recommenders``).

Every recommender follows :class:`ampaudit.core.Recommender`. :data:`REGISTRY` maps
config names to classes; :data:`CONFS` maps them to their Hydra config dataclasses.
"""

from .base import ScoringRecommender
from .baselines import (
    ChronologicalRecommender,
    ChronologicalRecommenderConf,
    PopularityRecommender,
    PopularityRecommenderConf,
    RandomRecommender,
    RandomRecommenderConf,
)
from .content import ContentRecommender, ContentRecommenderConf
from .mf import MFRecommender, MFRecommenderConf

__all__ = [
    "CONFS",
    "REGISTRY",
    "ChronologicalRecommender",
    "ChronologicalRecommenderConf",
    "ContentRecommender",
    "ContentRecommenderConf",
    "MFRecommender",
    "MFRecommenderConf",
    "PopularityRecommender",
    "PopularityRecommenderConf",
    "RandomRecommender",
    "RandomRecommenderConf",
    "ScoringRecommender",
]

REGISTRY = {
    "random": RandomRecommender,
    "chronological": ChronologicalRecommender,
    "popularity": PopularityRecommender,
    "content": ContentRecommender,
    "mf": MFRecommender,
}

CONFS = {
    "random": RandomRecommenderConf,
    "chronological": ChronologicalRecommenderConf,
    "popularity": PopularityRecommenderConf,
    "content": ContentRecommenderConf,
    "mf": MFRecommenderConf,
}
