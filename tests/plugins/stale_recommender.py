"""A recommender whose ``observe`` forgets the base class, for the conformance suite's tests."""

import numpy as np
from ampaudit.recommenders import PopularityRecommender


class StaleObserveRecommender(PopularityRecommender):
    """Counts impressions in ``observe`` but never calls ``super().observe(batch)``.

    Its ``data_`` stays the platform of the last ``fit``, so until the next refit it
    recommends items removed or consumed since: every other check passes.
    """

    def observe(self, batch):
        shown = batch.slates[batch.slates >= 0]
        self.impressions_ = np.bincount(shown, minlength=batch.data.n_items)
