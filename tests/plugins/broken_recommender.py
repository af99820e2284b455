"""A deliberately broken recommender, for the conformance suite's own tests."""

import numpy as np


class BrokenRecommender:
    """Repeats items, shows removed ones and forgets to return self from fit."""

    retrain_every = 1
    privileged = False

    def fit(self, data):
        self.n_items = data.n_items

    def recommend(self, users, n, *, rng):
        items = np.tile(np.arange(n) % 3 + 1, (len(users), 1)).astype(np.int64)
        items[:, -1] = 2  # a removed item in the conformance platform
        return items, np.zeros(items.shape, dtype=np.float32)
