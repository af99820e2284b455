"""Finding plugins by name: built-ins, installed plugins, import paths.

Third-party packages register recommenders under the entry-point group
``ampaudit.recommenders`` and interventions under ``ampaudit.interventions``::

    [project.entry-points."ampaudit.recommenders"]
    myrec = "mypackage.recs:MyRecommender"

    [project.entry-points."ampaudit.interventions"]
    mycap = "mypackage.interventions:MyCapIntervention"

and are then usable as ``ampaudit run recommender=plugin recommender.name=myrec``
and ``ampaudit check-recommender myrec``; ``ampaudit run 'interventions=[mycap]'``
and ``ampaudit check-intervention mycap``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from ampaudit.core.errors import ConfigError
from ampaudit.interventions import INTERVENTIONS
from ampaudit.recommenders import REGISTRY

__all__ = [
    "ENTRY_POINT_GROUP",
    "INTERVENTION_ENTRY_POINT_GROUP",
    "INTERVENTION_PLUGIN_TARGET",
    "PLUGIN_TARGET",
    "describe_system",
    "installed_interventions",
    "installed_plugins",
    "load_intervention",
    "load_recommender",
    "recommender_name",
    "resolve_intervention",
    "resolve_recommender",
    "spec_value",
    "system_label",
    "system_tags",
]

ENTRY_POINT_GROUP = "ampaudit.recommenders"
INTERVENTION_ENTRY_POINT_GROUP = "ampaudit.interventions"
#: The ``_target_`` of ``configs/recommender/plugin.yaml`` (:func:`load_recommender`).
PLUGIN_TARGET = f"{__name__}.load_recommender"
#: The ``_target_`` of an installed intervention plugin's config (:func:`load_intervention`).
INTERVENTION_PLUGIN_TARGET = f"{__name__}.load_intervention"
#: ``host:port`` without a scheme: a service URL, not ``module:Class``.
_HOST_PORT = re.compile(r"(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}(/.*)?")


def installed_plugins(group: str = ENTRY_POINT_GROUP) -> dict[str, Any]:
    """Entry points of ``group`` (default: ``ampaudit.recommenders``), by name."""
    return {ep.name: ep for ep in entry_points(group=group)}


def installed_interventions() -> dict[str, Any]:
    """Entry points of the ``ampaudit.interventions`` group, by name.

    A plugin named like a built-in is shadowed by the built-in and not listed.
    """
    plugins = installed_plugins(INTERVENTION_ENTRY_POINT_GROUP)
    return {name: ep for name, ep in plugins.items() if name not in INTERVENTIONS}


def _import_target(target: str) -> Any | None:
    """The object ``package.module:Class`` or ``package.module.Class`` names (None: not a path)."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not (module_name and attr):
        return None
    return getattr(importlib.import_module(module_name), attr)


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
    if target not in plugins and _HOST_PORT.fullmatch(target):
        raise ConfigError("recommender", target, f"a service URL with its scheme: http://{target}")
    return _resolve("recommender", target, REGISTRY, plugins)


def _resolve(
    kind: str, target: str, builtins: Mapping[str, Any], plugins: Mapping[str, Any]
) -> Any:
    """A built-in, an installed plugin's entry point, or an import path, in that order."""
    if target in builtins:
        return builtins[target]
    if target in plugins:
        return plugins[target].load()
    try:
        found = _import_target(target)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(kind, target, f"an importable class ({exc})") from exc
    if found is not None:
        return found
    known = ", ".join([*builtins, *plugins])
    raise ConfigError(kind, target, f"a built-in or plugin name ({known}) or an import path")


def load_recommender(name: str, params: dict[str, Any] | None = None) -> Any:
    """Build an installed plugin (or any resolvable target) with ``params``.

    The Hydra target of ``configs/recommender/plugin.yaml``.
    """
    return resolve_recommender(name)(**dict(params or {}))


def resolve_intervention(target: str) -> Any:
    """Return the intervention class that ``target`` names.

    ``target`` is a built-in name (``downrank``), an installed plugin's entry-point
    name (group ``ampaudit.interventions``), or an import path
    (``package.module:Class`` or ``package.module.Class``).

    Raises
    ------
    ConfigError
        Naming what was looked for and every built-in and installed plugin.

    Examples
    --------
    >>> resolve_intervention("downrank").__name__
    'DownrankIntervention'
    """
    return _resolve("intervention", target, INTERVENTIONS, installed_interventions())


def load_intervention(name: str, params: dict[str, Any] | None = None) -> Any:
    """Build the intervention ``name`` (see :func:`resolve_intervention`) with ``params``.

    The Hydra target of an installed intervention plugin's config, which
    :func:`ampaudit.config.register_configs` adds to the ``interventions`` group
    under the plugin's entry-point name.
    """
    return resolve_intervention(name)(**dict(params or {}))


def describe_system(spec: Any) -> dict[str, str]:
    """Who an audit of the recommender config ``spec`` audits, for tags and reports.

    Evidence is matched by this identity, so two systems audited in one experiment
    never share a report: a built-in by its name and ampaudit's version, a plugin by
    its entry-point name, distribution and version, a class by its import path and
    distribution, a service by the ``name``/``version`` it declares and its URL.

    Parameters
    ----------
    spec : mapping or dataclass
        A recommender config (``_target_`` and the constructor's parameters).

    Returns
    -------
    dict of str to str
        ``kind`` (``built-in``, ``plugin``, ``class`` or ``remote``), ``name``,
        ``distribution`` and ``version`` where known, ``url`` for a service.

    Examples
    --------
    >>> from ampaudit.recommenders import PopularityRecommenderConf
    >>> describe_system(PopularityRecommenderConf())["kind"]
    'built-in'
    """
    target = str(spec_value(spec, "_target_"))
    if target == PLUGIN_TARGET:
        name = str(spec_value(spec, "name"))
        if name in REGISTRY:
            return _ampaudit_system(name)
        if name.startswith(("http://", "https://")):
            from ampaudit.recommenders import RemoteRecommender

            return RemoteRecommender(url=name).describe()
        plugin = installed_plugins().get(name)
        if plugin is not None:
            dist = plugin.dist
            return {
                "kind": "plugin",
                "name": name,
                "entry_point": plugin.value,
                "distribution": dist.name if dist is not None else "unknown",
                "version": dist.version if dist is not None else "unknown",
            }
        return _class_system(name.replace(":", "."))
    from ampaudit.recommenders import CONFS

    if target == CONFS["remote"]._target_:
        from hydra.utils import instantiate

        return instantiate(spec).describe()  # with the config's timeout and retries
    name = recommender_name(spec)
    return _ampaudit_system(name) if name in CONFS else _class_system(target)


def spec_value(spec: Any, key: str) -> Any:
    """A field of a recommender config: a mapping (``DictConfig``, dict) or a dataclass.

    Examples
    --------
    >>> from ampaudit.recommenders import PopularityRecommenderConf
    >>> spec_value({"name": "x"}, "name"), spec_value(PopularityRecommenderConf(), "window")
    ('x', 10)
    """
    return spec.get(key) if hasattr(spec, "get") else getattr(spec, key, None)


def recommender_name(spec: Any) -> str:
    """Short name of a recommender config: its registry name, a plugin's, else its class's.

    Examples
    --------
    >>> recommender_name({"_target_": PLUGIN_TARGET, "name": "freshpop"})
    'freshpop'
    >>> recommender_name({"_target_": "mypackage.recs.RecencyBoostRecommender"})
    'RecencyBoostRecommender'
    """
    from ampaudit.recommenders import CONFS

    target = str(spec_value(spec, "_target_"))
    if target == PLUGIN_TARGET:
        return str(spec_value(spec, "name"))
    for name, conf in CONFS.items():
        if conf._target_ == target:
            return name
    return target.rsplit(".", 1)[-1]


def system_label(system: dict[str, str]) -> str:
    """One line naming an audited system (also the key evidence is matched on).

    Examples
    --------
    >>> system_label({"kind": "plugin", "name": "fresh", "distribution": "acme", "version": "1"})
    'plugin fresh (acme 1)'
    >>> system_label({"kind": "remote", "name": "ranker", "version": "3", "url": "http://h:1"})
    'service ranker 3 at http://h:1'
    """
    if system.get("kind") == "remote":
        return f"service {system['name']} {system['version']} at {system['url']}"
    made_by = f"{system.get('distribution')} {system.get('version')}"
    return f"{system.get('kind')} {system.get('name')} ({made_by})"


def _ampaudit_system(name: str) -> dict[str, str]:
    from ampaudit import __version__

    return {"kind": "built-in", "name": name, "distribution": "ampaudit", "version": __version__}


def _class_system(path: str) -> dict[str, str]:
    """A class by import path: its distribution is looked up, the module is not imported."""
    from importlib.metadata import packages_distributions, version

    top = path.split(".", 1)[0]
    dists = packages_distributions().get(top, [])
    dist = dists[0] if dists else "unknown"
    try:
        ver = version(dist) if dists else "unknown"
    except Exception:  # metadata without a version
        ver = "unknown"
    return {"kind": "class", "name": path, "distribution": dist, "version": ver}


def system_tags(spec: Any) -> dict[str, str]:
    """MLflow tags naming the system a recommender config audits.

    ``system`` is :func:`system_label` (reports match evidence on it); the fields of
    :func:`describe_system` follow as ``system.<field>``.
    """
    system = describe_system(spec)
    return {"system": system_label(system), **{f"system.{k}": v for k, v in system.items()}}
