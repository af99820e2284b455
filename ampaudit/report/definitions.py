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
    "Agresti 2013": (
        "Agresti (2013). Categorical Data Analysis, 3rd ed. Wiley: logit-scale intervals "
        "and the delta method (§1.4, §16.1)."
    ),
    "Hirschberg 2010": (
        "Hirschberg, Lye (2010). A geometric comparison of the delta and Fieller "
        "confidence intervals. The American Statistician 64(3):234-241."
    ),
    "Mandelkern 2002": (
        "Mandelkern (2002). Setting confidence intervals for bounded parameters. "
        "Statistical Science 17(2):149-172."
    ),
    "Lakens 2017": (
        "Lakens (2017). Equivalence tests: a practical primer for t tests, correlations, "
        "and meta-analyses. Social Psychological and Personality Science 8(4):355-362."
    ),
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
    "reach_gain.extreme": Definition(
        "Extreme reach vs. baseline (users per 1,000)",
        "Users per 1,000 recommended at least one extreme item under the arm, minus the "
        "same under the named baseline arm of the same replicate, at the horizon (against "
        "a 'none' baseline, exposure through any channel). The headline comparison: unlike "
        "the ratio it exists when the baseline reaches almost nobody, and a panel can weigh "
        "it against a population's size. Paired by replicate; Student-t interval, cut to "
        "the possible range [-1,000, +1,000].",
        "Huszár 2022",
    ),
    "amplification.extreme": Definition(
        "Amplification of extreme reach",
        "Huszár et al.'s amplification ratio: the fraction of users recommended at least "
        "one extreme item under the arm, divided by the same fraction under the named "
        "baseline arm, minus 1, at the horizon, shown in percent (+100% means twice the "
        "baseline's reach; -100% is its floor). Over replicates it is the ratio of mean "
        "reaches, with a Student-t interval on its logarithm (delta method over paired "
        "replicates), so the interval never crosses -100%. It is not reported when the "
        "baseline reached fewer than 10 users per replicate: a ratio over so few is "
        "unstable. Against a 'none' baseline (no feed) exposure through any channel is "
        "compared instead.",
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
        "One minus the ratio of the mean extreme consumption share under the intervention "
        "arm to that under the recommender alone over the same replicates, in percent "
        "(at most 100%); engagement cost is the same for the click-through rate. The "
        "interval is Student-t on the log of the ratio of means with the delta-method "
        "variance of paired replicates, mapped back, so it never claims more than a 100% "
        "reduction.",
        "Hirschberg 2010",
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
        "category, averaged over accounts and replicates. Each account walks its own copy "
        "of the platform frozen after a warm-up of the ordinary population, so accounts "
        "never see each other (unless the audit sets isolation=shared). A pick's utility "
        "rank is the number of visible items the account's own tastes prefer to it "
        "(0 = its favourite).",
        "Haroon 2023",
    ),
    "interval": Definition(
        "Confidence intervals and paired differences",
        "Each figure's interval is built on its own scale, over replicates (independent "
        "simulated worlds), so it cannot leave the figure's possible range: shares "
        "(Student-t on the logit of the mean, delta method: always within 0-100%); counts "
        "(the same on the log scale: never below 0); ratios such as amplification and "
        "relative reductions (the paired ratio of means with a Student-t interval on its "
        "log: never below -100%); paired differences (Student-t, valid for a difference of "
        "means, cut to the possible range, which cannot lower its coverage). Paired "
        "differences subtract another arm within each replicate: arms share the world and "
        "the users' random draws (common random numbers), so the difference is the "
        "algorithm's or intervention's, not noise. From a single replicate, or the same "
        "value in every replicate, no interval is claimed.",
        "Agresti 2013",
    ),
    "verdict": Definition(
        "Verdicts",
        "A verdict reads a comparison's interval: 'increases' or 'decreases' when it "
        "excludes no change; 'no measurable change' when it lies within the smallest "
        "change that matters (10% of the baseline's level, at least 0.1 percentage point "
        "for a share and 1 per 1,000 for reach; 10% for a ratio; 0.005 for drift), an "
        "equivalence test at the same level; otherwise 'inconclusive', with the replicates "
        "a conclusive answer would need at 80% power if the effect is as estimated.",
        "Lakens 2017",
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
