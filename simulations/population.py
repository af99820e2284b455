"""The simulated population: one struct of arrays, one row per user."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Population", "draw_tastes", "draw_traits", "make_population", "unit_rows"]


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Scale each row of ``a`` to unit Euclidean norm (zero rows stay zero)."""
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)


def draw_tastes(x: np.ndarray, n_dims: int, *, rng: np.random.Generator) -> np.ndarray:
    """Unit taste vectors leaning along topic dimension 0 by ``2·|x|`` (float32).

    Harmfulness ``|x|`` sets the lean, so both ends of a two-sided axis lean toward
    the extremism topic. Draws ``len(x) × n_dims`` normals from ``rng``.
    """
    lean = np.zeros((len(x), n_dims))
    lean[:, 0] = 2.0 * np.abs(x)
    return unit_rows(rng.standard_normal((len(x), n_dims)) + lean).astype(np.float32)


def draw_traits(
    at_risk: np.ndarray,
    *,
    latitude_low: float,
    latitude_high: float,
    activity_mean: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Susceptibility, appetite, latitude and activity of each user.

    The at-risk minority is more susceptible (Beta(5, 2) instead of Beta(2, 5)) and
    has more appetite for sensational content (Beta(6, 2) instead of Beta(2, 6));
    latitudes are uniform in ``[latitude_low, latitude_high]``; activity is Beta
    with mean ``activity_mean`` and concentration 10. Draws a fixed number of
    variates (six per user) from ``rng``, in this order.
    """
    n = len(at_risk)
    susceptibility = np.where(at_risk, rng.beta(5, 2, n), rng.beta(2, 5, n))
    appetite = np.where(at_risk, rng.beta(6, 2, n), rng.beta(2, 6, n))
    latitude = rng.uniform(latitude_low, latitude_high, n)
    activity = rng.beta(10 * activity_mean, 10 * (1 - activity_mean), n)
    return susceptibility, appetite, latitude, activity


@dataclass
class Population:
    """Per-user state (all arrays of length ``n_users``).

    Attributes
    ----------
    x : ndarray of shape (n_users,)
        Position on the axis (mutable): 0 mainstream to 1 extreme on a one-sided
        axis; -1 to 1 with 0 the centre on a two-sided one.
    x0 : ndarray of shape (n_users,)
        Initial opinion, the anchor of stubbornness.
    taste : ndarray of shape (n_users, n_dims)
        Unit taste vectors (float32, mutable).
    susceptibility : ndarray of shape (n_users,)
        Scales content-driven opinion drift.
    appetite : ndarray of shape (n_users,)
        Appetite for sensational content.
    latitude : ndarray of shape (n_users,)
        Latitude of acceptance: content or peers farther than this do not persuade.
    activity : ndarray of shape (n_users,)
        Probability of being active in a step.
    community : ndarray of shape (n_users,)
        Community (graph block) label.
    at_risk : ndarray of shape (n_users,)
        Membership of the at-risk minority.
    utility : ndarray of shape (n_users, capacity) or None
        Taste match of each user with each item of the catalog, replacing
        ``taste · topics`` in the utility (small worlds given as data; static).
    """

    x: np.ndarray
    x0: np.ndarray
    taste: np.ndarray
    susceptibility: np.ndarray
    appetite: np.ndarray
    latitude: np.ndarray
    activity: np.ndarray
    community: np.ndarray
    at_risk: np.ndarray
    utility: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def copy_mutable(self) -> Population:
        """Return a population sharing static arrays, with private mutable state."""
        return replace(self, x=self.x.copy(), taste=self.taste.copy())


def make_population(
    communities: np.ndarray,
    *,
    n_dims: int,
    opinion_low: float,
    opinion_high: float,
    opinion_spread: float,
    at_risk_fraction: float,
    activity_mean: float,
    latitude_low: float,
    latitude_high: float,
    at_risk_opinion_low: float,
    at_risk_opinion_high: float,
    rng: np.random.Generator,
) -> Population:
    """Draw a population whose opinions follow the communities' ideological order.

    Community ``c`` of ``C`` is centred at ``opinion_low + (opinion_high -
    opinion_low) * c / (C - 1)``; opinions are that centre plus Gaussian noise of
    scale ``opinion_spread``. A random ``at_risk_fraction`` of users form the
    at-risk minority: opinions uniform in ``[at_risk_opinion_low,
    at_risk_opinion_high]``, high susceptibility and appetite.
    Taste vectors lean along dimension 0 (the extremism topic) in proportion to
    opinion. Draws a fixed number of variates from ``rng`` for given sizes.

    Parameters
    ----------
    communities : ndarray of shape (n_users,)
        Community of each user, ordered mainstream first.
    n_dims : int
        Taste/topic dimension.
    opinion_low, opinion_high, opinion_spread : float
        Community centres and spread of initial opinions.
    at_risk_fraction : float
        Share of users in the at-risk minority.
    activity_mean : float
        Mean activity probability (Beta with concentration 10).
    latitude_low, latitude_high : float
        Uniform range of latitudes of acceptance.
    at_risk_opinion_low, at_risk_opinion_high : float
        Range of the at-risk minority's initial opinions.
    rng : numpy.random.Generator
        The ``world`` stream.
    """
    n = len(communities)
    n_comm = int(communities.max()) + 1 if n else 1
    centres = (
        np.linspace(opinion_low, opinion_high, n_comm) if n_comm > 1 else np.array([opinion_low])
    )
    x = np.clip(centres[communities] + opinion_spread * rng.standard_normal(n), 0.0, 1.0)
    at_risk = rng.random(n) < at_risk_fraction
    x = np.where(at_risk, rng.uniform(at_risk_opinion_low, at_risk_opinion_high, n), x)
    susceptibility, appetite, latitude, activity = draw_traits(
        at_risk,
        latitude_low=latitude_low,
        latitude_high=latitude_high,
        activity_mean=activity_mean,
        rng=rng,
    )
    taste = draw_tastes(x, n_dims, rng=rng)
    return Population(
        x=x,
        x0=x.copy(),
        taste=taste,
        susceptibility=susceptibility,
        appetite=appetite,
        latitude=latitude,
        activity=activity,
        community=communities.astype(np.int32),
        at_risk=at_risk,
    )
