"""Ranking-stage interventions: demotion, counter-narrative boosts, exposure caps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampaudit.core.errors import check_range

from .base import Intervention, curated_counter_items, flagged, stable_demote

__all__ = [
    "CounterNarrativeIntervention",
    "CounterNarrativeInterventionConf",
    "DownrankIntervention",
    "DownrankInterventionConf",
    "ExposureCapIntervention",
    "ExposureCapInterventionConf",
]


class DownrankIntervention(Intervention):
    """Demote candidates whose classifier score reaches ``threshold`` (the borderline policy).

    Flagged candidates move behind every unflagged one, so with more candidates than
    slate slots they leave the slate; organic channels (follows, search) are untouched,
    as with YouTube's 2019 demotion of borderline content in recommendations.

    Parameters
    ----------
    threshold : float, default=0.6
        Classifier score at or above which an item is demoted.

    References
    ----------
    .. [1] YouTube (2019). Continuing our work to improve recommendations on YouTube.
    """

    def __init__(self, *, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def check_params(self) -> None:  # noqa: D102
        check_range("downrank.threshold", self.threshold, low=0, high=1)

    def on_candidates(self, model, users, items, scores):  # noqa: D102
        demote = flagged(model, items, self.threshold)
        self.record("demoted", items[demote])
        return stable_demote(items, scores, demote)


class CounterNarrativeIntervention(Intervention):
    """Boost curated counter-narrative candidates ``boost`` positions up the ranking.

    Parameters
    ----------
    boost : int, default=5
        Positions gained by each counter-narrative candidate.
    """

    def __init__(self, *, boost: int = 5) -> None:
        self.boost = boost

    def check_params(self) -> None:  # noqa: D102
        check_range("counter_narrative.boost", self.boost, low=0)

    def on_candidates(self, model, users, items, scores):  # noqa: D102
        counter = np.isin(items, curated_counter_items(model))
        self.record("boosted", items[counter])
        position = np.arange(items.shape[1]) - self.boost * counter
        order = np.argsort(position, axis=1, kind="stable")
        return np.take_along_axis(items, order, axis=1), np.take_along_axis(scores, order, axis=1)


class ExposureCapIntervention(Intervention):
    """At most ``max_flagged`` flagged items in each slate; extras are demoted.

    Parameters
    ----------
    threshold : float, default=0.6
        Classifier score at or above which an item counts as flagged.
    max_flagged : int, default=1
        Flagged items allowed among the first ``slate_size`` candidates.
    """

    def __init__(self, *, threshold: float = 0.6, max_flagged: int = 1) -> None:
        self.threshold = threshold
        self.max_flagged = max_flagged

    def check_params(self) -> None:  # noqa: D102
        check_range("exposure_cap.threshold", self.threshold, low=0, high=1)
        check_range("exposure_cap.max_flagged", self.max_flagged, low=0)

    def on_candidates(self, model, users, items, scores):  # noqa: D102
        hit = flagged(model, items, self.threshold)
        extra = hit & (np.cumsum(hit, axis=1) > self.max_flagged)
        self.record("capped", items[extra])
        return stable_demote(items, scores, extra)


@dataclass
class DownrankInterventionConf:
    """Hydra config of :class:`DownrankIntervention`."""

    _target_: str = "ampaudit.interventions.DownrankIntervention"
    threshold: float = 0.6


@dataclass
class CounterNarrativeInterventionConf:
    """Hydra config of :class:`CounterNarrativeIntervention`."""

    _target_: str = "ampaudit.interventions.CounterNarrativeIntervention"
    boost: int = 5


@dataclass
class ExposureCapInterventionConf:
    """Hydra config of :class:`ExposureCapIntervention`."""

    _target_: str = "ampaudit.interventions.ExposureCapIntervention"
    threshold: float = 0.6
    max_flagged: int = 1
