"""The intervention base class: override one pipeline hook, declare and record what you did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ampaudit.core.categories import COUNTER
from ampaudit.core.intervention import ActionKind, PlatformView, declared_kind

__all__ = ["Intervention", "curated_counter_items", "flagged", "stable_demote"]


def flagged(view: PlatformView, items: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each item id's classifier score reaches ``threshold`` (``-1`` never does)."""
    score = view.catalog.score
    safe = np.maximum(items, 0)
    return (items >= 0) & (score[safe] >= threshold)


def curated_counter_items(view: PlatformView) -> np.ndarray:
    """Available counter-narrative items visible now.

    Counter-narratives come from known partners (as in the Redirect Method's curated
    playlists), so the platform knows them without a classifier: the partner list is
    modelled by the true category (``view.truth``), complete and without error.
    """
    n = view.catalog.n_visible(view.t)
    return np.flatnonzero((view.truth.category[:n] == COUNTER) & view.catalog.available[:n])


def stable_demote(
    items: np.ndarray, scores: np.ndarray, demote: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move ``demote``-marked entries behind all others in each row, order kept."""
    order = np.argsort(demote, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(scores, order, axis=1)


class Intervention:
    """Base class (Gymnasium-wrapper style): subclasses override the hooks they need.

    Implements :class:`ampaudit.core.intervention.Intervention`. Hooks, called by the
    simulator in config order at their pipeline stage, each with the
    :class:`~ampaudit.core.intervention.PlatformView` first:

    - ``on_catalog(view)`` — removals and restorations (catalog stage);
    - ``on_candidates(view, users, items, scores) -> (items, scores)`` — re-rank,
      filter or insert (candidate stage);
    - ``on_slate(view, users, slates) -> slates`` — the cut slate (slate stage);
    - ``on_choice(view, users, slates, utility) -> utility`` — click utilities
      (choice stage);
    - ``on_item_graph(view)`` — the watch-next graph (after the step).

    Returning ``None`` means no change. Interventions act on the platform's view
    (classifier scores, the log, the curated counter-narrative list), never on true
    extremity; they report what they did with :meth:`record`, and the simulator
    tallies it by true category so collateral costs are measured. Every action
    recorded must be declared in :attr:`actions` with its kind.

    Attributes
    ----------
    name : str
        Set by the audit from the config key (default: the class name).
    actions : mapping of str to {"restrictive", "promotive", "neutral"}
        Class attribute: every action the intervention records, and its kind.
    rng : numpy.random.Generator
        The intervention's own stream, handed over by :meth:`reset`.
    """

    name: str = ""
    actions: ClassVar[Mapping[str, ActionKind]] = {}

    if TYPE_CHECKING:  # the hooks' signatures, for type checking; absent hooks are skipped

        def on_catalog(self, view: PlatformView) -> None:
            """Remove or restore items (catalog stage)."""

        def on_candidates(
            self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray] | None:
            """Re-rank, filter or insert candidates, ``(len(users), n_candidates)`` each."""

        def on_slate(
            self, view: PlatformView, users: np.ndarray, slates: np.ndarray
        ) -> np.ndarray | None:
            """Change the cut slates, ``(len(users), slate_size)``."""

        def on_choice(
            self, view: PlatformView, users: np.ndarray, slates: np.ndarray, utility: np.ndarray
        ) -> np.ndarray | None:
            """Change the click utility of each slate position."""

        def on_watch_next(
            self, view: PlatformView, users: np.ndarray, items: np.ndarray, lists: np.ndarray
        ) -> np.ndarray | None:
            """Change the watch-next lists of the ``items`` that ``users`` just consumed."""

        def on_item_graph(self, view: PlatformView) -> None:
            """Change the watch-next graph (after the step)."""

    def check_params(self) -> None:
        """Raise :class:`~ampaudit.core.errors.ConfigError` for an invalid parameter."""

    def reset(self, view: PlatformView, rng: np.random.Generator) -> None:
        """Start a run: check parameters, keep the view and the private stream ``rng``."""
        self.check_params()
        self.view_ = view
        self.rng = rng
        if not self.name:
            self.name = type(self).__name__

    def record(self, action: str, items: np.ndarray) -> None:
        """Report that ``action`` (e.g. ``"demoted"``) touched ``items`` this step.

        Raises
        ------
        UndeclaredActionError
            If ``action`` is not in :attr:`actions`.
        """
        declared_kind(self, action)
        self.view_.record_action(self.name, action, items)
