"""Named random streams spawned from one :class:`numpy.random.SeedSequence`.

A replicate's streams are children of ``SeedSequence(entropy, spawn_key=(r,))`` in a
fixed, append-only order. Adding a stream at the end never changes the earlier ones,
so results recorded under an older version stay reproducible.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STREAMS", "draw_entropy", "replicate_streams"]

#: Stream names in spawn order. Append only.
STREAMS: tuple[str, ...] = ("world", "behavior", "recommender", "interventions")


def draw_entropy() -> int:
    """Return fresh 63-bit entropy from the OS, for ``seed: null`` configs.

    63 bits keep the logged seed short enough to paste into ``seed=...``.
    """
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)
    return entropy >> 65


def replicate_streams(entropy: int, replicate: int) -> dict[str, np.random.SeedSequence]:
    """Spawn the named child seed sequences of one replicate.

    Parameters
    ----------
    entropy : int
        The audit's root entropy (the config's ``seed``, or drawn and logged).
    replicate : int
        Replicate index; it becomes the ``spawn_key`` so replicates are independent.

    Returns
    -------
    dict of str to SeedSequence
        One child per name in :data:`STREAMS`. Build a fresh ``np.random.default_rng``
        from a child each time an arm needs the stream: arms of one replicate then
        see identical draws (common random numbers).

    Examples
    --------
    >>> a = replicate_streams(42, 0)
    >>> b = replicate_streams(42, 0)
    >>> np.random.default_rng(a["world"]).random() == np.random.default_rng(b["world"]).random()
    True
    """
    root = np.random.SeedSequence(entropy, spawn_key=(replicate,))
    children = root.spawn(len(STREAMS))
    return dict(zip(STREAMS, children, strict=True))
