"""The intervention contract: what an intervention sees and does, and what it must declare.

An intervention acts on a :class:`PlatformView`, never on the simulator itself. The
view is what a platform's trust-and-safety team works with: the step, the public
catalog (classifier scores, topic vectors, perceptual hashes, availability), the
consumption log, the recommender (for its watch-next lists), the run's slate size,
and two ways to report: :meth:`PlatformView.record_action` (what it did to which
items; the harness tallies them by true category, so collateral is measured) and
:meth:`PlatformView.record_value` (a per-step measurement).

True extremity is never on the view. What the platform would learn only from people
(reviewers who look at the content, counter-narrative partners, a shared database of
confirmed material) is the harness's :class:`GroundTruth`, reached explicitly as
``view.truth``: an intervention that reads it models such people, and says so in its
docstring.

:class:`~ampaudit.simulations.AuditModel` satisfies :class:`PlatformView`
structurally; built-in interventions subclass
:class:`ampaudit.interventions.Intervention`, which satisfies :class:`Intervention`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np

from ampaudit.core.platform import InteractionLog
from ampaudit.core.protocols import Recommender

__all__ = [
    "ACTION_KINDS",
    "HOOKS",
    "ActionKind",
    "GroundTruth",
    "Intervention",
    "ItemCatalog",
    "PlatformView",
    "UndeclaredActionError",
    "declared_kind",
    "intervention_rng",
    "lookup_kind",
]

#: What an action does to the items it touches. ``restrictive``: takes them away from
#: users (demote, cap, hide behind an interstitial, remove); a legitimate item acted on
#: is collateral. ``promotive``: puts them in front of users (insert, boost, promote,
#: restore). ``neutral``: anything else (a re-ranking, a tally such as a queue backlog).
ActionKind = Literal["restrictive", "promotive", "neutral"]
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)

#: The optional hooks, in pipeline order, and the stage (DESIGN §3.3) each acts at.
HOOKS: dict[str, str] = {
    "on_catalog": "catalog",
    "on_candidates": "candidates",
    "on_slate": "slate",
    "on_choice": "choice",
    "on_watch_next": "watch-next",
    "on_item_graph": "item graph",
}


class ItemCatalog(Protocol):
    """The public catalog: per-item arrays of length ``len(catalog)`` (the id space).

    Items appear over time and are a prefix: ids below :meth:`n_visible` exist now.
    ``available`` is the one array an intervention may write (removal and
    restoration); the others are read-only.
    """

    @property
    def score(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): the platform's noisy extremity classifier."""
        ...

    @property
    def topics(self) -> np.ndarray:
        """Ndarray of shape (n_items_total, n_dims): public topic vectors (unit norm)."""
        ...

    @property
    def created(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): step each item appears (sorted)."""
        ...

    @property
    def creator(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): creator id of each item."""
        ...

    @property
    def phash(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): 64-bit perceptual hash (uint64)."""
        ...

    @property
    def available(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): False once removed (this arm's; writable)."""
        ...

    def n_visible(self, step: int) -> int:
        """Number of items created at or before ``step``."""
        ...

    def __len__(self) -> int: ...


class GroundTruth(Protocol):
    """What only people would know: reviewers, partners, a database of confirmed material.

    Not part of what a platform computes; an intervention that reads it models human
    knowledge and says so. True extremity is not here: no intervention sees it.
    """

    @property
    def category(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): true category code (``core.categories``)."""
        ...

    @property
    def original(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): the original each item re-uploads (or itself)."""
        ...

    @property
    def crisis(self) -> np.ndarray:
        """Ndarray of shape (n_items_total,): items of a crisis burst (an attack's videos)."""
        ...


@runtime_checkable
class PlatformView(Protocol):
    """Everything an intervention may see and do.

    :class:`~ampaudit.simulations.AuditModel` is one (structurally): hooks receive the
    arm's model typed as this view, so type checking keeps interventions to it.
    """

    @property
    def t(self) -> int:
        """Current step (0-based); in ``on_item_graph``, the step just finished + 1."""
        ...

    @property
    def slate_size(self) -> int:
        """``k``, items shown per feed."""
        ...

    @property
    def n_candidates(self) -> int:
        """Candidates the recommender returns per feed, before the slate is cut."""
        ...

    @property
    def catalog(self) -> ItemCatalog:
        """The public catalog; write ``catalog.available`` to remove or restore items."""
        ...

    @property
    def truth(self) -> GroundTruth:
        """Human knowledge the harness stands in for (see :class:`GroundTruth`)."""
        ...

    @property
    def log(self) -> InteractionLog:
        """Consumption events so far (``log.n_users`` is the number of users)."""
        ...

    @property
    def recommender(self) -> Recommender | None:
        """The arm's recommender, ``None`` in a no-feed arm.

        For its optional ``related(items, n)`` watch-next lists: ask
        :func:`~ampaudit.core.offers` first. Interventions do not call ``recommend``
        or ``fit`` (the simulator does, with the recommender's own stream).
        """
        ...

    def record_action(self, intervention: str, action: str, items: np.ndarray) -> None:
        """Report that ``intervention`` applied ``action`` to ``items`` (ids, ``-1`` ignored).

        Raises
        ------
        UndeclaredActionError
            If the intervention does not declare ``action`` in its ``actions``.
        """
        ...

    def record_value(self, key: str, value: float) -> None:
        """Record a per-step measurement (e.g. ``"rewire.z_mean_after"``)."""
        ...


@runtime_checkable
class Intervention(Protocol):
    """An intervention (Gymnasium-wrapper style: it implements the hooks it needs).

    The constructor takes parameters only and stores them unchanged; state built for a
    run ends in ``_``. Hooks are optional and called in config order at their stage
    (:data:`HOOKS`); each returns its new value, or ``None`` for no change:

    - ``on_catalog(view)`` — removals and restorations;
    - ``on_candidates(view, users, items, scores) -> (items, scores)`` — re-rank, filter
      or insert; ``items``/``scores`` of shape ``(len(users), n_candidates)``;
    - ``on_slate(view, users, slates) -> slates`` — the cut slates, ``(len(users), k)``;
    - ``on_choice(view, users, slates, utility) -> utility`` — click utilities;
    - ``on_watch_next(view, users, items, lists) -> lists`` — the watch-next lists of
      the items users just consumed (``behavior.p_watch_next > 0``);
    - ``on_item_graph(view)`` — the watch-next graph, after the step.

    Attributes
    ----------
    name : str
        Its config key in an audit (the prefix of its action and value keys).
    actions : mapping of str to {"restrictive", "promotive", "neutral"}
        Every action it records, with its kind (:data:`ActionKind`). Restrictive
        actions on legitimate items are its collateral; recording an action not
        declared here is an error.
    """

    name: str

    @property
    def actions(self) -> Mapping[str, ActionKind]:
        """Every action the intervention records, with its kind (a class attribute)."""
        ...

    def check_params(self) -> None:
        """Raise :class:`~ampaudit.core.errors.ConfigError` for an invalid parameter."""
        ...

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:
        """Start a run on ``view``; ``rng`` is this intervention's own stream.

        ``rng`` is the only source of randomness; the harness derives it from the
        replicate's ``interventions`` stream and :attr:`name`
        (:func:`intervention_rng`), so every arm of a replicate draws the same numbers.
        """
        ...


class UndeclaredActionError(ValueError):
    """An intervention recorded an action it does not declare in ``actions``."""


def declared_kind(intervention: object, action: str) -> ActionKind:
    """The declared kind of ``action`` for ``intervention``.

    Parameters
    ----------
    intervention : object
        Anything with an ``actions`` mapping (and a ``name``, for the message).
    action : str

    Raises
    ------
    UndeclaredActionError
        If ``action`` is not declared, or declared with an unknown kind.

    Examples
    --------
    >>> class Demote:
    ...     name, actions = "demote", {"demoted": "restrictive"}
    >>> declared_kind(Demote(), "demoted")
    'restrictive'
    """
    actions = getattr(intervention, "actions", None) or {}
    name = getattr(intervention, "name", "") or type(intervention).__name__
    kind = actions.get(action)
    if kind is None:
        declared = ", ".join(sorted(actions)) or "none"
        raise UndeclaredActionError(
            f"intervention {name!r} recorded action {action!r}, which it does not declare "
            f"(declared: {declared}); add it to {type(intervention).__name__}.actions with "
            f"its kind, one of {', '.join(ACTION_KINDS)}"
        )
    if kind not in ACTION_KINDS:
        raise UndeclaredActionError(
            f"intervention {name!r} declares action {action!r} as {kind!r}: "
            f"expected one of {', '.join(ACTION_KINDS)}"
        )
    return kind


def lookup_kind(interventions: Iterable[object], name: str, action: str) -> ActionKind:
    """The declared kind of ``action`` for the intervention called ``name`` among many.

    Raises
    ------
    UndeclaredActionError
        If no intervention is called ``name``, or it does not declare ``action``.
    """
    named = [iv for iv in interventions if getattr(iv, "name", None) == name]
    if not named:
        raise UndeclaredActionError(
            f"action {action!r} recorded for {name!r}, which is not an intervention of this run"
        )
    return declared_kind(named[0], action)


def intervention_rng(stream: np.random.SeedSequence, name: str) -> np.random.Generator:
    """The random stream of intervention ``name``: a child of ``stream`` keyed by the name.

    Keyed by a CRC-32 of the name (not by position), so an intervention draws the same
    numbers whichever arm it is in and whatever runs beside it.

    Examples
    --------
    >>> root = np.random.SeedSequence(1)
    >>> first = [intervention_rng(root, n).random() for n in ("redirect", "redirect", "downrank")]
    >>> first[0] == first[1], first[0] == first[2]
    (True, False)
    """
    key = zlib.crc32(name.encode())
    return np.random.default_rng(
        np.random.SeedSequence(stream.entropy, spawn_key=(*stream.spawn_key, key))
    )
