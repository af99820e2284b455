"""Audit metrics: published definitions, computed from a run's :class:`~ampaudit.core.Trace`.

Every function is pure. Per-step series are keyed ``family.category`` (e.g.
``rec_share.extreme``) so they log to MLflow as-is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ampaudit.core.categories import CATEGORIES, CHANNELS, EXTREME
from ampaudit.core.intervention import ACTION_KINDS, UndeclaredActionError
from ampaudit.core.trace import Trace
from ampaudit.polarization import (
    bimodality_coefficient,
    entropy,
    esteban_ray,
    mean_pairwise_distance,
)

__all__ = [
    "RelativeAmplification",
    "amplification_ratio",
    "exposure_share",
    "final_metrics",
    "gini",
    "group_amplification",
    "group_metrics",
    "half_share",
    "individual_amplification",
    "intervention_costs",
    "opinion_histogram",
    "reach",
    "relative_amplification",
    "step_metrics",
    "survival_curve",
]

#: Bins of the opinion histograms (``opinion_hist.start|end.bNN``) over [0, 1].
OPINION_BINS = 20
#: Categories of legitimate content: acting on them is collateral.
LEGITIMATE = ("mainstream", "news", "counter")

#: Categories whose per-channel consumption share is tracked per step.
CHANNEL_TRACKED = ("borderline", "extreme")


def _ratio(num: np.ndarray | float, den: np.ndarray | float, empty: float) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, empty)
    np.divide(num, den, out=out, where=den != 0)
    return out


def exposure_share(counts: np.ndarray) -> np.ndarray:
    """Share of each category in ``counts`` along the last axis.

    Used for recommendation share (slate slots) and consumption share (consumed
    items); keep the two separate. Rows with no counts give all zeros.

    Parameters
    ----------
    counts : ndarray of shape (..., n_categories)

    Returns
    -------
    ndarray of the same shape; each non-empty row sums to 1.

    Examples
    --------
    >>> exposure_share(np.array([[1, 3], [0, 0]])).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    counts = np.asarray(counts, dtype=float)
    return _ratio(counts, counts.sum(axis=-1, keepdims=True), 0.0)


def reach(users_reached: np.ndarray | float, n_users: int) -> np.ndarray:
    """Fraction of users with at least one exposure so far (cumulative counts in)."""
    return _ratio(users_reached, n_users, 0.0)


def amplification_ratio(
    reached_treatment: np.ndarray | float,
    n_treatment: int,
    reached_control: np.ndarray | float,
    n_control: int,
) -> np.ndarray:
    """Amplification of a content set under treatment relative to control.

    ``a = [r_T(trt) / |trt|] / [r_T(ctl) / |ctl|] − 1``, where ``r_T`` counts users
    with at least one impression of an item in the set ``T``. Exactly 0 when the
    rates are equal (both zero included); ``NaN`` when only the control reached
    nobody (undefined, not infinite). Always report it with its
    baseline (the control) and horizon.

    Parameters
    ----------
    reached_treatment, reached_control : array_like
        Users reached in each arm (per step or final).
    n_treatment, n_control : int
        Users in each arm.

    Returns
    -------
    ndarray
        0 means no amplification; 2.0 means 200%.

    References
    ----------
    .. [1] Huszár, Ktena, O'Brien, Belli, Schlaikjer, Hardt (2022). Algorithmic
       amplification of politics on Twitter. PNAS 119(1):e2025334119.

    Examples
    --------
    >>> float(amplification_ratio(300, 1000, 20, 200))
    2.0
    """
    # cross-multiplied, so integer counts give exact ratios (300·200 / (20·1000) = 3)
    num = np.asarray(reached_treatment, dtype=float) * n_control
    den = np.asarray(reached_control, dtype=float) * n_treatment
    # equal rates are no amplification, even when both arms reached nobody
    return np.where(num == den, 0.0, _ratio(num, den, np.nan) - 1.0)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (e.g. exposures per item or user).

    ``G = Σ_i (2i − n − 1)·v_(i) / (n·Σ v)`` over sorted values; 0 when all are
    equal, ``(n − 1)/n`` when one holds everything, 0 for an all-zero input.

    References
    ----------
    .. [1] Gini (1912). Variabilità e mutabilità.

    Examples
    --------
    >>> gini(np.array([1.0, 1.0, 1.0]))
    0.0
    >>> gini(np.array([0.0, 0.0, 0.0, 5.0]))
    0.75
    """
    v = np.sort(np.asarray(values, dtype=float).ravel())
    n, total = len(v), v.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * v) / (n * total))


def half_share(values: np.ndarray) -> float:
    """Smallest share of units that together hold at least half of the total.

    Units are sorted by value, largest first; the result is ``k / n`` for the
    smallest ``k`` whose top-``k`` sum is at least half of the sum of all ``n``
    values: the "fraction of users accounting for half of all consumption" of a
    concentration (Lorenz) curve read at 50%. In [0, 1]: ``1/n`` when one unit
    holds at least half, ``1/2`` when all are equal (``n`` even), 0 for an empty
    or all-zero input (nobody is needed to account for half of nothing).

    Parameters
    ----------
    values : array_like of shape (n,)
        Non-negative amounts per unit (e.g. extreme items consumed per user).

    Returns
    -------
    float

    References
    ----------
    .. [1] Chen, Nyhan, Reifler, Robertson, Wilson (2023). Subscriptions and external
       links help drive resentful users to alternative and extremist YouTube channels.
       Science Advances 9:eadd8080 (concentration of exposure: "less than 2% of users"
       account for most views of fringe channels).
    .. [2] Lorenz (1905). Methods of measuring the concentration of wealth.
       Publications of the American Statistical Association 9(70):209-219.

    Examples
    --------
    >>> half_share(np.array([0, 0, 0, 10]))
    0.25
    >>> half_share(np.array([1, 1, 1, 1]))
    0.5
    >>> half_share(np.array([5, 3, 1, 1]))
    0.25
    """
    v = np.sort(np.asarray(values, dtype=float).ravel())[::-1]
    total = v.sum()
    if len(v) == 0 or total == 0:
        return 0.0
    # the first k whose running sum reaches half; the tolerance absorbs rounding in cumsum
    k = int(np.searchsorted(np.cumsum(v), 0.5 * total * (1 - 1e-12))) + 1
    return k / len(v)


def step_metrics(trace: Trace) -> dict[str, np.ndarray]:
    """Per-step series of one run (each of shape ``(n_steps,)``).

    Keys: ``rec_share.<cat>`` (share of slate slots), ``cons_share.<cat>``
    (share of consumed items, all channels), ``cons_share.<channel>.<cat>`` for
    borderline and extreme (share of the channel's consumption in the category)
    and ``cons_via.<channel>.<cat>`` (share of the category's consumption that
    came through the channel), ``reach.<cat>`` (exposed by any channel so far),
    ``rec_reach.<cat>`` (recommended at least once so far), ``cons_reach.<cat>``
    (consumed at least once so far), ``mean_opinion``,
    ``drift`` (mean opinion minus its start), ``radicalised`` and
    ``newly_radicalised`` (fractions of users), ``ctr`` (clicks per slate shown),
    ``utility`` (mean realised utility per active user).
    """
    n = trace.n_users
    out: dict[str, np.ndarray] = {}
    rec = exposure_share(trace.rec_slots)
    cons = exposure_share(trace.consumed.sum(axis=1))
    by_channel = exposure_share(trace.consumed)
    for c, name in enumerate(CATEGORIES):
        out[f"rec_share.{name}"] = rec[:, c]
        out[f"cons_share.{name}"] = cons[:, c]
    via = exposure_share(np.moveaxis(trace.consumed, 1, 2))  # (steps, cat, channel)
    for name in CHANNEL_TRACKED:
        c = CATEGORIES.index(name)
        for h, channel in enumerate(CHANNELS):
            out[f"cons_share.{channel}.{name}"] = by_channel[:, h, c]
            out[f"cons_via.{channel}.{name}"] = via[:, c, h]
    for c, name in enumerate(CATEGORIES):
        out[f"reach.{name}"] = reach(trace.reach[:, c], n)
        out[f"rec_reach.{name}"] = reach(trace.rec_reach[:, c], n)
        out[f"cons_reach.{name}"] = reach(trace.cons_reach[:, c], n)
    out["mean_opinion"] = trace.mean_opinion.copy()
    out["drift"] = trace.mean_opinion - float(trace.x0.mean())
    out["radicalised"] = reach(trace.radicalised, n)
    out["newly_radicalised"] = reach(trace.newly_radicalised, n)
    out["ctr"] = _ratio(trace.clicks, trace.slates, 0.0)
    out["utility"] = _ratio(trace.utility, trace.n_active, 0.0)
    if trace.radicalised_at is not None:
        # over every user: those radical from the start hold -1 and never count as events
        out["not_yet_radicalised"] = survival_curve(trace.radicalised_at, trace.n_steps)
    out.update({f"extra.{k}": v.copy() for k, v in trace.extra.items()})
    return out


def final_metrics(trace: Trace) -> dict[str, float]:
    """Horizon-level values of one run.

    Shares are over the whole horizon (all slots or consumed items of all steps);
    reach, drift and radicalised fractions are at the last step
    (``radicalised_start``: the fraction radicalised before the first step); ``ctr`` and
    ``utility`` are horizon totals over their denominators;
    ``gini.extreme_consumption`` is the Gini of extreme items consumed per user and
    ``extreme_consumption.half_share`` the smallest share of users that consumed half
    of all extreme items (:func:`half_share`),
    ``gini.item_exposure`` and ``gini.creator_exposure`` of recommendation
    impressions per item and per creator; ``cons_via.<channel>.<cat>`` is the
    share of a category's consumption that came through each channel.
    """
    n = trace.n_users
    out: dict[str, float] = {}
    rec = exposure_share(trace.rec_slots.sum(axis=0))
    consumed = trace.consumed.sum(axis=0)
    cons = exposure_share(consumed.sum(axis=0))
    by_channel = exposure_share(consumed)
    for c, name in enumerate(CATEGORIES):
        out[f"rec_share.{name}"] = float(rec[c])
        out[f"cons_share.{name}"] = float(cons[c])
        out[f"reach.{name}"] = float(reach(trace.reach[-1, c], n))
        out[f"rec_reach.{name}"] = float(reach(trace.rec_reach[-1, c], n))
        out[f"cons_reach.{name}"] = float(reach(trace.cons_reach[-1, c], n))
    via = exposure_share(consumed.T)  # (cat, channel)
    for name in CHANNEL_TRACKED:
        c = CATEGORIES.index(name)
        for h, channel in enumerate(CHANNELS):
            out[f"cons_share.{channel}.{name}"] = float(by_channel[h, c])
            out[f"cons_via.{channel}.{name}"] = float(via[c, h])
    out["n_users"] = float(n)
    out["mean_opinion"] = float(trace.mean_opinion[-1])
    out["drift"] = float(trace.mean_opinion[-1] - trace.x0.mean())
    out["radicalised"] = float(reach(trace.radicalised[-1], n))
    out["newly_radicalised"] = float(reach(trace.newly_radicalised[-1], n))
    # distance from the centre: |x| is x on a one-sided axis
    out["radicalised_start"] = float(reach((abs(trace.x0) >= trace.radical_threshold).sum(), n))
    out["ctr"] = float(_ratio(trace.clicks.sum(), trace.slates.sum(), 0.0))
    out["utility"] = float(_ratio(trace.utility.sum(), trace.n_active.sum(), 0.0))
    out["gini.extreme_consumption"] = gini(trace.extreme_consumed)
    out["extreme_consumption.half_share"] = half_share(trace.extreme_consumed)
    out.update(group_metrics(trace))
    # polarisation of final opinions and diversity of consumption (ampaudit.polarization)
    out["polarization.variance"] = float(np.var(trace.x))
    out["polarization.bimodality"] = bimodality_coefficient(trace.x)
    out["polarization.esteban_ray"] = esteban_ray(trace.x, span=trace.opinion_range)
    out["polarization.mean_pairwise_distance"] = mean_pairwise_distance(trace.x)
    out["diversity.category_entropy"] = entropy(consumed.sum(axis=0))
    out["gini.item_exposure"] = gini(trace.item_impressions)
    for key, values in trace.extra.items():
        measured = values[np.isfinite(values)]
        if len(measured):
            out[f"extra.{key}"] = float(measured[-1])
    if trace.crisis_items is not None and len(trace.crisis_items):
        out["crisis.impressions"] = float(trace.item_impressions[trace.crisis_items].sum())
        out["crisis.consumed"] = float(trace.crisis_consumed)
    out["gini.creator_exposure"] = gini(trace.creator_impressions)
    for when, x in (("start", trace.x0), ("end", trace.x)):
        for b, share in enumerate(opinion_histogram(x, span=trace.opinion_range)):
            out[f"opinion_hist.{when}.b{b:02d}"] = float(share)
    out.update(intervention_costs(trace.actions, trace.action_kinds))
    assert CATEGORIES[EXTREME] == "extreme"
    return out


def opinion_histogram(
    x: np.ndarray, n_bins: int = OPINION_BINS, *, span: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """Fraction of users per equal-width opinion bin over the axis ``span`` (default [0, 1]).

    Examples
    --------
    >>> opinion_histogram(np.array([0.0, 0.1, 0.6, 1.0]), n_bins=2).tolist()
    [0.5, 0.5]
    """
    counts, _ = np.histogram(x, bins=n_bins, range=span)
    return counts / max(len(x), 1)


def intervention_costs(
    actions: Mapping[str, np.ndarray], kinds: Mapping[str, str]
) -> dict[str, float]:
    """Expression costs of a run's interventions over the horizon.

    ``collateral`` counts item-step events in which an intervention took a legitimate
    item (mainstream, news, counter-speech, by true category) away from users with an
    action it declares ``restrictive`` (demoted, capped, hid behind an interstitial,
    removed); ``collateral.<cat>`` splits it. ``wrongful_removals`` counts lawful
    items removed by moderation (actions named ``wrongful_removal``) and ``restored``
    those put back on appeal (actions named ``restored``). Arms without interventions
    get zeros, so every arm has a cost.

    Parameters
    ----------
    actions : mapping of str to ndarray of shape (n_steps, n_categories)
        ``Trace.actions``: counts keyed ``<intervention>.<action>``.
    kinds : mapping of str to str
        ``Trace.action_kinds``: the declared kind of every key of ``actions``.

    Raises
    ------
    UndeclaredActionError
        For an action without a declared kind: it would otherwise count as no cost.
    """
    out = {f"collateral.{cat}": 0.0 for cat in LEGITIMATE}
    out["wrongful_removals"] = out["restored"] = 0.0
    for key, counts in actions.items():
        action = key.rsplit(".", 1)[-1]
        kind = kinds.get(key)
        if kind not in ACTION_KINDS:
            declared = "no declared kind" if kind is None else f"the unknown kind {kind!r}"
            raise UndeclaredActionError(
                f"action {key!r} has {declared}: an intervention declares every action it "
                f"records in its `actions`, as one of {', '.join(ACTION_KINDS)}"
            )
        totals = counts.sum(axis=0)
        if kind == "restrictive":
            for cat in LEGITIMATE:
                out[f"collateral.{cat}"] += float(totals[CATEGORIES.index(cat)])
        elif action == "wrongful_removal":
            out["wrongful_removals"] += float(totals.sum())
        elif action == "restored":
            out["restored"] += float(totals.sum())
    out["collateral"] = sum(out[f"collateral.{cat}"] for cat in LEGITIMATE)
    return out


def group_amplification(exposed_treatment: np.ndarray, exposed_control: np.ndarray) -> float:
    """Amplification of a content *set*: users reached by any of its members.

    Parameters
    ----------
    exposed_treatment, exposed_control : ndarray of shape (n_users_arm, n_members), bool
        Whether each user of the arm saw each member (item or creator) of the set.

    References
    ----------
    .. [1] Huszár et al. (2022), group-level amplification.
    """
    return float(
        amplification_ratio(
            exposed_treatment.any(axis=1).sum(),
            len(exposed_treatment),
            exposed_control.any(axis=1).sum(),
            len(exposed_control),
        )
    )


def individual_amplification(
    exposed_treatment: np.ndarray, exposed_control: np.ndarray
) -> np.ndarray:
    """Amplification of each member of a set on its own (per item or creator).

    The mean of these can differ from :func:`group_amplification`: the set's reach
    depends on how members' audiences overlap, individual ratios do not.

    Returns
    -------
    ndarray of shape (n_members,)

    Examples
    --------
    >>> t = np.array([[1, 1], [0, 0], [0, 0], [0, 0]], bool)   # same users see both
    >>> c = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], bool)   # different users
    >>> individual_amplification(t, c).tolist(), group_amplification(t, c)
    ([0.0, 0.0], -0.5)
    """
    return amplification_ratio(
        exposed_treatment.sum(axis=0),
        len(exposed_treatment),
        exposed_control.sum(axis=0),
        len(exposed_control),
    )


@dataclass(frozen=True)
class RelativeAmplification:
    """A change in an outcome under an algorithm against a *named* baseline.

    Attributes
    ----------
    value : float
        ``treatment / baseline − 1``.
    content_set, baseline, outcome, horizon : str
        What was counted, against what, how, and over which period.
    """

    value: float
    content_set: str
    baseline: str
    outcome: str
    horizon: str

    def __str__(self) -> str:
        return (
            f"{self.value:+.1%} {self.outcome} of {self.content_set} vs. {self.baseline} "
            f"over {self.horizon}"
        )


def relative_amplification(
    treatment: float,
    baseline_value: float,
    *,
    content_set: str,
    baseline: str,
    outcome: str,
    horizon: str,
) -> RelativeAmplification:
    """Relative amplification (Stray, Thorburn, Bengani 2023), refusing to omit context.

    Raises
    ------
    ValueError
        If the baseline, content set, outcome or horizon is not stated.

    References
    ----------
    .. [1] Stray, Thorburn, Bengani (2023), on measuring algorithmic amplification: a
       change in impressions of a content set under an algorithm against a baseline,
       meaningful only with the content set, baseline, outcome and horizon stated.
    """
    for name, value in (
        ("baseline", baseline),
        ("content_set", content_set),
        ("outcome", outcome),
        ("horizon", horizon),
    ):
        if not value or not str(value).strip():
            raise ValueError(f"relative amplification needs a named {name}")
    ratio = float(_ratio(treatment, baseline_value, np.nan)) - 1.0
    return RelativeAmplification(ratio, content_set, baseline, outcome, horizon)


def survival_curve(radicalised_at: np.ndarray, n_steps: int) -> np.ndarray:
    """Share of users not yet radicalised after each step (time to radicalisation).

    Parameters
    ----------
    radicalised_at : ndarray of shape (n_users,)
        Step at which each user first reached the threshold; -1 for never, and for
        users radical from the start (who stay in the denominator).

    Returns
    -------
    ndarray of shape (n_steps,)

    Examples
    --------
    >>> survival_curve(np.array([-1, 0, 2, -1]), 3).tolist()
    [0.75, 0.75, 0.5]
    """
    at = np.asarray(radicalised_at)
    n = len(at)
    if n == 0:
        return np.ones(n_steps)
    events = np.bincount(at[at >= 0], minlength=n_steps)[:n_steps]
    return 1.0 - np.cumsum(events) / n


def group_metrics(trace: Trace) -> dict[str, float]:
    """Final metrics per user group: ``group.<g>.<metric>``.

    Groups are the communities (``community<c>``), the at-risk minority
    (``at_risk``, counted only there) and everyone else (``others``: all
    communities together). Metrics: extreme consumption share, drift of mean
    opinion, and the fraction at or above the run's radicalisation threshold.
    """
    if trace.groups is None or trace.consumed_by_group is None:
        return {}
    out: dict[str, float] = {}
    n_groups = trace.consumed_by_group.shape[0]
    at_risk = n_groups - 1
    groups = [(f"community{g}", [g]) for g in range(at_risk)]
    groups += [("at_risk", [at_risk]), ("others", list(range(at_risk)))]
    for name, members_of in groups:
        members = np.isin(trace.groups, members_of)
        if not members.any():
            continue
        cons = exposure_share(trace.consumed_by_group[members_of].sum(axis=(0, 1)))
        out[f"group.{name}.cons_share.extreme"] = float(cons[EXTREME])
        out[f"group.{name}.drift"] = float(trace.x[members].mean() - trace.x0[members].mean())
        out[f"group.{name}.radicalised"] = float(
            (abs(trace.x[members]) >= trace.radical_threshold).mean()
        )
    return out
