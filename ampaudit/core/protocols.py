"""The plugin contracts: what a recommender and an intervention must provide."""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np

from ampaudit.core.platform import PlatformData, StepBatch

__all__ = ["Recommender", "offers"]


@runtime_checkable
class Recommender(Protocol):
    """A recommender algorithm (scikit-learn style).

    The constructor takes hyper-parameters only and stores them unchanged; learned
    state lives in attributes ending in ``_``.

    Attributes
    ----------
    retrain_every : int
        The simulator calls :meth:`fit` every ``retrain_every`` steps, and
        ``observe`` (if defined) after every step.
    privileged : bool
        True only for oracles that may see true utilities.
    """

    retrain_every: int
    privileged: bool

    def fit(self, data: PlatformData) -> Self:
        """Fully (re)train from the interaction log and public item features."""
        ...

    def observe(self, batch: StepBatch) -> None:
        """Update online with a step's impressions and clicks (may do nothing)."""
        ...

    def recommend(
        self, users: np.ndarray, n: int, *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(items, scores)``, each of shape ``(len(users), n)``.

        ``items`` are int64 ids, -1 padded; ``scores`` float32. No unavailable
        items and no items the user already consumed.
        """
        ...


def offers(recommender: object, method: str) -> bool:
    """Whether ``recommender`` offers the optional ``method`` (``observe``, ``related``).

    A recommender that declares ``capabilities`` (the ``remote`` adapter, from what
    its service declares) is taken at its word; otherwise the method's presence
    decides. The conformance checks and the simulator ask the same question, so an
    absent capability is skipped the same way in-process and over HTTP.

    Examples
    --------
    >>> class Plain:
    ...     def related(self, items, n): ...
    >>> offers(Plain(), "related"), offers(Plain(), "observe")
    (True, False)
    """
    declared = getattr(recommender, "capabilities", None)
    if declared is not None:
        return method in declared
    return callable(getattr(recommender, method, None))
