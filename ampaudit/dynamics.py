"""Opinion dynamics alone (``audit.mode=dynamics``): no recommender, no content.

A population of opinions, one opinion model (:mod:`ampaudit.simulations.opinion`)
and one partner selection (:class:`~ampaudit.recommenders.PeopleRecommender`) run for
``audit.n_steps`` steps or until they converge (``stop``, see :class:`DynamicsConf`),
over ``audit.replicates`` replicates. This is the bounded-confidence literature's
experiment (Deffuant et al. 2000; Hegselmann and Krause 2002; with a similarity-biased
partner choice, Sîrbu et al. 2019), run by the components the audit uses, so those
components can be checked against the papers and their effect seen without a platform.

A step: every agent initiates one meeting with the partner the people recommender
picks (from opinions at the start of the step), and the opinion model updates them;
Hegselmann–Krause instead moves everyone at once to the mean of all opinions within
``ε`` (no partners). Then anchoring pulls each agent toward its initial opinion.

Per step it records the largest opinion change, the effective number of clusters
and the mean pairwise distance; at the end, the convergence time.

Clusters are maximal runs of sorted opinions whose consecutive gaps are below
``resolution`` (default 0.001, a thousandth of the opinion axis). At convergence a
bounded-confidence model's clusters are points at least ``ε`` apart (Deffuant et al.
2000), so any resolution below ``ε`` finds the same final clusters, and a fixed
resolution, unlike a gap-of-``ε`` rule, does not call the uniform start one cluster.
The effective number of clusters is ``(Σ c)² / Σ c²`` over cluster sizes (Laakso
and Taagepera 1979): two equal clusters give 2, a 90/10 split 1.22, and stray
agents who never meet anyone barely count.

References
----------
.. [1] Deffuant, G., Neau, D., Amblard, F., Weisbuch, G. (2000). Mixing beliefs among
   interacting agents. Advances in Complex Systems 3:87-98.
.. [2] Hegselmann, R., Krause, U. (2002). Opinion dynamics and bounded confidence:
   models, analysis and simulation. Journal of Artificial Societies and Social
   Simulation 5(3):2.
.. [3] Sîrbu, A., Pedreschi, D., Giannotti, F., Kertész, J. (2019). Algorithmic bias
   amplifies opinion fragmentation and polarization: a bounded confidence model.
   PLoS ONE 14(3):e0213246.
.. [4] Laakso, M., Taagepera, R. (1979). "Effective" number of parties: a measure with
   application to West Europe. Comparative Political Studies 12(1):3-27.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ampaudit.core.errors import ConfigError, check_range
from ampaudit.core.platform import InteractionLog, ItemView, PlatformData
from ampaudit.core.seeding import replicate_streams
from ampaudit.estimands import METHODS, Estimate, level
from ampaudit.polarization import cluster_sizes, effective_clusters, mean_pairwise_distance
from ampaudit.recommenders.people import PeopleRecommender, PeopleRecommenderConf
from ampaudit.simulations import build_world
from ampaudit.simulations.opinion import OpinionConf, anchoring, largest_move, opinion_step

__all__ = [
    "INITS",
    "STOPS",
    "DynamicsConf",
    "DynamicsResult",
    "DynamicsRun",
    "dynamics_table",
    "run_dynamics",
    "simulate",
]

#: Terminal width of the printed notes (as :data:`ampaudit.summary.WIDTH`).
WIDTH = 100

#: Where the initial opinions come from.
INITS = ("uniform", "world")

#: When a run has converged (see :class:`DynamicsConf`).
STOPS = ("quiet", "settled")

#: Per-step series each replicate records (index 0: the initial opinions).
SERIES = ("max_change", "effective_clusters", "mean_pairwise_distance")


def _paper_opinion() -> OpinionConf:
    return OpinionConf(model="deffuant", epsilon=0.2, mu=0.5, symmetric=True, schedule="pairwise")


def _paper_partners() -> PeopleRecommenderConf:
    return PeopleRecommenderConf(mode="random", signal="opinion")


@dataclass
class DynamicsConf:
    """Settings of ``audit.mode=dynamics`` (the ``dynamics`` config section).

    The defaults are the papers' setup: 1,000 agents uniform on [0, 1], symmetric
    Deffuant with ``ε = 0.2``, ``μ = 0.5``, meetings one after another, random
    partners, no anchoring.

    Parameters
    ----------
    init : {"uniform", "world"}, default="uniform"
        ``uniform``: ``n_agents`` opinions uniform on [0, 1], as in the papers;
        ``world``: the population (opinions, latitudes, social graph) of the world the
        ``world`` and ``graph`` sections build (``n_agents`` is then ``world.n_users``).
    n_agents : int, default=1000
        Agents of a uniform start.
    tol : float, default=1e-6
        Convergence tolerance on opinion changes (see ``stop``).
    stop : {"quiet", "settled"}, default="quiet"
        When a run has converged and stops. ``quiet``: no opinion moved by ``tol``
        or more in a step. ``settled``: also no meeting the partner selection could
        make would move one by that much
        (:func:`~ampaudit.simulations.opinion.largest_move`), the absorbing state,
        where distinct clusters are at least ``ε`` apart. With random meetings a
        quiet step can come while a few stray agents within ``ε`` of each other have
        yet to meet (each pair about once in ``N / 2`` steps): ``quiet`` stops there,
        ``settled`` waits for them. For Hegselmann–Krause the two are the same.
        Every run records whether it ended settled. With ``anchoring > 0`` Deffuant
        keeps jittering and converges under neither.
    resolution : float, default=1e-3
        Opinions closer than this (consecutive, sorted) are one cluster.
    anchoring : float, default=0.0
        Stubbornness ``ρ`` toward the initial opinion each step; any ``ρ > 0``
        prevents consensus (the audit's ``behavior.anchoring`` is 0.01).
    opinion : OpinionConf
        The opinion model (``dynamics.opinion.*``); ``epsilon: null`` (each agent's
        latitude) needs ``init=world``.
    people : PeopleRecommenderConf
        Partner selection (``dynamics.people.*``), by default ``mode=random``; set
        ``mode=similar`` and ``gamma`` for a similarity bias on the true opinions
        (``signal=opinion``). ``signal=consumption`` sees no content here, so every
        estimate is equal and ``gamma`` has no effect. ``mode=graph`` needs
        ``init=world``.
    """

    init: str = "uniform"
    n_agents: int = 1000
    tol: float = 1e-6
    stop: str = "quiet"
    resolution: float = 1e-3
    anchoring: float = 0.0
    opinion: OpinionConf = field(default_factory=_paper_opinion)
    people: PeopleRecommenderConf = field(default_factory=_paper_partners)

    def validate(self, prefix: str = "dynamics") -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        if self.init not in INITS:
            raise ConfigError(f"{prefix}.init", self.init, f"one of {', '.join(INITS)}")
        check_range(f"{prefix}.n_agents", self.n_agents, low=2)
        check_range(f"{prefix}.tol", self.tol, low=0, low_open=True)
        if self.stop not in STOPS:
            raise ConfigError(f"{prefix}.stop", self.stop, f"one of {', '.join(STOPS)}")
        check_range(f"{prefix}.resolution", self.resolution, low=0, high=1, low_open=True)
        check_range(f"{prefix}.anchoring", self.anchoring, low=0, high=1)
        self.opinion.validate(f"{prefix}.opinion")
        if self.opinion.epsilon is None and self.init != "world":
            raise ConfigError(
                f"{prefix}.opinion.epsilon",
                None,
                f"a number in (0, 1] with {prefix}.init={self.init} "
                "(null means each agent's latitude, which only init=world has)",
            )
        people = make_partners(self.people)
        people.check_params(f"{prefix}.people")
        if people.mode == "graph" and self.init != "world":
            raise ConfigError(
                f"{prefix}.people.mode",
                "graph",
                f"random or similar with {prefix}.init={self.init} (a uniform start has "
                "no social graph; init=world has one)",
            )


def make_partners(spec: Any) -> PeopleRecommender:
    """The people recommender a ``dynamics.people`` config describes."""
    from hydra.utils import instantiate

    people: PeopleRecommender = instantiate(spec)
    return people


@dataclass
class DynamicsRun:
    """One replicate.

    Attributes
    ----------
    replicate : int
    series : dict of str to ndarray of shape (n_run + 1,)
        :data:`SERIES` per step, index 0 the initial opinions (``max_change`` NaN).
    final : dict of str to float
        ``effective_clusters``, ``mean_pairwise_distance`` and ``n_clusters`` at the
        end, ``steps`` run, ``converged`` (1 or 0), ``convergence_time`` (steps,
        NaN if not converged) and ``settled`` (1 or 0: no meeting could still move an
        opinion by ``tol`` at the end).
    x : ndarray of shape (n_agents,)
        Final opinions.
    run_id : str or None
        Its MLflow child run.
    """

    replicate: int
    series: dict[str, np.ndarray]
    final: dict[str, float]
    x: np.ndarray
    run_id: str | None = None


@dataclass
class DynamicsResult:
    """Every replicate of a dynamics run."""

    runs: list[DynamicsRun]
    entropy: int
    label: str
    n_agents: int
    n_steps: int
    tol: float
    stop: str
    resolution: float
    parent_run_id: str | None = None

    def finals(self, key: str) -> np.ndarray:
        """``final[key]`` of every replicate, in replicate order."""
        return np.array([run.final[key] for run in self.runs], dtype=float)


def describe(conf: DynamicsConf) -> str:
    """A one-line name of the opinion model and partner selection.

    Examples
    --------
    >>> describe(DynamicsConf())
    'deffuant (ε=0.2, μ=0.5, symmetric, pairwise), random partners'
    """
    o, p = conf.opinion, conf.people
    eps = "ε=latitude" if o.epsilon is None else f"ε={o.epsilon:g}"
    if o.model == "hk":
        model = f"hk ({eps})"
    else:
        side = "symmetric" if o.symmetric else "one-sided"
        model = f"deffuant ({eps}, μ={o.mu:g}, {side}, {o.schedule})"
    if o.model == "hk":
        partners = "no partners"
    elif p.mode == "similar":
        partners = f"similar partners on {p.signal} (gamma={p.gamma:g})"
    else:
        partners = f"{p.mode} partners"
    return f"{model}, {partners}"


def _platform(n_agents: int, social: sp.csr_matrix | None) -> PlatformData:
    """A platform with no content: what a people recommender sees in dynamics mode."""
    items = ItemView(
        features=np.zeros((0, 1), dtype=np.float32),
        created=np.zeros(0, dtype=np.int32),
        creator=np.zeros(0, dtype=np.int32),
        score=np.zeros(0, dtype=np.float32),
        available=np.zeros(0, dtype=bool),
    )
    return PlatformData(
        step=0,
        n_users=n_agents,
        items=items,
        log=InteractionLog(n_agents),
        follows=sp.csr_matrix((n_agents, 0), dtype=np.float32),
        social=social,
    )


def _measures(x: np.ndarray, resolution: float) -> tuple[float, float, int]:
    sizes = cluster_sizes(x, resolution=resolution)
    return effective_clusters(sizes), mean_pairwise_distance(x), len(sizes)


def _settled(
    x: np.ndarray,
    conf: DynamicsConf,
    people: PeopleRecommender,
    latitude: np.ndarray | None,
    social: sp.csr_matrix | None,
) -> bool:
    """Whether no meeting could still move an opinion by ``tol`` (HK: its step is exact)."""
    o = conf.opinion
    if o.model == "hk":
        return True
    epsilon = o.epsilon if o.epsilon is not None else latitude
    assert epsilon is not None  # validated: a null epsilon comes with a world's latitudes
    graph = social if people.mode == "graph" else None
    return largest_move(x, epsilon=epsilon, mu=o.mu, social=graph) < conf.tol


def simulate(
    x0: np.ndarray,
    *,
    conf: DynamicsConf,
    n_steps: int,
    rng: np.random.Generator,
    latitude: np.ndarray | None = None,
    social: sp.csr_matrix | None = None,
    progress: Callable[[], Any] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray]:
    """Run one replicate's opinion dynamics from ``x0``.

    Parameters
    ----------
    x0 : ndarray of shape (n_agents,)
        Initial opinions (also the anchors).
    conf : DynamicsConf
    n_steps : int
        Most steps to run.
    rng : numpy.random.Generator
        The replicate's ``behavior`` stream. A Deffuant step draws the people
        recommender's fixed number of uniforms for ``n_agents`` initiators, then
        ``n_agents`` uniforms that order the meetings; Hegselmann–Krause draws none.
    latitude : ndarray of shape (n_agents,), optional
        Per-agent bounds, for ``opinion.epsilon=None``.
    social : scipy.sparse.csr_matrix, optional
        The social graph, for ``people.mode=graph``.
    progress : callable, optional
        Called after each step.

    Returns
    -------
    series, final, x
        As in :class:`DynamicsRun`.
    """
    people = make_partners(conf.people)
    n = len(x0)
    agents = np.arange(n)
    data = _platform(n, social)
    x = np.asarray(x0, dtype=float).copy()
    series = {key: np.full(n_steps + 1, np.nan) for key in SERIES}
    series["effective_clusters"][0], series["mean_pairwise_distance"][0], _ = _measures(
        x, conf.resolution
    )
    converged_at = math.nan
    t = 0
    while t < n_steps:
        if conf.opinion.model == "hk":
            partners, order = agents, None  # everyone averages, no meetings
        else:
            truth = x if people.privileged else None
            partners = people.peers(agents, data, rng=rng, opinions=truth)
            order = rng.random(n)
        new = opinion_step(conf.opinion, x, agents, partners, latitude=latitude, order=order)
        new = anchoring(new, x0, conf.anchoring)
        change = float(np.abs(new - x).max())
        x = new
        t += 1
        series["max_change"][t] = change
        series["effective_clusters"][t], series["mean_pairwise_distance"][t], _ = _measures(
            x, conf.resolution
        )
        if progress is not None:
            progress()
        quiet = change < conf.tol
        if quiet and (conf.stop == "quiet" or _settled(x, conf, people, latitude, social)):
            converged_at = float(t)
            break
    series = {key: values[: t + 1] for key, values in series.items()}
    n_eff, mpd, n_clusters = _measures(x, conf.resolution)
    final = {
        "effective_clusters": n_eff,
        "mean_pairwise_distance": mpd,
        "n_clusters": float(n_clusters),
        "steps": float(t),
        "converged": float(not math.isnan(converged_at)),
        "convergence_time": converged_at,
        "settled": float(_settled(x, conf, people, latitude, social)),
    }
    return series, final, x


def run_dynamics(
    conf: Any,
    *,
    entropy: int,
    tracker: Any = None,
    params: dict[str, str] | None = None,
    overrides: list[str] | None = None,
    extra_tags: dict[str, str] | None = None,
    config_yaml: str | None = None,
    progress: Callable[[], Any] | None = None,
) -> DynamicsResult:
    """Run ``audit.replicates`` replicates of the dynamics ``conf`` (a validated RunConf).

    Replicate ``r`` draws its initial opinions (or builds its world) from the
    ``world`` stream of :func:`~ampaudit.core.seeding.replicate_streams` and its
    meetings from the ``behavior`` stream. With a ``tracker``, the run is a parent
    run with one child per replicate (like :func:`ampaudit.sockpuppet.run_sock_puppets`),
    tagged ``mode=dynamics``.
    """
    from ampaudit.tracking import parent_tags, provenance_tags

    d, a = conf.dynamics, conf.audit
    label = describe(d)
    tags = {"mode": "dynamics", "opinion_model": d.opinion.model, **provenance_tags(entropy)}
    params = params or {}
    n_agents = conf.world.n_users if d.init == "world" else d.n_agents
    result = DynamicsResult(
        runs=[],
        entropy=entropy,
        label=label,
        n_agents=n_agents,
        n_steps=a.n_steps,
        tol=d.tol,
        stop=d.stop,
        resolution=d.resolution,
    )
    try:
        if tracker is not None:
            only_parent = parent_tags(entropy, seed=conf.seed, params=params, overrides=overrides)
            result.parent_run_id = tracker.start_parent(
                f"dynamics: {label}", params, {**tags, **only_parent, **(extra_tags or {})}
            )
            if config_yaml:
                tracker.log_text(result.parent_run_id, config_yaml, "config.yaml")
        for r in range(a.replicates):
            streams = replicate_streams(entropy, r)
            world_rng = np.random.default_rng(streams["world"])
            latitude = social = None
            if d.init == "world":
                world = build_world(conf.world, conf.graph, n_steps=1, rng=world_rng)
                x0 = world.population.x.copy()
                latitude, social = world.population.latitude, world.adjacency
            else:
                x0 = world_rng.random(d.n_agents)
            series, final, x = simulate(
                x0,
                conf=d,
                n_steps=a.n_steps,
                rng=np.random.default_rng(streams["behavior"]),
                latitude=latitude,
                social=social,
                progress=progress,
            )
            if progress is not None:
                for _ in range(a.n_steps - int(final["steps"])):
                    progress()  # a converged replicate skips its remaining steps
            run = DynamicsRun(r, series, final, x)
            if tracker is not None and result.parent_run_id is not None:
                run.run_id = tracker.start_child(
                    result.parent_run_id,
                    f"dynamics/r{r}",
                    params,
                    {**tags, "arm": "dynamics", "replicate": str(r)},
                )
                tracker.log_series(
                    run.run_id, {f"dynamics.{k}": v for k, v in series.items()}, final
                )
                tracker.end(run.run_id)
            result.runs.append(run)
        if tracker is not None and result.parent_run_id is not None:
            tracker.log_values(result.parent_run_id, _summary(result, a.confidence))
            tracker.end(result.parent_run_id)
    except BaseException as exc:
        if tracker is not None:
            tracker.end_after_error(exc)
        raise
    return result


def _estimates(result: DynamicsResult, confidence: float) -> dict[str, Estimate | None]:
    """The printed quantities over replicates, each on its scale (see :data:`METHODS`)."""
    converged = result.finals("converged") > 0
    return {
        "effective_clusters": level(
            result.finals("effective_clusters"), "count", confidence=confidence
        ),
        # a distance on the [0, 1] opinion axis: its interval is kept in [0, 1]
        "mean_pairwise_distance": level(
            result.finals("mean_pairwise_distance"), "share", confidence=confidence
        ),
        "convergence_time": level(
            result.finals("convergence_time")[converged], "count", confidence=confidence
        ),
    }


def _summary(result: DynamicsResult, confidence: float) -> dict[str, float]:
    """Parent-run values: each estimate's mean and interval, and replicates converged."""
    out = {
        "summary.converged": float(result.finals("converged").sum()),
        "summary.settled": float(result.finals("settled").sum()),
    }
    for key, est in _estimates(result, confidence).items():
        if est is not None:
            out[f"summary.{key}.mean"] = est.mean
            out[f"summary.{key}.low"] = est.low
            out[f"summary.{key}.high"] = est.high
    return out


def _rule(stop: str, tol: float) -> str:
    """The convergence rule ``stop`` in words."""
    if stop == "settled":
        return f"no opinion moved, and no meeting could move one, by {tol:g} or more"
    return f"no opinion moved by {tol:g} or more in a step"


def _num(value: float, digits: int) -> str:
    """``value`` to ``digits`` decimals, or two significant digits if that would show 0."""
    if 0 < abs(value) < 10.0**-digits:
        return f"{value:.2g}"
    return f"{value:.{digits}f}"


def _cell(est: Estimate | None, digits: int) -> str:
    if est is None:
        return "-"
    mean = _num(est.mean, digits)
    if not est.has_interval:
        return f"{mean} (one replicate)" if est.n < 2 else f"{mean} (same in every replicate)"
    return f"{mean} [{_num(est.low, digits)}, {_num(est.high, digits)}]"


def dynamics_table(result: DynamicsResult, *, confidence: float = 0.95) -> str:
    """What ``ampaudit run audit.mode=dynamics`` prints: final state and convergence."""
    from ampaudit.summary import text_table  # summary → audit → config → this module

    est = _estimates(result, confidence)
    n = len(result.runs)
    n_conv = int(result.finals("converged").sum())
    n_settled = int(result.finals("settled").sum())
    level_pct = f"{confidence:.0%}"
    rows = [
        ["quantity", f"mean [{level_pct} CI] over {n} replicates"],
        ["effective clusters (end)", _cell(est["effective_clusters"], 2)],
        ["mean pairwise distance (end)", _cell(est["mean_pairwise_distance"], 3)],
    ]
    time_label = "convergence time (steps)"
    if 0 < n_conv < n:
        time_label = f"convergence time (steps, {n_conv} converged)"
    rows.append([time_label, _cell(est["convergence_time"], 1) if n_conv else "not converged"])
    lines = [*textwrap.wrap(f"Opinion dynamics: {result.label}", WIDTH), ""]
    lines += text_table(rows)
    notes = [
        f"Converged ({_rule(result.stop, result.tol)}) in {n_conv} of {n} replicates within "
        f"{result.n_steps} steps; {result.n_agents:,} agents. Settled at the end (no meeting "
        f"could still move an opinion by {result.tol:g} or more): {n_settled} of {n}.",
        f"Clusters: sorted opinions split at gaps of {result.resolution:g} or more; effective "
        "number (Σ c)² / Σ c² over cluster sizes (Laakso & Taagepera 1979).",
        f"Effective clusters and convergence time are counts: {METHODS['count']}.",
        f"Mean pairwise distance lies on the [0, 1] opinion axis: {METHODS['share']}.",
    ]
    lines.append("")
    lines += [line for note in notes for line in textwrap.wrap(note, WIDTH)]
    return "\n".join(lines)
