"""The ground floor: contracts, shared types, seeding and ranking kernels.

Everything else in ampaudit imports from here; this package imports nothing above it.
"""

from ampaudit.core.categories import CATEGORIES, CHANNELS
from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.intervention import Intervention, PlatformView
from ampaudit.core.platform import InteractionLog, ItemView, PlatformData, StepBatch
from ampaudit.core.protocols import Recommender, offers
from ampaudit.core.seeding import STREAMS, replicate_streams

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "STREAMS",
    "ConfigError",
    "InteractionLog",
    "Intervention",
    "ItemView",
    "PlatformData",
    "PlatformView",
    "Recommender",
    "StepBatch",
    "check_range",
    "offers",
    "replicate_streams",
]
