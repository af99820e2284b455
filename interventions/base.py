"""The intervention contract: override one pipeline hook, record what you did."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Intervention", "curated_counter_items", "flagged", "stable_demote"]


def flagged(model: Any, items: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each item id's classifier score reaches ``threshold`` (``-1`` never does)."""
    score = model.catalog.score
    safe = np.maximum(items, 0)
    return (items >= 0) & (score[safe] >= threshold)


def curated_counter_items(model: Any) -> np.ndarray:
    """Available counter-narrative items visible now.

    Counter-narratives come from known partners (as in the Redirect Method's curated
    playlists), so the platform knows them without a classifier.
    """
    from ampaudit.core.categories import COUNTER

    n = model.catalog.n_visible(model.t)
    return np.flatnonzero((model.catalog.category[:n] == COUNTER) & model.catalog.available[:n])


def stable_demote(items: np.ndarray, scores: np.ndarray, demote: np.ndarray):
    """Move ``demote``-marked entries behind all others in each row, order kept."""
    order = np.argsort(demote, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(scores, order, axis=1)


class Intervention:
    """Base class (Gymnasium-wrapper style): subclasses override the hooks they need.

    Hooks, called by the simulator in config order at their pipeline stage:

    - ``on_catalog(model)`` — removals and restorations (catalog stage);
    - ``on_candidates(model, users, items, scores) -> (items, scores)`` — re-rank,
      filter or insert (candidate stage);
    - ``on_slate(model, users, slates) -> slates`` — the cut slate (slate stage);
    - ``on_choice(model, users, slates, utility) -> utility`` — click utilities
      (choice stage);
    - ``on_item_graph(model)`` — the watch-next graph (after the step).

    Returning ``None`` means no change. Interventions act on the platform's view
    (classifier scores, the log, the curated counter-narrative list), never on true
    extremity; they report what they did with :meth:`record`, and the simulator
    tallies it by true category so collateral costs are measured.

    Attributes
    ----------
    name : str
        Set by the audit from the config key (default: the class name).
    rng : numpy.random.Generator
        The intervention's own stream, set by :meth:`reset`.
    """

    name: str = ""
    #: Seed of the private stream; the audit sets it from the replicate's
    #: ``interventions`` stream and the intervention's name.
    seed: Any = 0

    def check_params(self) -> None:
        """Raise :class:`~ampaudit.core.errors.ConfigError` for an invalid parameter."""

    def reset(self, model: Any) -> None:
        """Start a run: check parameters, keep the model and a fresh private stream."""
        self.check_params()
        self.model_ = model
        self.rng = np.random.default_rng(self.seed)
        if not self.name:
            self.name = type(self).__name__

    def record(self, action: str, items: np.ndarray) -> None:
        """Report that ``action`` (e.g. ``"demoted"``) touched ``items`` this step."""
        self.model_.record_action(self.name, action, items)
