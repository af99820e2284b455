"""Ranking-stage interventions: demotion, counter-narrative boosts, exposure caps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ampaudit.core.errors import check_range
from ampaudit.core.intervention import ActionKind, PlatformView

from .base import Intervention, curated_counter_items, flagged, stable_demote

__all__ = [
    "CounterNarrativeIntervention",
    "CounterNarrativeInterventionConf",
    "DiversifyIntervention",
    "DiversifyInterventionConf",
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

    actions: ClassVar[Mapping[str, ActionKind]] = {"demoted": "restrictive"}

    def __init__(self, *, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def check_params(self) -> None:  # noqa: D102
        check_range("downrank.threshold", self.threshold, low=0, high=1)

    def on_candidates(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        demote = flagged(view, items, self.threshold)
        self.record("demoted", items[demote])
        return stable_demote(items, scores, demote)


class CounterNarrativeIntervention(Intervention):
    """Boost curated counter-narrative candidates ``boost`` positions up the ranking.

    Parameters
    ----------
    boost : int, default=5
        Positions gained by each counter-narrative candidate.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"boosted": "promotive"}

    def __init__(self, *, boost: int = 5) -> None:
        self.boost = boost

    def check_params(self) -> None:  # noqa: D102
        check_range("counter_narrative.boost", self.boost, low=0)

    def on_candidates(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        counter = np.isin(items, curated_counter_items(view))
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

    actions: ClassVar[Mapping[str, ActionKind]] = {"capped": "restrictive"}

    def __init__(self, *, threshold: float = 0.6, max_flagged: int = 1) -> None:
        self.threshold = threshold
        self.max_flagged = max_flagged

    def check_params(self) -> None:  # noqa: D102
        check_range("exposure_cap.threshold", self.threshold, low=0, high=1)
        check_range("exposure_cap.max_flagged", self.max_flagged, low=0)

    def on_candidates(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        hit = flagged(view, items, self.threshold)
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


class DiversifyIntervention(Intervention):
    """Maximal marginal relevance: trade relevance for topical variety in each slate.

    Greedily fills the slate with ``argmax λ·rel − (1 − λ)·max_sim``, where ``rel``
    is the candidate's rank-based relevance in [0, 1] and ``max_sim`` its largest
    cosine similarity (public topic vectors) to items already chosen.

    Parameters
    ----------
    trade_off : float, default=0.7
        ``λ``: 1 keeps the recommender's order, 0 maximises variety.

    References
    ----------
    .. [1] Carbonell, Goldstein (1998). The use of MMR, diversity-based reranking for
       reordering documents and producing summaries. SIGIR, 335-336.
    """

    actions: ClassVar[Mapping[str, ActionKind]] = {"promoted": "promotive"}

    def __init__(self, *, trade_off: float = 0.7) -> None:
        self.trade_off = trade_off

    def check_params(self) -> None:  # noqa: D102
        check_range("diversify.trade_off", self.trade_off, low=0, high=1)

    def on_candidates(  # noqa: D102
        self, view: PlatformView, users: np.ndarray, items: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n, c = items.shape
        k = min(view.slate_size, c)
        valid = items >= 0
        topics = view.catalog.topics[np.maximum(items, 0)]
        sim = np.einsum("ncd,nmd->ncm", topics, topics)
        rel = 1.0 - np.arange(c) / max(c - 1, 1)
        chosen = np.zeros((n, c), dtype=bool)
        max_sim = np.zeros((n, c))
        order = np.empty((n, k), dtype=np.int64)
        rows = np.arange(n)
        for j in range(k):  # k slate positions, vectorised over users
            value = self.trade_off * rel - (1 - self.trade_off) * max_sim
            value[chosen | ~valid] = -np.inf
            pick = np.argmax(value, axis=1)
            order[:, j] = pick
            chosen[rows, pick] = True
            max_sim = np.maximum(max_sim, sim[rows, pick, :])
        rest = np.argsort(chosen, axis=1, kind="stable")[:, : c - k]  # unchosen, in order
        full = np.concatenate([order, rest], axis=1)
        new_items = np.take_along_axis(items, full, axis=1)
        # promoted: in the user's new top k from below their own old top k
        self.record("promoted", new_items[:, :k][order >= k])
        return new_items, np.take_along_axis(scores, full, axis=1)


@dataclass
class DiversifyInterventionConf:
    """Hydra config of :class:`DiversifyIntervention`."""

    _target_: str = "ampaudit.interventions.DiversifyIntervention"
    trade_off: float = 0.7
