"""Opinion dynamics as components: Deffuant, Hegselmann–Krause and anchoring.

Pure functions over an opinion array: each returns new opinions and leaves its input
alone. Nothing loops over agents in Python; the sequential (``pairwise``) Deffuant
schedule loops over *batches* of disjoint meetings, each batch one numpy update.
:func:`opinion_step` applies the model an :class:`OpinionConf` names; the audit's
social step (DESIGN §3.3, step 7) and ``audit.mode=dynamics`` both call it.

Bounded confidence in one line: agents only listen to opinions within ``ε`` of their
own. Deffuant et al. (2000) update random pairs; Hegselmann and Krause (2002) move
every agent to the mean of all opinions within ``ε`` at once. Anchoring (stubbornness
``ρ``) pulls each agent back toward its initial opinion every time it updates; with
``ρ > 0`` opinions never settle on a common value, so it prevents consensus (and
keeps the audit's population near the world it was calibrated on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from ampaudit.core.errors import ConfigError, check_range

__all__ = [
    "OPINION_MODELS",
    "SCHEDULES",
    "OpinionConf",
    "anchoring",
    "deffuant",
    "hegselmann_krause",
    "largest_move",
    "opinion_step",
]

#: Opinion models :func:`opinion_step` knows.
OPINION_MODELS = ("deffuant", "hk")

#: How Deffuant meetings are applied: all at once, or one after another.
SCHEDULES = ("per_step", "pairwise")


@dataclass
class OpinionConf:
    """Which opinion dynamics the social step runs, and its parameters.

    Parameters
    ----------
    model : {"deffuant", "hk"}, default="deffuant"
        ``deffuant``: pairwise bounded confidence (:func:`deffuant`); ``hk``:
        Hegselmann–Krause averaging over everyone within ``ε``
        (:func:`hegselmann_krause`), which uses no partner, so ``mu``,
        ``symmetric`` and ``schedule`` do not apply to it.
    epsilon : float or None, default=None
        Confidence bound ``ε`` in (0, 1]; ``None`` gives each agent its own bound,
        the population's latitude of acceptance (only a world's population has one).
    mu : float, default=0.05
        Deffuant convergence parameter ``μ`` in [0, 0.5]: each meeting moves an agent
        ``μ`` of the way toward the other (0.5: both meet in the middle).
    symmetric : bool, default=False
        Both agents of a meeting move (Deffuant et al. 2000); ``False``: only the
        initiator does, and the partner updates on its own meetings.
    schedule : {"per_step", "pairwise"}, default="per_step"
        ``per_step``: every meeting of a step at once, from the opinions before the
        step; ``pairwise``: one meeting after another in a random order, each seeing
        the opinions the earlier ones left (the original, sequential model).

    Notes
    -----
    The audit's default (``epsilon=None, mu=0.05, symmetric=False,
    schedule="per_step"``) is the social step of round 1, bit for bit.
    """

    model: str = "deffuant"
    epsilon: Optional[float] = None  # noqa: UP045 - OmegaConf 2.3 does not read `float | None`
    mu: float = 0.05
    symmetric: bool = False
    schedule: str = "per_step"

    def validate(self, prefix: str = "behavior.opinion") -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        if self.model not in OPINION_MODELS:
            raise ConfigError(f"{prefix}.model", self.model, f"one of {', '.join(OPINION_MODELS)}")
        if self.epsilon is not None:
            check_range(f"{prefix}.epsilon", self.epsilon, low=0, high=1, low_open=True)
        check_range(f"{prefix}.mu", self.mu, low=0, high=0.5)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"{prefix}.schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")


def _bound(epsilon: float | np.ndarray, agents: np.ndarray) -> float | np.ndarray:
    """Confidence bound of each of ``agents``: a shared float, or their own entries."""
    if np.ndim(epsilon) == 0:
        return float(epsilon)  # type: ignore[arg-type]
    return np.asarray(epsilon)[agents]


def deffuant(
    x: np.ndarray,
    initiators: np.ndarray,
    partners: np.ndarray,
    *,
    epsilon: float | np.ndarray,
    mu: float,
    symmetric: bool = False,
    schedule: str = "per_step",
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Bounded-confidence meetings: ``x_i += μ·(x_j − x_i)`` when ``|x_j − x_i| < ε_i``.

    Parameters
    ----------
    x : ndarray of shape (n_agents,)
        Opinions (not modified).
    initiators, partners : ndarray of shape (n_meetings,)
        Meeting ``r`` is between ``initiators[r]`` and ``partners[r]``;
        ``partners[r] = -1`` means no meeting.
    epsilon : float or ndarray of shape (n_agents,)
        Confidence bound, shared or per agent; each agent judges a meeting with its
        own bound.
    mu : float
        Convergence parameter in [0, 0.5].
    symmetric : bool, default=False
        The partner moves too (toward the initiator, by the same rule).
    schedule : {"per_step", "pairwise"}, default="per_step"
        ``per_step``: all meetings at once from ``x``. An agent in ``k`` meetings
        that move it would then be pulled ``k`` times; each of its meetings instead
        moves it (and, if symmetric, its partner) by ``μ / max(k_i, k_j)``, so the
        step stays a convex combination and, with a shared ``ε``, a symmetric step
        still conserves the mean. With distinct agents in every meeting this is
        plain Deffuant. ``pairwise``: meetings in ascending ``order``, each on the
        opinions the earlier ones left, applied in batches of disjoint meetings
        (a meeting joins a batch once no earlier meeting shares an agent with it,
        which gives exactly the sequential result).
    order : ndarray of shape (n_meetings,), optional
        Sort key of the meetings (e.g. uniforms from the caller's stream); needed
        by ``pairwise``, unused by ``per_step``.

    Returns
    -------
    ndarray of shape (n_agents,)
        New opinions. Every update is convex, so opinions stay within the range of
        ``x``; with a shared ``ε`` and ``symmetric``, the mean is conserved and the
        variance does not increase.

    References
    ----------
    .. [1] Deffuant, G., Neau, D., Amblard, F., Weisbuch, G. (2000). Mixing beliefs
       among interacting agents. Advances in Complex Systems 3:87-98.

    Examples
    --------
    >>> x = np.array([0.0, 0.25, 0.5, 1.0])
    >>> deffuant(x, np.array([0, 2]), np.array([1, 3]), epsilon=0.3, mu=0.5,
    ...          symmetric=True).tolist()
    [0.125, 0.125, 0.5, 1.0]
    """
    x = np.asarray(x, dtype=float)
    initiators = np.asarray(initiators, dtype=np.int64)
    partners = np.asarray(partners, dtype=np.int64)
    met = partners >= 0
    i, j = initiators[met], partners[met]
    if schedule == "per_step":
        return _deffuant_at_once(x, i, j, epsilon, mu, symmetric)
    if schedule != "pairwise":
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if order is None:
        raise ValueError("the pairwise schedule needs the meetings' order")
    ranked = np.argsort(np.asarray(order)[met], kind="stable")
    i, j = i[ranked], j[ranked]
    out = x.copy()
    remaining = np.arange(len(i))
    while len(remaining):
        a, b = i[remaining], j[remaining]
        pos = np.arange(len(remaining))
        first = np.full(len(x), len(remaining), dtype=np.int64)
        np.minimum.at(first, a, pos)
        np.minimum.at(first, b, pos)
        free = (first[a] == pos) & (first[b] == pos)
        a, b = a[free], b[free]
        # disjoint meetings commute: one vectorised update gives the sequential result
        xa, xb = out[a], out[b]
        gap = xb - xa
        out[a] = np.where(np.abs(gap) < _bound(epsilon, a), xa + mu * gap, xa)
        if symmetric:
            out[b] = np.where(np.abs(gap) < _bound(epsilon, b), xb - mu * gap, xb)
        remaining = remaining[~free]
    return out


def _deffuant_at_once(
    x: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    epsilon: float | np.ndarray,
    mu: float,
    symmetric: bool,
) -> np.ndarray:
    """The ``per_step`` schedule of :func:`deffuant` (meetings without ``-1`` partners)."""
    n = len(x)
    gap = x[j] - x[i]
    move_i = np.abs(gap) < _bound(epsilon, i)
    move_j = (np.abs(gap) < _bound(epsilon, j)) if symmetric else np.zeros(len(j), dtype=bool)
    # meetings that move each agent; with distinct agents every k is 1 and the
    # steps below are exactly x_i + μ·(x_j − x_i), the update before components
    k = np.bincount(i[move_i], minlength=n) + np.bincount(j[move_j], minlength=n)
    # (a floor of 1 for meetings that move no one: their rate is never used)
    rate = mu / np.maximum(np.maximum(k[i], k[j]) if symmetric else k[i], 1)
    delta = np.bincount(i[move_i], weights=rate[move_i] * gap[move_i], minlength=n)
    if symmetric:
        delta = delta - np.bincount(j[move_j], weights=rate[move_j] * gap[move_j], minlength=n)
    return x + delta


def hegselmann_krause(
    x: np.ndarray, *, epsilon: float | np.ndarray, agents: np.ndarray | None = None
) -> np.ndarray:
    """Synchronous bounded-confidence averaging: ``x_i ← mean{x_j : |x_j − x_i| ≤ ε_i}``.

    O(N log N): the opinions are sorted once, each agent's neighbourhood is a slice
    found by binary search, and its mean comes from prefix sums (no N × N matrix).

    Parameters
    ----------
    x : ndarray of shape (n_agents,)
        Opinions (not modified); everyone's counts toward the means.
    epsilon : float or ndarray of shape (n_agents,)
        Confidence bound, shared or per agent (asymmetric confidence).
    agents : ndarray of shape (n,), optional
        Agents who update (default: all, the original model).

    Returns
    -------
    ndarray of shape (n_agents,)
        New opinions. Each mean is clipped to its neighbourhood's range, so rounding
        in the prefix sums can neither leave the range of ``x`` nor move a cluster
        that has already collapsed to one value.

    References
    ----------
    .. [1] Hegselmann, R., Krause, U. (2002). Opinion dynamics and bounded confidence:
       models, analysis and simulation. Journal of Artificial Societies and Social
       Simulation 5(3):2.

    Examples
    --------
    >>> hegselmann_krause(np.array([0.0, 0.25, 0.5, 1.0]), epsilon=0.3).tolist()
    [0.125, 0.25, 0.375, 1.0]
    """
    x = np.asarray(x, dtype=float)
    who = np.arange(len(x)) if agents is None else np.asarray(agents, dtype=np.int64)
    if len(who) == 0:
        return x.copy()
    xs = np.sort(x)
    sums = np.concatenate([[0.0], np.cumsum(xs)])
    e = _bound(epsilon, who)
    xa = x[who]
    lo = np.searchsorted(xs, xa - e, side="left")
    hi = np.searchsorted(xs, xa + e, side="right")
    mean = (sums[hi] - sums[lo]) / (hi - lo)
    out = x.copy()
    out[who] = np.clip(mean, xs[lo], xs[hi - 1])
    return out


def largest_move(
    x: np.ndarray,
    *,
    epsilon: float | np.ndarray,
    mu: float,
    social: sp.csr_matrix | None = None,
) -> float:
    """The largest opinion change one more Deffuant meeting could cause.

    ``μ·|x_j − x_i|`` over the pairs that can meet (everyone, or the ``social``
    graph's edges) with ``|x_j − x_i| < ε_i``. Below a tolerance, no meeting can move
    anyone by that much: the run has settled, whichever pairs happen to meet next
    (a step in which no opinion moved may only mean that the pairs still apart did
    not meet). O(N log N) over everyone, O(edges) on a graph.

    Parameters
    ----------
    x : ndarray of shape (n_agents,)
    epsilon : float or ndarray of shape (n_agents,)
    mu : float
    social : scipy.sparse.csr_matrix of shape (n_agents, n_agents), optional
        Only its edges can meet.

    Returns
    -------
    float

    Examples
    --------
    >>> largest_move(np.array([0.0, 0.1, 0.5, 1.0]), epsilon=0.45, mu=0.5)
    0.2
    """
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return 0.0
    if social is not None:
        rows = np.repeat(np.arange(len(x)), np.diff(social.indptr))
        gap = np.abs(x[social.indices] - x[rows])
        near = gap < _bound(epsilon, rows)
        return float(mu * gap[near].max(initial=0.0))
    xs = np.sort(x)
    e = _bound(epsilon, np.arange(len(x)))
    # the farthest agents strictly within each agent's bound, below and above it
    lo = np.searchsorted(xs, x - e, side="right")
    hi = np.searchsorted(xs, x + e, side="left") - 1
    reach = np.maximum(x - xs[np.minimum(lo, len(x) - 1)], xs[np.maximum(hi, 0)] - x)
    return float(mu * reach.max(initial=0.0))


def anchoring(x: np.ndarray, x0: np.ndarray, rho: float) -> np.ndarray:
    """Stubbornness: ``x ← x + ρ·(x0 − x)``, a pull back toward the initial opinion.

    Parameters
    ----------
    x, x0 : ndarray of shape (n,)
        Current and initial opinions of the agents that update.
    rho : float
        Stubbornness ``ρ`` in [0, 1]; 0 leaves ``x`` unchanged. The audit uses
        ``behavior.anchoring`` (0.01); ``audit.mode=dynamics`` defaults to 0, because
        any ``ρ > 0`` keeps agents from reaching a common opinion.

    Returns
    -------
    ndarray of shape (n,)

    References
    ----------
    .. [1] Friedkin, N. E., Johnsen, E. C. (1990). Social influence and opinions.
       Journal of Mathematical Sociology 15(3-4):193-206.

    Examples
    --------
    >>> anchoring(np.array([0.5]), np.array([0.0]), 0.5).tolist()
    [0.25]
    """
    return x + rho * (x0 - x)


def opinion_step(
    conf: OpinionConf,
    x: np.ndarray,
    agents: np.ndarray,
    partners: np.ndarray,
    *,
    latitude: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """One social step of the model ``conf`` names.

    Parameters
    ----------
    conf : OpinionConf
    x : ndarray of shape (n_agents,)
        Opinions (not modified).
    agents, partners : ndarray of shape (n,)
        Who takes part: ``agents[r]`` meets ``partners[r]`` (``-1``: sits this step
        out). Deffuant updates the pairs; Hegselmann–Krause moves every agent with a
        partner to the mean of everyone within its bound (the partner itself plays
        no part).
    latitude : ndarray of shape (n_agents,), optional
        Per-agent bounds, used when ``conf.epsilon`` is ``None``.
    order : ndarray of shape (n,), optional
        Order of the meetings for the ``pairwise`` schedule.

    Returns
    -------
    ndarray of shape (n_agents,)
    """
    epsilon: float | np.ndarray
    if conf.epsilon is not None:
        epsilon = conf.epsilon
    elif latitude is not None:
        epsilon = latitude
    else:
        raise ValueError("epsilon=None needs each agent's latitude")
    if conf.model == "hk":
        return hegselmann_krause(x, epsilon=epsilon, agents=agents[partners >= 0])
    return deffuant(
        x,
        agents,
        partners,
        epsilon=epsilon,
        mu=conf.mu,
        symmetric=conf.symmetric,
        schedule=conf.schedule,
        order=order,
    )
