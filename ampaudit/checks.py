"""The public conformance suite for recommenders (like scikit-learn's estimator checks).

:func:`check_recommender` runs every named check on a recommender (an instance or
a class) against small synthetic platforms and returns one :class:`CheckResult`
per check. ``tests/test_common.py`` runs it over every built-in;
``ampaudit check-recommender TARGET`` runs it on anything importable.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np

from ampaudit.core.intervention import ACTION_KINDS, PlatformView, UndeclaredActionError
from ampaudit.core.intervention import HOOKS as INTERVENTION_HOOKS
from ampaudit.core.intervention import Intervention as InterventionProtocol
from ampaudit.core.platform import InteractionLog, ItemView, PlatformData, StepBatch
from ampaudit.core.protocols import offers
from ampaudit.core.ranking import has_repeats
from ampaudit.recommenders.testing import toy_platform

__all__ = [
    "CHECKS",
    "INTERVENTION_CHECKS",
    "CheckFailure",
    "CheckResult",
    "SkipCheck",
    "check_intervention",
    "check_recommender",
    "iter_checks",
]

N = 6  # recommendations requested per user
USERS = np.array([0, 3, 5, 7])


class SkipCheck(Exception):  # noqa: N818 - reads as an action, like unittest.SkipTest
    """Raised by a check that does not apply to this recommender."""


@dataclass
class CheckResult:
    """Outcome of one check.

    Attributes
    ----------
    name : str
    status : {"pass", "fail", "skip"}
    message : str
        Why it failed or was skipped (empty on pass).
    """

    name: str
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        """True unless the check failed."""
        return self.status != "fail"


class CheckFailure(AssertionError):  # noqa: N818 - a check outcome, like SkipCheck
    """A conformance check found a violation (raised even under ``python -O``)."""


def _require(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailure(message)


def _platform(seed: int = 0) -> PlatformData:
    """A 8-user, 30-item platform with some items removed."""
    data = toy_platform(n_users=8, n_items=30, n_dims=4, seed=seed)
    data.items.available[[2, 11, 17]] = False
    return data


def _fresh(rec: Any) -> Any:
    return copy.deepcopy(rec)


def _recommend(rec: Any, users: np.ndarray = USERS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return rec.recommend(users.copy(), N, rng=np.random.default_rng(seed))


def _shown(row: np.ndarray) -> np.ndarray:
    return row[row >= 0]


# -- the checks (each raises AssertionError or SkipCheck) ------------------------


def check_protocol(rec: Any) -> None:
    """Has ``fit``, ``recommend``, an int ``retrain_every`` >= 1 and a bool ``privileged``."""
    for name in ("fit", "recommend"):
        _require(callable(getattr(rec, name, None)), f"no {name}() method")
    every = getattr(rec, "retrain_every", None)
    _require(isinstance(every, int) and every >= 1, f"retrain_every={every!r}, need an int >= 1")
    _require(isinstance(getattr(rec, "privileged", None), bool), "privileged must be a bool")


def check_fit_returns_self(rec: Any) -> None:
    """``fit(data)`` returns the recommender itself."""
    _require(rec.fit(_platform()) is rec, "fit() must return self")


def check_output_shapes_and_dtypes(rec: Any) -> None:
    """``recommend`` returns int64 ids and float32 scores of shape ``(len(users), n)``."""
    items, scores = _recommend(rec.fit(_platform()))
    _require(
        items.shape == (len(USERS), N), f"items shape {items.shape}, expected {(len(USERS), N)}"
    )
    _require(scores.shape == items.shape, f"scores shape {scores.shape} != items shape")
    _require(items.dtype == np.int64, f"items dtype {items.dtype}, expected int64")
    _require(scores.dtype == np.float32, f"scores dtype {scores.dtype}, expected float32")


def check_ids_in_range(rec: Any) -> None:
    """Every id is -1 (padding) or a visible item."""
    data = _platform()
    items, _ = _recommend(rec.fit(data))
    bad = items[(items < -1) | (items >= data.n_items)]
    _require(bad.size == 0, f"ids outside -1..{data.n_items - 1}: {sorted(set(bad.tolist()))[:5]}")


def check_padding_at_end(rec: Any) -> None:
    """Padding (-1) only after every real recommendation of a row."""
    items, _ = _recommend(rec.fit(_platform()))
    for u, row in zip(USERS, items, strict=True):
        n = len(_shown(row))
        _require(
            (row[:n] >= 0).all() and (row[n:] == -1).all(), f"user {u}: holes in {row.tolist()}"
        )


def check_no_duplicates(rec: Any) -> None:
    """No item twice in one user's list."""
    items, _ = _recommend(rec.fit(_platform()))
    for u, row in zip(USERS, items, strict=True):
        shown = _shown(row)
        _require(len(set(shown.tolist())) == len(shown), f"user {u} got repeats: {row.tolist()}")


def check_no_unavailable(rec: Any) -> None:
    """Removed items are never recommended."""
    data = _platform()
    items, _ = _recommend(rec.fit(data))
    removed = np.flatnonzero(~data.items.available)
    hit = np.intersect1d(items, removed)
    _require(hit.size == 0, f"recommended removed items {hit.tolist()}")


def check_no_consumed(rec: Any) -> None:
    """Items a user already consumed are not recommended (unless ``exclude_consumed=False``)."""
    if getattr(rec, "exclude_consumed", True) is False:
        raise SkipCheck("exclude_consumed=False: repeats are allowed by configuration")
    data = _platform()
    items, _ = _recommend(rec.fit(data))
    consumed = data.consumed()
    for u, row in zip(USERS, items, strict=True):
        seen = np.intersect1d(_shown(row), consumed[u].indices)
        _require(seen.size == 0, f"user {u} was recommended consumed items {seen.tolist()}")


def check_same_rng_same_output(rec: Any) -> None:
    """The same generator seed gives the same recommendations."""
    rec.fit(_platform())
    a, sa = _recommend(rec, seed=7)
    b, sb = _recommend(rec, seed=7)
    _require(np.array_equal(a, b) and np.array_equal(sa, sb), "same rng seed, different output")


def check_does_not_mutate_inputs(rec: Any) -> None:
    """Neither ``fit`` nor ``recommend`` changes the platform data or the users array."""
    data = _platform()
    arrays = {
        "features": data.items.features,
        "created": data.items.created,
        "creator": data.items.creator,
        "score": data.items.score,
        "available": data.items.available,
        "log.users": data.log.users,
        "log.items": data.log.items,
        "follows": data.follows.toarray(),
    }
    before = {k: v.copy() for k, v in arrays.items()}
    users = USERS.copy()
    rec.fit(data)
    rec.recommend(users, N, rng=np.random.default_rng(0))
    _require(np.array_equal(users, USERS), "recommend() changed the users array")
    now = {**arrays, "follows": data.follows.toarray()}
    for key, value in before.items():
        _require(np.array_equal(now[key], value), f"the platform's {key} was modified")


def check_fit_idempotent(rec: Any) -> None:
    """Fitting twice on the same data gives the same recommendations as fitting once."""
    data = _platform()
    once, _ = _recommend(_fresh(rec).fit(data))
    twice_rec = _fresh(rec).fit(data)
    twice, _ = _recommend(twice_rec.fit(data))
    _require(np.array_equal(once, twice), "a second fit on the same data changed the output")


def check_empty_log(rec: Any) -> None:
    """Fits on a platform with no interactions yet and still recommends valid items."""
    data = _platform()
    data.log = InteractionLog(data.n_users)
    items, _ = _recommend(rec.fit(data))
    _require(items.shape == (len(USERS), N), "bad shape on an empty log")
    _require(((items >= -1) & (items < data.n_items)).all(), "bad ids on an empty log")


def check_cold_start_user(rec: Any) -> None:
    """A user with no history gets a valid list (ids in range, no repeats, nothing removed)."""
    data = _platform()
    keep = data.log.users != 7
    log = InteractionLog(data.n_users)
    log.append(data.log.users[keep], data.log.items[keep], 0, data.log.channels[keep])
    data.log = log
    items, _ = _recommend(rec.fit(data), users=np.array([7]))
    shown = _shown(items[0])
    _require(len(set(shown.tolist())) == len(shown), "cold-start user got repeats")
    _require(data.items.available[shown].all(), "cold-start user got removed items")


def check_batch_consistency(rec: Any) -> None:
    """Deterministic recommenders give each user the same list alone as in a batch."""
    if getattr(rec, "stochastic", False):
        raise SkipCheck("stochastic recommender: per-user lists depend on the batch's draws")
    rec.fit(_platform())
    batch, _ = _recommend(rec)
    for i, u in enumerate(USERS):
        alone, _ = _recommend(rec, users=np.array([u]))
        _require(
            np.array_equal(alone[0], batch[i]), f"user {u}: alone {alone[0]} vs batch {batch[i]}"
        )


def check_observe(rec: Any) -> None:
    """``observe`` (if offered) takes a step's impressions and clicks; ``recommend`` still works."""
    data = _platform()
    rec.fit(data)
    if not offers(rec, "observe"):
        raise SkipCheck("no observe() method (optional)")
    items, _ = _recommend(rec)
    rec.observe(
        StepBatch(data=data, users=USERS.copy(), slates=items, clicked=np.array([0, -1, 1, -1]))
    )
    after, _ = _recommend(rec)
    _require(after.shape == items.shape, "recommend() broke after observe()")


def _next_step(data: PlatformData, slates: np.ndarray) -> tuple[PlatformData, np.ndarray]:
    """The platform one step after ``data``, and the slate position each user clicked.

    Built from fresh arrays (``data`` stays as it was fitted), as the simulator's next
    step would be: the first item of each slate is removed, each user consumes the
    first other item of their slate, and three new items appear.
    """
    removed = np.unique(slates[:, 0][slates[:, 0] >= 0])
    clicked = np.full(len(slates), -1, dtype=np.int64)
    for i, row in enumerate(slates):
        # a consumed item that was not also removed, so each rule is tested on its own
        fresh = np.flatnonzero((row >= 0) & ~np.isin(row, removed))
        if fresh.size:
            clicked[i] = fresh[0]
    rows = np.flatnonzero(clicked >= 0)
    n_new, old, step = 3, data.items, data.step + 1
    n_creators = data.follows.shape[1]
    rng = np.random.default_rng(1)
    features = rng.standard_normal((n_new, old.features.shape[1])).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    available = np.concatenate([old.available, np.ones(n_new, dtype=bool)])
    available[removed] = False
    items = ItemView(
        features=np.concatenate([old.features, features]),
        created=np.concatenate([old.created, np.full(n_new, step, dtype=old.created.dtype)]),
        creator=np.concatenate(
            [old.creator, np.arange(n_new, dtype=old.creator.dtype) % n_creators]
        ),
        score=np.concatenate([old.score, rng.random(n_new).astype(old.score.dtype)]),
        available=available,
    )
    log = InteractionLog(data.n_users)
    for s in np.unique(data.log.steps):  # the old events, then this step's
        at = data.log.steps == s
        log.append(data.log.users[at], data.log.items[at], int(s), data.log.channels[at])
    log.append(USERS[rows], slates[rows, clicked[rows]], step, np.zeros(len(rows), dtype=np.int8))
    oracle = None
    if data.oracle is not None:
        old_oracle, n_items = data.oracle, len(items)

        def oracle(users: np.ndarray) -> np.ndarray:
            utility = np.zeros((len(users), n_items), dtype=np.float32)
            utility[:, : old.features.shape[0]] = old_oracle(users)
            return utility

    nxt = PlatformData(
        step=step,
        n_users=data.n_users,
        items=items,
        log=log,
        follows=data.follows.copy(),
        social=None if data.social is None else data.social.copy(),
        oracle=oracle,
    )
    return nxt, clicked


def check_observe_keeps_state_fresh(rec: Any) -> None:
    """After ``observe`` of the next step, items removed or consumed since ``fit`` are not shown.

    The simulator refits only every ``retrain_every`` steps but calls ``observe`` after
    every step, so between refits ``batch.data`` is the only fresh platform view.
    """
    data = _platform()
    rec.fit(data)
    if not offers(rec, "observe"):
        raise SkipCheck("no observe() method (optional)")
    slates, _ = _recommend(rec)
    nxt, clicked = _next_step(data, slates)
    rec.observe(StepBatch(data=nxt, users=USERS.copy(), slates=slates, clicked=clicked))
    after, _ = _recommend(rec)
    hint = "observe() must keep batch.data (ScoringRecommender: call super().observe(batch))"
    hit = np.intersect1d(_shown(after.ravel()), np.flatnonzero(~nxt.items.available))
    _require(hit.size == 0, f"recommended items removed since fit {hit.tolist()}; {hint}")
    if getattr(rec, "exclude_consumed", True) is False:
        return  # repeats are allowed by configuration (as in check_no_consumed)
    for i, (u, row) in enumerate(zip(USERS, after, strict=True)):
        if clicked[i] >= 0:
            item = slates[i, clicked[i]]
            _require(
                item not in _shown(row),
                f"user {u} was recommended item {item}, consumed since fit; {hint}",
            )


def check_related(rec: Any) -> None:
    """``related`` (if offered) gives ``n`` valid, distinct ids per item, never the item itself."""
    data = _platform()
    rec.fit(data)
    if not offers(rec, "related"):
        raise SkipCheck("does not offer related() (optional: watch-next lists)")
    items = np.array([0, 5, 9])
    lists = rec.related(items, 4)
    _require(np.shape(lists) == (3, 4), f"related() shape {np.shape(lists)}, expected (3, 4)")
    for item, row in zip(items, np.asarray(lists), strict=True):
        shown = _shown(row)
        _require(((row >= -1) & (row < data.n_items)).all(), f"item {item}: ids out of range")
        _require(len(set(shown.tolist())) == len(shown), f"item {item}: repeats {row.tolist()}")
        _require(item not in shown, f"item {item} is related to itself")


def _conf_class(rec: Any) -> type | None:
    module = importlib.import_module(type(rec).__module__)
    conf = getattr(module, f"{type(rec).__name__}Conf", None)
    return conf if isinstance(conf, type) and is_dataclass(conf) else None


def check_hyperparameters_stored_unchanged(rec: Any) -> None:
    """Every constructor parameter is stored as an attribute of the same name, unchanged."""
    params = inspect.signature(type(rec)).parameters
    fresh = type(rec)(**{k: getattr(rec, k) for k in params if hasattr(rec, k)})
    defaults = {k: p.default for k, p in params.items() if p.default is not p.empty}
    default = type(rec)() if defaults else None  # one default instance for every check
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        _require(hasattr(fresh, name), f"parameter {name!r} is not stored as self.{name}")
        if name in defaults:
            _require(
                getattr(default, name) == defaults[name], f"self.{name} differs from its default"
            )


def check_config_mirrors_constructor(rec: Any) -> None:
    """``<Class>Conf`` has ``_target_`` and exactly the constructor's parameters and defaults."""
    conf = _conf_class(rec)
    if conf is None:
        name, group = type(rec).__name__, "recommender" if hasattr(rec, "fit") else "interventions"
        raise SkipCheck(
            f"no {name}Conf dataclass in {type(rec).__module__} (optional: add one beside the "
            f"class, with _target_ and exactly the constructor's parameters and defaults, so "
            f"Hydra type-checks a configs/{group}/<name>.yaml for it)"
        )
    params = {k: p.default for k, p in inspect.signature(type(rec)).parameters.items()}
    conf_fields = {f.name: getattr(conf(), f.name) for f in fields(conf)}
    target = conf_fields.pop("_target_", None)
    _require(target is not None, "the config has no _target_")
    _require(
        set(conf_fields) == set(params),
        f"config fields {sorted(conf_fields)} != constructor parameters {sorted(params)}",
    )
    differ = [k for k in params if conf_fields[k] != params[k]]
    _require(not differ, f"defaults differ for {differ}")


#: Every check, in the order they run.
CHECKS: tuple[Callable[[Any], None], ...] = (
    check_protocol,
    check_fit_returns_self,
    check_output_shapes_and_dtypes,
    check_ids_in_range,
    check_padding_at_end,
    check_no_duplicates,
    check_no_unavailable,
    check_no_consumed,
    check_same_rng_same_output,
    check_does_not_mutate_inputs,
    check_fit_idempotent,
    check_empty_log,
    check_cold_start_user,
    check_batch_consistency,
    check_observe,
    check_observe_keeps_state_fresh,
    check_related,
    check_hyperparameters_stored_unchanged,
    check_config_mirrors_constructor,
)


def iter_checks(recommender: Any) -> Iterator[tuple[Any, Callable[[Any], None]]]:
    """Yield ``(fresh recommender, check)`` pairs; classes are built with defaults."""
    factory = isinstance(recommender, type) or not hasattr(recommender, "fit")
    base = recommender() if factory else recommender
    for check in CHECKS:
        yield _fresh(base), check


def run_check(rec: Any, check: Callable[[Any], None]) -> CheckResult:
    """Run one check and capture its outcome (an unexpected exception is a failure)."""
    try:
        check(rec)
    except SkipCheck as exc:
        return CheckResult(check.__name__, "skip", str(exc))
    except AssertionError as exc:
        return CheckResult(check.__name__, "fail", str(exc) or "assertion failed")
    except Exception as exc:
        return CheckResult(check.__name__, "fail", f"{type(exc).__name__}: {exc}")
    return CheckResult(check.__name__, "pass")


def check_recommender(recommender: Any) -> list[CheckResult]:
    """Run the whole conformance suite on a recommender instance or class.

    Parameters
    ----------
    recommender : object, type or callable
        An instance (deep-copied for each check), or a class or factory called with
        no arguments.

    Returns
    -------
    list of CheckResult
        One per check in :data:`CHECKS`.

    Examples
    --------
    >>> from ampaudit.recommenders import PopularityRecommender
    >>> results = check_recommender(PopularityRecommender)
    >>> all(r.passed for r in results), len(results) == len(CHECKS)
    (True, True)
    """
    return [run_check(rec, check) for rec, check in iter_checks(recommender)]


# -- interventions -----------------------------------------------------------------

HOOKS = tuple(INTERVENTION_HOOKS)


class _Spy:
    """Runs after the intervention under test and checks what it handed on."""

    name = "spy"

    def __init__(self) -> None:
        self.problems: list[str] = []

    def on_candidates(
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> None:
        if items.shape != scores.shape or len(items) != len(users):
            self.problems.append(f"on_candidates returned shapes {items.shape}/{scores.shape}")
        n = view.catalog.n_visible(view.t)
        if ((items < -1) | (items >= n)).any():
            self.problems.append("on_candidates returned ids outside the visible catalog")
        if has_repeats(items):
            self.problems.append("on_candidates put an item twice in one list")

    def on_slate(self, view: PlatformView, users: np.ndarray, slates: np.ndarray) -> None:
        if slates.shape != (len(users), view.slate_size):
            self.problems.append(f"on_slate returned shape {slates.shape}")
        if has_repeats(slates):
            self.problems.append("on_slate put an item twice in one slate")

    def on_choice(
        self, view: PlatformView, users: np.ndarray, slates: np.ndarray, utility: np.ndarray
    ) -> None:
        if utility.shape != slates.shape:
            self.problems.append(f"on_choice returned shape {utility.shape}")


def _intervention_run(intervention: Any, n_steps: int = 6) -> tuple[Any, _Spy]:
    from ampaudit.recommenders import PopularityRecommender
    from ampaudit.simulations import AuditModel, BehaviorConf, GraphConf, WorldConf, build_world

    world = build_world(
        WorldConf(
            n_users=200,
            n_items=150,
            new_items_per_step=5,
            n_creators=20,
            n_dims=4,
            activity_mean=0.5,
            creator_mix=[0.5, 0.15, 0.1, 0.1, 0.15],
        ),
        GraphConf(),
        n_steps=n_steps,
        rng=np.random.default_rng(0),
    )
    spy = _Spy()
    model = AuditModel(
        world,
        PopularityRecommender(),
        behavior=BehaviorConf(),
        n_steps=n_steps,
        slate_size=5,
        n_candidates=10,
        rng=np.random.default_rng(1),
        recommender_rng=np.random.default_rng(2),
        interventions=[intervention, spy],
    )
    return model.run(), spy


def check_intervention_protocol(iv: Any) -> None:
    """Has ``reset(view, rng)``, ``check_params``, ``actions`` and at least one hook."""
    reset = getattr(iv, "reset", None)
    if not callable(reset):
        raise CheckFailure("no reset(view, rng) method")
    try:
        inspect.signature(reset).bind(None, None)
    except TypeError:
        raise CheckFailure(
            f"reset{inspect.signature(reset)} does not take (view, rng): the stream "
            "arrives at reset"
        ) from None
    _require(callable(getattr(iv, "check_params", None)), "no check_params() method")
    _require(any(callable(getattr(iv, h, None)) for h in HOOKS), f"none of the hooks {HOOKS}")
    _require(isinstance(iv, InterventionProtocol), "no name or no actions declaration")


def check_actions_declared(iv: Any) -> None:
    """``actions`` maps action names to kinds, and a short run records only those."""
    actions = getattr(iv, "actions", None)
    if not isinstance(actions, Mapping):
        raise CheckFailure(
            "no actions mapping (action name -> 'restrictive', 'promotive' or 'neutral')"
        )
    bad = {a: k for a, k in actions.items() if k not in ACTION_KINDS or not isinstance(a, str)}
    _require(not bad, f"actions of unknown kind {bad}: expected {', '.join(ACTION_KINDS)}")
    try:
        _intervention_run(iv)  # the simulator refuses an undeclared action
    except UndeclaredActionError as exc:
        raise CheckFailure(str(exc)) from None


def check_default_params_valid(iv: Any) -> None:
    """The default parameters pass ``check_params``."""
    type(iv)().check_params()


def check_hooks_keep_the_contract(iv: Any) -> None:
    """Hooks return the right shapes, ids in range and no repeats, over a short run."""
    _, spy = _intervention_run(iv)
    _require(not spy.problems, "; ".join(sorted(set(spy.problems)))[:300])


def check_intervention_deterministic(iv: Any) -> None:
    """Two runs with the same seeds give the same trace."""
    a, _ = _intervention_run(copy.deepcopy(iv))
    b, _ = _intervention_run(copy.deepcopy(iv))
    _require(np.array_equal(a.consumed, b.consumed), "same seeds, different consumption")
    _require(a.actions.keys() == b.actions.keys(), "same seeds, different actions")


def check_intervention_config(iv: Any) -> None:
    """``<Class>Conf`` mirrors the constructor (``_target_`` + parameters and defaults)."""
    check_config_mirrors_constructor(iv)


INTERVENTION_CHECKS: tuple[Callable[[Any], None], ...] = (
    check_intervention_protocol,
    check_actions_declared,
    check_default_params_valid,
    check_hooks_keep_the_contract,
    check_intervention_deterministic,
    check_intervention_config,
)


def check_intervention(intervention: Any) -> list[CheckResult]:
    """Run the intervention conformance suite on an instance or class.

    Examples
    --------
    >>> from ampaudit.interventions import DownrankIntervention
    >>> all(r.passed for r in check_intervention(DownrankIntervention))
    True
    """
    base = intervention() if isinstance(intervention, type) else intervention
    return [run_check(copy.deepcopy(base), check) for check in INTERVENTION_CHECKS]
