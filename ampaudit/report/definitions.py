"""Definitions a report prints: metrics with citations, and limitations.

Kept in one place so the HTML report, the JSON transparency export and the
terminal tables define each figure the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CITATIONS", "LIMITATIONS", "METRICS", "Definition"]


@dataclass(frozen=True)
class Definition:
    """A metric as a report states it."""

    title: str
    definition: str
    citation: str


#: Sources cited by :data:`METRICS`, keyed by short label.
CITATIONS: dict[str, str] = {
    "Huszár 2022": (
        "Huszár, Ktena, O'Brien, Belli, Schlaikjer, Hardt (2022). Algorithmic amplification "
        "of politics on Twitter. PNAS 119(1):e2025334119."
    ),
    "Stray 2023": (
        "Stray, Thorburn, Bengani (2023). Algorithmic amplification: a review of "
        "definitions and measurement (Knight First Amendment Institute)."
    ),
    "Deffuant 2000": (
        "Deffuant, Neau, Amblard, Weisbuch (2000). Mixing beliefs among interacting agents. "
        "Advances in Complex Systems 3:87-98."
    ),
    "McFadden 1974": (
        "McFadden (1974). Conditional logit analysis of qualitative choice behavior. "
        "In Frontiers in Econometrics, 105-142."
    ),
    "Haroon 2023": (
        "Haroon, Chhabra, Liu, Mohapatra, Shafiq, Wojcieszak (2023). YouTube, the great "
        "radicalizer? Auditing and mitigating ideological biases in YouTube "
        "recommendations. PNAS 120(50):e2213020120."
    ),
    "Chen 2023": (
        "Chen, Nyhan, Reifler, Robertson, Wilson (2023). Subscriptions and external links "
        "help drive resentful users to alternative and extremist YouTube channels. "
        "Science Advances 9:eadd8080."
    ),
    "Christchurch Call": (
        "Christchurch Call to eliminate terrorist and violent extremist content online "
        "(2019), commitments of online service providers."
    ),
    "Student 1908": "Student (1908). The probable error of a mean. Biometrika 6(1):1-25.",
}

#: Metric key → definition. Keys are those of the comparison table and figures.
METRICS: dict[str, Definition] = {
    "rec_share.extreme": Definition(
        "Extreme share of recommendations",
        "Fraction of all recommended slate slots over the horizon that held an item whose "
        "true category is extreme. Kept separate from consumption: a recommender can show "
        "extreme items that users rarely choose.",
        "Stray 2023",
    ),
    "cons_share.extreme": Definition(
        "Extreme share of consumption",
        "Fraction of all consumed items over the horizon, through any channel (feed, "
        "follows, search), that were extreme. The harm an intervention should reduce.",
        "Stray 2023",
    ),
    "amplification.extreme": Definition(
        "Amplification of extreme reach",
        "Huszár et al.'s amplification ratio: the fraction of users recommended at least "
        "one extreme item under the arm, divided by the same fraction under the named "
        "baseline arm of the same replicate, minus 1, at the horizon. 0 means no "
        "amplification, 1.0 means twice the baseline's reach. Against a 'none' baseline "
        "(no feed) exposure through any channel is compared instead.",
        "Huszár 2022",
    ),
    "drift": Definition(
        "Opinion drift",
        "Mean opinion (0 = moderate, 1 = most extreme) at the horizon minus the mean at "
        "the start. Opinions move by bounded-confidence updates toward consumed content "
        "and met neighbours.",
        "Deffuant 2000",
    ),
    "radicalised": Definition(
        "Radicalised fraction",
        "Fraction of simulated users whose opinion is at or above the radicalisation "
        "threshold at the horizon.",
        "Deffuant 2000",
    ),
    "ctr": Definition(
        "Engagement (click-through rate)",
        "Feed items chosen over feed slates shown, over the horizon. Users choose among "
        "the slate and not clicking by a multinomial logit over utilities.",
        "McFadden 1974",
    ),
    "harm_reduced": Definition(
        "Harm reduced and engagement cost",
        "The paired difference of the extreme consumption share (intervention arm minus "
        "recommender alone, same replicate) and its confidence interval, divided by the "
        "recommender-alone mean over the same replicates, in percent; engagement cost is "
        "the same for the click-through rate. The interval treats that mean as fixed, so "
        "it understates the uncertainty when the mean itself varies much between worlds.",
        "Student 1908",
    ),
    "collateral": Definition(
        "Collateral",
        "Item-step events in which an intervention demoted, capped, hid behind an "
        "interstitial or removed a legitimate item (mainstream, news or counter-speech, "
        "by true category): the freedom-of-expression cost the Call asks to weigh.",
        "Christchurch Call",
    ),
    "wrongful_removals": Definition(
        "Wrongful removals",
        "Lawful items removed by moderation per run (some are restored on appeal).",
        "Christchurch Call",
    ),
    "group": Definition(
        "Per-group breakdown",
        "The extreme consumption share and radicalised fraction within each community of "
        "the social graph, within the at-risk minority (users who start with opinions in "
        "[0.6, 0.85], high susceptibility and appetite, counted only there) and among "
        "everyone else ('others').",
        "Chen 2023",
    ),
    "opinion_hist": Definition(
        "Opinion distribution",
        "Fraction of users per opinion bin (20 equal bins of [0, 1]) at the start and at "
        "the horizon, averaged over replicates.",
        "Deffuant 2000",
    ),
    "sock": Definition(
        "Sock-puppet depth curve",
        "Share of extreme items among the slots recommended to scripted accounts at each "
        "step of a walk that always follows a recommendation, by persona and start "
        "category, averaged over accounts and replicates.",
        "Haroon 2023",
    ),
    "interval": Definition(
        "Confidence intervals and paired differences",
        "Means over replicates (independent simulated worlds) with Student-t confidence "
        "intervals. Paired differences subtract the recommender-alone arm within each "
        "replicate: arms share the world and the users' random draws (common random "
        "numbers), so the difference is the algorithm's or intervention's, not noise.",
        "Student 1908",
    ),
}

#: Limitations every report states.
LIMITATIONS: tuple[str, ...] = (
    "This is a simulation of modelled users, not an observation of people. Its users "
    "choose by a logit model and change their opinions by a bounded-confidence model "
    "whose parameters are assumptions; results show how the audited algorithm behaves "
    "on those users, not how many real people it would radicalise.",
    "Categories are ground truth inside the simulation. Interventions do not see them: "
    "they act on a noisy classifier score (noise set by world.classifier_noise) and on "
    "hash matches, so their mistakes, including wrongful removals, are modelled; a real "
    "classifier's errors may differ in kind as well as in rate.",
    "A recommender audited over HTTP is a black box: the audit measures what it "
    "recommends to the simulated users, not how it works.",
    "Confidence intervals cover the variation between simulated worlds with the stated "
    "parameters; they do not cover uncertainty about the parameters themselves.",
)
