"""Finding recommenders by name: built-ins, installed plugins, import paths.

Third-party packages register recommenders under the entry-point group
``ampaudit.recommenders``::

    [project.entry-points."ampaudit.recommenders"]
    myrec = "mypackage.recs:MyRecommender"

and are then usable as ``ampaudit run recommender=plugin recommender.name=myrec``
and ``ampaudit check-recommender myrec``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ampaudit.core.errors import ConfigError
from ampaudit.recommenders import REGISTRY

__all__ = ["ENTRY_POINT_GROUP", "installed_plugins", "load_recommender", "resolve_recommender"]

ENTRY_POINT_GROUP = "ampaudit.recommenders"


def installed_plugins() -> dict[str, Any]:
    """Entry points of the ``ampaudit.recommenders`` group, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_recommender(target: str) -> Any:
    """Return the recommender class (or factory) that ``target`` names.

    ``target`` is a built-in name (``popularity``), an installed plugin's entry-point
    name, an import path (``package.module:Class`` or ``package.module.Class``), or
    the URL of a recommender service (an adapter factory is returned).

    Raises
    ------
    ConfigError
        Naming what was looked for and what exists.
    """
    if target in REGISTRY:
        return REGISTRY[target]
    if target.startswith(("http://", "https://")):
        from functools import partial

        from ampaudit.recommenders import RemoteRecommender

        return partial(RemoteRecommender, url=target)
    plugins = installed_plugins()
    if target in plugins:
        return plugins[target].load()
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if module_name and attr:
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError("recommender", target, f"an importable class ({exc})") from exc
    known = ", ".join([*REGISTRY, *plugins])
    raise ConfigError(
        "recommender", target, f"a built-in or plugin name ({known}) or an import path"
    )


def load_recommender(name: str, params: dict[str, Any] | None = None) -> Any:
    """Build an installed plugin (or any resolvable target) with ``params``.

    The Hydra target of ``configs/recommender/plugin.yaml``.
    """
    return resolve_recommender(name)(**dict(params or {}))
