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
    "WATCH_NEXT",
]

#: Category names in code order. ``news`` is responsible reporting on extremism
#: (legitimate, topically close to extreme); ``counter`` is counter-narrative content.
CATEGORIES: tuple[str, ...] = ("mainstream", "news", "counter", "borderline", "extreme")
MAINSTREAM, NEWS, COUNTER, BORDERLINE, EXTREME = range(5)

#: How a user reached the item they consumed: the feed, a followed creator, search,
#: or the watch-next list of the item just consumed (autoplay).
CHANNELS: tuple[str, ...] = ("recommended", "follow", "search", "watch_next")
RECOMMENDED, FOLLOW, SEARCH, WATCH_NEXT = range(4)
