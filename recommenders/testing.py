"""Tiny platform fixtures for doctests and conformance checks, and services to test against."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from ampaudit.core.platform import InteractionLog, ItemView, PlatformData

__all__ = ["running_service", "stub_service", "toy_platform"]


def toy_platform(
    n_users: int = 4, n_items: int = 6, n_dims: int = 3, *, seed: int = 0
) -> PlatformData:
    """A small platform with a short random interaction log.

    Users follow one of two creators, sit on a ring social graph, and have hidden
    tastes that the ``oracle`` (for privileged recommenders) scores items with.

    Examples
    --------
    >>> toy_platform().n_items
    6
    """
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_items, n_dims)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    log = InteractionLog(n_users)
    users = rng.integers(n_users, size=2 * n_users)
    items = rng.integers(n_items, size=2 * n_users)
    log.append(users, items, 0, np.zeros(len(users), dtype=np.int8))
    view = ItemView(
        features=features,
        created=np.arange(n_items, dtype=np.int32) - n_items,
        creator=np.arange(n_items, dtype=np.int32) % 2,
        score=rng.random(n_items).astype(np.float32),
        available=np.ones(n_items, dtype=bool),
    )
    # user u follows creator u % 2 (creators 0 and 1 each publish every other item)
    follows = sp.csr_matrix(
        (np.ones(n_users, dtype=np.float32), (np.arange(n_users), np.arange(n_users) % 2)),
        shape=(n_users, 2),
    )
    # a ring social graph, and an oracle of hidden tastes (for privileged recommenders)
    ring = np.arange(n_users)
    social = sp.csr_matrix(
        (
            np.ones(2 * n_users, dtype=np.float32),
            (
                np.concatenate([ring, ring]),
                np.concatenate([(ring + 1) % n_users, (ring - 1) % n_users]),
            ),
        ),
        shape=(n_users, n_users),
    )
    tastes = rng.standard_normal((n_users, n_dims)).astype(np.float32)

    def oracle(users: np.ndarray) -> np.ndarray:
        return tastes[users] @ view.features.T

    return PlatformData(
        step=1, n_users=n_users, items=view, log=log, follows=follows, social=social, oracle=oracle
    )


@contextlib.contextmanager
def running_service(command: Sequence[str], *, stop_timeout: float = 30.0) -> Iterator[str]:
    """Run a recommender service in a subprocess; yield its URL; stop it on exit.

    Parameters
    ----------
    command : sequence of str
        The service's command line. Its first line on stdout must hold its loopback
        URL, alone or after `` on `` (as ``ampaudit serve-stub`` prints it).
    stop_timeout : float, default=30.0
        Seconds to wait for the service to exit after it is terminated.

    Yields
    ------
    str
        The service's URL, ``http://127.0.0.1:PORT``.

    Raises
    ------
    RuntimeError
        If the first line is not a loopback URL (the service did not start).
    """
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[-1].split()[0] if " on " in line else line.strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"service did not start: {line!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout)


def stub_service(recommender: str) -> contextlib.AbstractContextManager[str]:
    """``ampaudit serve-stub`` serving ``recommender`` on a free port (see :func:`running_service`).

    Examples
    --------
    >>> with stub_service("popularity") as url:  # doctest: +SKIP
    ...     RemoteRecommender(url=url)
    """
    command = ("serve-stub", "--recommender", recommender, "--port", "0")
    return running_service([sys.executable, "-m", "ampaudit.cli", *command])
