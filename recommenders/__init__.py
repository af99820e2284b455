"""Recommender algorithms (import as ``ampaudit.recommenders``).

Every recommender follows :class:`ampaudit.core.Recommender`. :data:`REGISTRY` maps
the self-contained built-ins' config names to classes; :data:`CONFS` maps config
names (those and ``remote``) to their Hydra config dataclasses.
"""

from .bandit import BanditRecommender, BanditRecommenderConf
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
from .ideal import IdealRecommender, IdealRecommenderConf
from .knn import (
    ItemKNNRecommender,
    ItemKNNRecommenderConf,
    UserKNNRecommender,
    UserKNNRecommenderConf,
)
from .mf import MFRecommender, MFRecommenderConf
from .people import PeopleRecommender, PeopleRecommenderConf
from .remote import RemoteRecommender, RemoteRecommenderConf, RemoteRecommenderError
from .social import SocialRecommender, SocialRecommenderConf

__all__ = [
    "CONFS",
    "REGISTRY",
    "BanditRecommender",
    "BanditRecommenderConf",
    "ChronologicalRecommender",
    "ChronologicalRecommenderConf",
    "ContentRecommender",
    "ContentRecommenderConf",
    "IdealRecommender",
    "IdealRecommenderConf",
    "ItemKNNRecommender",
    "ItemKNNRecommenderConf",
    "MFRecommender",
    "MFRecommenderConf",
    "PeopleRecommender",
    "PeopleRecommenderConf",
    "PopularityRecommender",
    "PopularityRecommenderConf",
    "RandomRecommender",
    "RandomRecommenderConf",
    "RemoteRecommender",
    "RemoteRecommenderConf",
    "RemoteRecommenderError",
    "ScoringRecommender",
    "SocialRecommender",
    "SocialRecommenderConf",
    "UserKNNRecommender",
    "UserKNNRecommenderConf",
]

REGISTRY = {
    "random": RandomRecommender,
    "chronological": ChronologicalRecommender,
    "popularity": PopularityRecommender,
    "content": ContentRecommender,
    "mf": MFRecommender,
    "user_knn": UserKNNRecommender,
    "item_knn": ItemKNNRecommender,
    "bandit": BanditRecommender,
    "social": SocialRecommender,
    "ideal": IdealRecommender,
}

CONFS = {
    "random": RandomRecommenderConf,
    "chronological": ChronologicalRecommenderConf,
    "popularity": PopularityRecommenderConf,
    "content": ContentRecommenderConf,
    "mf": MFRecommenderConf,
    "user_knn": UserKNNRecommenderConf,
    "item_knn": ItemKNNRecommenderConf,
    "bandit": BanditRecommenderConf,
    "social": SocialRecommenderConf,
    "ideal": IdealRecommenderConf,
    # not in REGISTRY: it needs a running service (ampaudit serve-stub, or the platform's)
    "remote": RemoteRecommenderConf,
}
