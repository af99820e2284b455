"""Hydra callbacks: set up shared state once, before sweep workers start."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback

__all__ = ["MlflowSetupCallback"]


class MlflowSetupCallback(Callback):
    """Create the MLflow store and experiment in the launching process.

    Parallel workers that each create a fresh SQLite store race on its schema
    ("duplicate column name"), and concurrent ``create_experiment`` calls race on the
    name; doing both once before the launcher starts removes the race.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Create the store and the experiment named by ``config.tracking``."""
        tracking = config.get("tracking")
        if tracking is None or not tracking.get("enabled", True):
            return
        from ampaudit.tracking import MlflowTracker

        MlflowTracker(str(tracking.uri), str(tracking.experiment))
