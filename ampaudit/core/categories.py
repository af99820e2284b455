"""Content categories and consumption channels, as small integer codes.

State is arrays, so categories and channels are stored as ``int8`` codes; these
tuples give the names in code order.
"""

from __future__ import annotations

__all__ = [
    "BORDERLINE",
    "CATEGORIES",
    "CHANNELS",
    "COUNTER",
    "EXTREME",
    "FOLLOW",
    "MAINSTREAM",
    "NEWS",
    "RECOMMENDED",
    "SEARCH",
]

#: Category names in code order. ``news`` is responsible reporting on extremism
#: (legitimate, topically close to extreme); ``counter`` is counter-narrative content.
CATEGORIES: tuple[str, ...] = ("mainstream", "news", "counter", "borderline", "extreme")
MAINSTREAM, NEWS, COUNTER, BORDERLINE, EXTREME = range(5)

#: How a user reached the item they consumed.
CHANNELS: tuple[str, ...] = ("recommended", "follow", "search")
RECOMMENDED, FOLLOW, SEARCH = range(3)
