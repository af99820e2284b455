"""Structured configs (Hydra/OmegaConf dataclasses) and up-front validation.

Hydra checks types when it composes the config; :func:`validate` checks ranges and
plugin parameters before any work starts, raising one :class:`ConfigError` that
names the field, the value and what is allowed.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field, is_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.dynamics import DynamicsConf
from ampaudit.recommenders import CONFS, REGISTRY, PeopleRecommenderConf
from ampaudit.sensitivity.conf import SensitivityConf
from ampaudit.simulations import BehaviorConf, GraphConf, WorldConf
from ampaudit.sockpuppet import SockPuppetConf

__all__ = [
    "AuditSection",
    "RunConf",
    "TrackingConf",
    "check_intervention_params",
    "check_recommender_params",
    "compose_conf",
    "make_intervention",
    "register_configs",
    "validate",
]

#: Audit modes.
MODES = ("compare", "sock_puppet", "compare+sock_puppet", "dynamics")

#: Named control baselines: any built-in recommender, or ``none`` (no feed).
CONTROLS = ("none", *REGISTRY)


@dataclass
class AuditSection:
    """How the audit is run.

    Parameters
    ----------
    n_steps : int, default=100
        Horizon in steps.
    replicates : int, default=8
        Independent worlds (replicate ``r`` uses ``spawn_key=(r,)``). The default comes
        from a measured power analysis of the default audit (``benchmarks/power.py``).
    control : str, default="chronological"
        The counterfactual baseline arm: a built-in recommender name or ``none``.
    slate_size : int, default=10
        Items shown per feed (``k``).
    n_candidates : int, default=20
        Items requested from the recommender before slate-stage cuts.
    confidence : float, default=0.95
        Level of the confidence intervals over replicates.
    progress : bool, default=True
        Show a progress bar on a terminal.
    target_ci : float, default=0.0
        If positive, keep adding replicates after ``replicates`` until the CI of the
        paired difference treatment − control of ``target_metric`` has at most this
        half-width, or ``max_replicates`` is reached.
    target_metric : str, default="radicalised"
    max_replicates : int, default=20
    export_log : bool, default=False
        Keep every impression and store the run as a platform-style impression log
        (``impressions.parquet``, ``items.parquet``, ``users.parquet`` artifacts), the
        input of ``ampaudit audit-log``.
    mode : {"compare", "sock_puppet", "compare+sock_puppet", "dynamics"}, default="compare"
        ``compare`` runs control and treatment arms on a population;
        ``sock_puppet`` walks scripted accounts through the recommender;
        ``compare+sock_puppet`` does both in one run, and the panel report of the
        comparison holds the walks (one command from a recommender to a report);
        ``dynamics`` runs opinion dynamics alone, with no recommender and no
        content (the ``dynamics`` section; :mod:`ampaudit.dynamics`).
    sock_puppet : SockPuppetConf
        Settings of the sock-puppet mode.
    report : bool, default=True
        When tracking is on, write the panel report (``ampaudit report``) into the
        job's output folder and the parent run's artifacts once the audit finishes.
    """

    n_steps: int = 100
    replicates: int = 8
    control: str = "chronological"
    slate_size: int = 10
    n_candidates: int = 20
    confidence: float = 0.95
    progress: bool = True
    export_log: bool = False
    target_ci: float = 0.0
    target_metric: str = "radicalised"
    max_replicates: int = 20
    mode: str = "compare"
    sock_puppet: SockPuppetConf = field(default_factory=SockPuppetConf)
    report: bool = True


@dataclass
class TrackingConf:
    """Where results go.

    Parameters
    ----------
    uri : str, default="sqlite:///mlflow.db"
        MLflow tracking URI; a relative SQLite path is resolved against the working
        directory. ``http://host:port`` logs to an ``mlflow server``.
    experiment : str, default="ampaudit"
        MLflow experiment name.
    enabled : bool, default=True
        Set false to skip MLflow (results are then only printed).
    skip_finished : bool, default=True
        With a fixed ``seed``, an audit whose resolved config already has a FINISHED
        parent run in the experiment is not run again (sweeps resume); set false
        (``tracking.skip_finished=false``) to force a rerun.
    """

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "ampaudit"
    enabled: bool = True
    skip_finished: bool = True


@dataclass
class RunConf:
    """The whole resolved configuration of one audit."""

    world: WorldConf = field(default_factory=WorldConf)
    graph: GraphConf = field(default_factory=GraphConf)
    behavior: BehaviorConf = field(default_factory=BehaviorConf)
    recommender: Any = MISSING
    people: PeopleRecommenderConf = field(default_factory=PeopleRecommenderConf)
    interventions: dict[str, Any] = field(default_factory=dict)
    audit: AuditSection = field(default_factory=AuditSection)
    #: Opinion dynamics alone (``audit.mode=dynamics``).
    dynamics: DynamicsConf = field(default_factory=DynamicsConf)
    tracking: TrackingConf = field(default_factory=TrackingConf)
    seed: Optional[int] = None  # noqa: UP045 - OmegaConf 2.3 does not read `int | None`
    #: Set by ``sensitivity=default`` (``ampaudit sensitivity``); None for a plain audit.
    sensitivity: Optional[SensitivityConf] = None  # noqa: UP045


def register_configs() -> None:
    """Register the schema and every plugin's config dataclass with Hydra."""
    cs = ConfigStore.instance()
    cs.store(name="ampaudit_schema", node=RunConf)
    from ampaudit.interventions import CONFS as INTERVENTION_CONFS
    from ampaudit.plugins import INTERVENTION_PLUGIN_TARGET, installed_interventions

    for name, conf in INTERVENTION_CONFS.items():
        cs.store(group="schema/interventions", name=name, node=conf)
    # installed plugins are options of the group like the built-ins' YAML files:
    # `interventions=[downrank,myplugin]`, `+interventions.myplugin.params.x=1`
    for name in installed_interventions():
        node = {"_target_": INTERVENTION_PLUGIN_TARGET, "name": name, "params": {}}
        cs.store(group="interventions", name=name, node={name: node})
    for name, conf in CONFS.items():
        cs.store(group="schema/recommender", name=name, node=conf)


def compose_conf(overrides: Sequence[str] = ()) -> RunConf:
    """The validated :class:`RunConf` that ``ampaudit run OVERRIDES...`` would run.

    Composes the packaged Hydra config tree (``configs/``) in-process, so scripts and
    tests audit exactly the default world the CLI does.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, e.g. ``["tracking=none", "audit.replicates=2"]``.

    Raises
    ------
    ConfigError
        For the first invalid field (see :func:`validate`), or an override Hydra cannot
        apply (an unknown key, a value of the wrong type).
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    try:
        with initialize_config_module("ampaudit.configs", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
        conf: RunConf = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except MissingConfigException as exc:
        group, _, option = str(exc.missing_cfg_file or "").rpartition("/")
        options = group_options(group) if group else []
        if not options:
            raise ConfigError("overrides", " ".join(overrides), f"valid overrides ({exc})") from exc
        raise ConfigError(group, option, f"one of {', '.join(options)}") from exc
    except (HydraException, OmegaConfBaseException) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError("overrides", " ".join(overrides), f"valid overrides ({message})") from exc
    validate(conf)
    return conf


def group_options(group: str) -> list[str]:
    """Options of config group ``group``: its packaged YAML files and registered configs.

    For ``interventions``, the built-ins and every installed plugin
    (:func:`register_configs` adds those).

    Examples
    --------
    >>> "downrank" in group_options("interventions")
    True
    """
    from importlib.resources import files

    folder = files("ampaudit.configs").joinpath(group)
    entries = folder.iterdir() if folder.is_dir() else ()
    names = {p.name.removesuffix(".yaml") for p in entries if p.name.endswith(".yaml")}
    try:
        stored = ConfigStore.instance().list(group)
    except OSError:  # no such group in the store
        stored = []
    names.update(name.removesuffix(".yaml") for name in stored)
    return sorted(names)


def validate(conf: RunConf) -> None:
    """Check every field's range and build the plugins once, before any work.

    Raises
    ------
    ConfigError
        For the first invalid field.
    """
    conf.world.validate()
    conf.graph.validate(conf.world.n_users)
    conf.behavior.validate()
    a = conf.audit
    check_range("audit.n_steps", a.n_steps, low=1)
    check_range("audit.replicates", a.replicates, low=1)
    check_range("audit.slate_size", a.slate_size, low=1, high=conf.world.n_items)
    check_range("audit.n_candidates", a.n_candidates, low=a.slate_size)
    check_range("audit.confidence", a.confidence, low=0, high=1, low_open=True, high_open=True)
    check_range("audit.target_ci", a.target_ci, low=0)
    check_range("audit.max_replicates", a.max_replicates, low=a.replicates)
    if a.mode not in MODES:
        raise ConfigError("audit.mode", a.mode, f"one of {', '.join(MODES)}")
    if "sock_puppet" in a.mode:
        a.sock_puppet.validate()
        if conf.world.source == "file" and a.sock_puppet.taste != "population":
            from ampaudit.simulations.worldfile import load_world_arrays

            if "utility" in load_world_arrays(conf.world.path):
                # a puppet's utilities must be a row of the world's matrix
                raise ConfigError(
                    "audit.sock_puppet.taste",
                    a.sock_puppet.taste,
                    "population (the world file gives a utility matrix: a puppet copies "
                    "a real user's row)",
                )
    if a.mode == "dynamics":
        conf.dynamics.validate()
    if a.control not in CONTROLS:
        raise ConfigError("audit.control", a.control, f"one of {', '.join(CONTROLS)}")
    if conf.seed is not None:
        check_range("seed", conf.seed, low=0)
    if conf.sensitivity is not None:
        conf.sensitivity.validate()
    for name, spec in conf.interventions.items():
        make_intervention(name, spec)
    make_people(conf.people)
    make_recommender(conf.recommender, dry_run=True)


def make_intervention(name: str, spec: Any) -> Any:
    """Build intervention ``name`` from its config and check its parameters now.

    ``spec`` is a config with ``_target_`` (a built-in's dataclass, any importable
    class with its parameters) or an installed plugin's
    (``_target_: ampaudit.plugins.load_intervention``, ``name``, ``params``).

    Raises
    ------
    ConfigError
        Naming the field: an unknown plugin, a parameter the constructor does not
        take, a value ``check_params`` refuses.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from ampaudit.plugins import INTERVENTION_PLUGIN_TARGET, resolve_intervention, spec_value

    if spec_value(spec, "_target_") == INTERVENTION_PLUGIN_TARGET:
        plugin = str(spec_value(spec, "name"))
        try:
            resolve_intervention(plugin)
        except ConfigError as exc:
            raise ConfigError(f"interventions.{name}.name", plugin, exc.allowed) from exc
    check_intervention_params(name, spec)
    try:
        intervention = instantiate(spec)
    except InstantiationException as exc:
        raise ConfigError(f"interventions.{name}", spec, f"a valid intervention ({exc})") from exc
    intervention.name = name
    intervention.check_params()
    return intervention


def make_people(spec: Any) -> Any:
    """The people recommender of ``spec``, or ``None`` for plain graph neighbours."""
    from hydra.utils import instantiate

    people = instantiate(spec)
    people.check_params()
    return None if people.mode == "graph" else people


def make_recommender(spec: Any, *, dry_run: bool = False) -> Any:
    """Instantiate a recommender from its config (``_target_`` + constructor arguments).

    With ``dry_run``, also fit it once on a tiny platform so parameter errors
    surface now, reported against the ``recommender.<param>`` field.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from ampaudit.plugins import spec_value

    target = spec_value(spec, "_target_")
    check_recommender_params(spec)
    try:
        rec = instantiate(spec)
    except InstantiationException as exc:
        raise ConfigError(
            "recommender._target_", target, f"an importable recommender ({exc})"
        ) from exc
    if dry_run:
        from ampaudit.recommenders.testing import toy_platform

        try:
            rec.fit(toy_platform())
        except ConfigError as exc:
            field_name = "recommender." + exc.field.rsplit(".", 1)[-1]
            raise ConfigError(field_name, exc.value, exc.allowed) from exc
    return rec


#: Keys of a config node that Hydra reads itself instead of passing to the target.
_HYDRA_KEYS = frozenset({"_target_", "_args_", "_recursive_", "_convert_", "_partial_"})


def _items(node: Any) -> dict[str, Any]:
    """The keys and values of a config node: a dataclass (with any extra keys) or a mapping."""
    if node is None:
        return {}
    if is_dataclass(node):
        return dict(vars(node))  # OmegaConf keeps keys added with ``+key=`` as attributes
    return {str(k): v for k, v in node.items()}


def check_recommender_params(spec: Any) -> None:
    """Check the recommender config's parameter names against the constructor's signature.

    Without this, a misspelt parameter surfaces as Hydra's instantiation error and is
    reported against ``recommender._target_``. The plugin config's parameters live
    under ``recommender.params``; any other config passes its keys to ``_target_``.
    Constructors that take ``**kwargs`` are not checked, nor targets that cannot be
    resolved (instantiation reports those).

    Raises
    ------
    ConfigError
        For the first parameter the constructor does not take, named by its field.
    """
    from ampaudit.plugins import load_recommender, resolve_recommender

    _check_constructor_params(spec, "recommender", load_recommender, resolve_recommender)


def check_intervention_params(name: str, spec: Any) -> None:
    """Check intervention ``name``'s parameter names against its constructor's signature.

    As :func:`check_recommender_params`, for the config ``interventions.<name>``
    (an installed plugin's parameters live under ``interventions.<name>.params``).

    Raises
    ------
    ConfigError
        For the first parameter the constructor does not take, named by its field.
    """
    from ampaudit.plugins import load_intervention, resolve_intervention

    _check_constructor_params(
        spec, f"interventions.{name}", load_intervention, resolve_intervention
    )


def _check_constructor_params(spec: Any, field_name: str, loader: Any, resolve: Any) -> None:
    """Parameters of config ``field_name`` that its class's constructor does not take."""
    from hydra.utils import get_object

    items = _items(spec)
    target = items.get("_target_")
    if not isinstance(target, str):
        return
    try:
        if get_object(target) is loader:
            cls = resolve(str(items.get("name")))
            prefix, params = f"{field_name}.params.", _items(items.get("params"))
        else:
            cls = get_object(target)
            prefix = f"{field_name}."
            params = {k: v for k, v in items.items() if k not in _HYDRA_KEYS}
        signature = inspect.signature(cls)
    except (ConfigError, ImportError, AttributeError, TypeError, ValueError):
        return
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [k for k, p in signature.parameters.items() if p.kind in named]
    # a URL target resolves to functools.partial(RemoteRecommender, url=...)
    name = getattr(cls, "__name__", None) or getattr(getattr(cls, "func", None), "__name__", "")
    for key, value in params.items():
        if key not in accepted:
            allowed = ", ".join(accepted) if accepted else "(none)"
            raise ConfigError(prefix + key, value, f"a parameter of {name}: {allowed}")
