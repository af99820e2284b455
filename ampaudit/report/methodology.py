"""The methodology section, generated from the audit's resolved configuration.

Each parameter is printed with its value and the description from the docstring
of the class that uses it, so the text cannot drift from the code.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Section", "methodology", "parameter_docs"]

#: Config group → the class whose numpydoc ``Parameters`` describe its fields.
GROUP_CLASSES: dict[str, str] = {
    "world": "ampaudit.simulations.world.WorldConf",
    "graph": "ampaudit.simulations.graphs.GraphConf",
    "behavior": "ampaudit.simulations.behavior.BehaviorConf",
    "people": "ampaudit.recommenders.people.PeopleRecommender",
    "audit": "ampaudit.config.AuditSection",
}


@dataclass(frozen=True)
class Section:
    """One part of the methodology: a paragraph and the parameters behind it."""

    title: str
    text: str
    parameters: tuple[tuple[str, str, str], ...] = ()


_PARAM = re.compile(r"^(\w[\w, ]*?)\s*:\s*(.*)$")


def parameter_docs(obj: Any) -> dict[str, str]:
    """Parameter descriptions from an object's numpydoc ``Parameters`` section.

    Examples
    --------
    >>> class Conf:
    ...     '''Doc.
    ...
    ...     Parameters
    ...     ----------
    ...     a, b : float, default=1.0
    ...         Weights.
    ...     '''
    >>> parameter_docs(Conf)
    {'a': 'Weights.', 'b': 'Weights.'}
    """
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    try:
        start = lines.index("Parameters") + 2
    except ValueError:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    text: list[str] = []

    def flush() -> None:
        for name in names:
            out[name] = " ".join(text).strip()

    for line in lines[start:]:
        if line and not line.startswith(" "):
            match = _PARAM.match(line)
            if match is None:  # the next section's title
                break
            flush()
            names = [n.strip() for n in match.group(1).split(",")]
            text = []
        elif line.strip().startswith("---"):
            break
        else:
            text.append(line.strip())
    flush()
    return {k: v for k, v in out.items() if k}


def _ampaudit_object(target: str) -> Any:
    """The object (class, function, ...) a dotted ``module.name`` path names, or ``None``.

    Only ampaudit's own modules are imported: a config read from a run or a table
    is untrusted, and importing a module it names would run that module's code.
    """
    module, _, name = target.rpartition(".")
    if not module.startswith("ampaudit."):
        return None
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):  # gone or renamed since the run
        return None


def _documented(target: str) -> list[Any]:
    """What documents ``target``'s parameters, most basic first: a class's MRO, or a function.

    Hydra's ``_target_`` may name any callable, not only a class. A
    ``functools.partial`` is documented by what it wraps: its own docstring is the
    generic one of ``partial``.
    """
    obj = _ampaudit_object(target)
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.isclass(obj):
        return list(reversed(inspect.getmro(obj)))
    return [obj] if callable(obj) else []


def _docs(target: str) -> dict[str, str]:
    """Parameter descriptions of ``target`` (and of its bases: its own words win)."""
    out: dict[str, str] = {}
    for obj in _documented(target):
        out.update(parameter_docs(obj))
    return out


def _rows(values: Any, docs: dict[str, str], prefix: str = "") -> tuple[tuple[str, str, str], ...]:
    """(name, value, meaning) of every parameter; nested ones get dotted names."""
    if not isinstance(values, dict):
        return ()
    rows: list[tuple[str, str, str]] = []
    for key, value in values.items():
        if key == "_target_":
            continue
        if isinstance(value, dict):
            rows.extend(_rows(value, {}, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", _format(value), docs.get(key, "") if not prefix else ""))
    return tuple(rows)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def methodology(
    config: dict[str, Any] | None, tags: dict[str, str], *, n_replicates: int | None = None
) -> list[Section]:
    """The methodology of an audit, from its resolved ``config`` and parent-run ``tags``.

    ``n_replicates`` is how many replicates ran, when it differs from the config
    (``audit.target_ci`` adds replicates).
    """
    if not config:
        return [
            Section(
                "Configuration",
                "The source of this report carries no configuration, so the population, "
                "graph, behaviour and recommender parameters cannot be stated here. The "
                "metric definitions below still apply.",
            )
        ]
    world, graph = config.get("world") or {}, config.get("graph") or {}
    behavior, audit = config.get("behavior") or {}, config.get("audit") or {}
    rec, people = config.get("recommender") or {}, config.get("people") or {}
    interventions = config.get("interventions") or {}
    control = audit.get("control", tags.get("control", "?"))
    recommender = tags.get("recommender", str(rec.get("_target_", "?")))
    n_steps = audit.get("n_steps", "?")
    replicates = n_replicates if n_replicates is not None else audit.get("replicates", "?")
    sections = [
        Section(
            "Population",
            f"{world.get('n_users', '?')} simulated users in {graph.get('n_communities', '?')} "
            "communities ordered from mainstream to fringe; a random "
            f"{_percent(world.get('at_risk_fraction'))} form the at-risk minority. Each has "
            "an opinion in [0, 1], a taste vector, a susceptibility and an appetite for "
            "sensational content, and is active in a step with probability around "
            f"{world.get('activity_mean', '?')}.",
            _rows(world, _docs(GROUP_CLASSES["world"])),
        ),
        Section(
            "Social graph",
            f"Users are linked by a social graph of kind {graph.get('kind', '?')} (mean degree "
            f"{graph.get('mean_degree', '?')}, homophily {graph.get('homophily', '?')}); "
            "neighbours meet and influence each other's opinions.",
            _rows(graph, _docs(GROUP_CLASSES["graph"])),
        ),
        Section(
            "Catalog",
            f"{world.get('n_items', '?')} items at the start and "
            f"{world.get('new_items_per_step', '?')} new ones a step, from "
            f"{world.get('n_creators', '?')} creators whose categories (mainstream, news, "
            f"counter-speech, borderline, extreme) are mixed as {world.get('creator_mix', '?')}. "
            "Interventions see a noisy classifier score, not the true category "
            f"(noise {world.get('classifier_noise', '?')}).",
        ),
        Section(
            "Behaviour",
            "Each active user browses the feed, a followed creator or search, and chooses "
            "among the options or nothing by a multinomial logit over utilities (taste, "
            "ideological distance, appeal, quality, slate position). Opinions move toward "
            "consumed content and met neighbours by bounded confidence; a user counts as "
            f"radicalised at opinion ≥ {behavior.get('radical_threshold', '?')}.",
            _rows(behavior, _docs(GROUP_CLASSES["behavior"])),
        ),
        _recommender_section(rec, recommender, audit),
    ]
    if people:
        sections.append(
            Section(
                "Who users follow",
                f"New follows come from a people recommender in mode {people.get('mode', '?')}, "
                "the same in every arm.",
                _rows(people, _docs(GROUP_CLASSES["people"])),
            )
        )
    seed_row = (
        "seed",
        str(config.get("seed")),
        "Seed in the config (null: drawn and logged as the seed entropy).",
    )
    sections.append(
        Section(
            "Baseline, horizon and replicates",
            f"Every amplification figure compares against the {control} baseline arm of the "
            f"same replicate, over a horizon of {n_steps} steps. The audit ran {replicates} "
            "replicates (independent worlds); within a replicate all arms share the world "
            f"and the users' random draws. Seed entropy {tags.get('seed_entropy', '?')}.",
            (*_rows(audit, _docs(GROUP_CLASSES["audit"])), seed_row),
        )
    )
    sections.append(_estimands_section())
    for name, spec in interventions.items():
        spec = spec if isinstance(spec, dict) else {}
        target = str(spec.get("_target_", ""))
        sections.append(
            Section(
                f"Intervention: {name}",
                f"{_summary(target)} ({target}); added to the recommender in its own arm"
                + (" and with the others in a composed arm." if len(interventions) > 1 else "."),
                _rows(spec, _docs(target)),
            )
        )
    if not interventions:
        sections.append(
            Section("Interventions", "None: this audit compares the recommender with its baseline.")
        )
    return sections


def _estimands_section() -> Section:
    """Each estimand, how its interval is built and how it fails (ampaudit.estimands)."""
    from ampaudit.estimands import METHODS, MIN_BASELINE_USERS

    rows = (
        ("share", METHODS["share"], "Extreme shares, radicalised fraction, CTR: in [0, 1]."),
        ("count", METHODS["count"], "Collateral, crisis impressions: never below 0."),
        (
            "change",
            METHODS["change"],
            "Amplification, harm reduced, engagement cost. Refused (not reported) when the "
            f"baseline reached fewer than {MIN_BASELINE_USERS:.0f} users per replicate or is 0: "
            "a ratio over so few is unstable; the absolute difference is then the headline.",
        ),
        (
            "difference",
            METHODS["difference"],
            "Paired differences (reach per 1,000, shares in percentage points, drift). "
            "Student-t is valid for a difference of means over independent replicates.",
        ),
    )
    return Section(
        "How each number's interval is built",
        "Every figure declares its scale and gets an interval that cannot leave that "
        "scale's range (Agresti 2013; Hirschberg & Lye 2010; cutting an interval to the "
        "possible range keeps its coverage, Mandelkern 2002). With one replicate, or the "
        "same value in every replicate, no interval is claimed. The headline comparison "
        "with the baseline is the absolute difference in reach, users per 1,000: it exists "
        "when the baseline reaches almost nobody, where a ratio does not. Verdicts read the "
        "intervals: increases or decreases when the interval excludes no change, no "
        "measurable change when it lies within the smallest change that matters (an "
        "equivalence test, Lakens 2017), otherwise inconclusive with the replicates a "
        "conclusive answer would need (80% power if the effect is as estimated).",
        rows,
    )


def _recommender_section(rec: dict[str, Any], recommender: str, audit: dict[str, Any]) -> Section:
    """The audited recommender; a plugin is described by its name and params."""
    slates = (
        f"slates of {audit.get('slate_size', '?')} items from "
        f"{audit.get('n_candidates', '?')} candidates."
    )
    from ampaudit.plugins import PLUGIN_TARGET

    target = str(rec.get("_target_", ""))
    # plugin.yaml's target is a factory that builds the plugin its name names, so the
    # report describes that plugin, not the factory
    if target != PLUGIN_TARGET:
        return Section(
            "Recommender audited",
            f"{recommender} ({rec.get('_target_', '?')}), retrained from the interaction log "
            f"as configured; {slates}",
            _rows(rec, _docs(target)),
        )
    # the plugin's code is never imported here (the config is untrusted), so its
    # parameters are listed as given, with no meaning beyond where they went
    params = rec.get("params")
    rows = [
        (
            "name",
            _format(rec.get("name", "?")),
            "Entry-point name (group ampaudit.recommenders) or import path of the plugin.",
        ),
        *(
            (name, value, "Passed to the plugin's constructor.")
            for name, value, _ in _rows(params, {}, "params.")
        ),
    ]
    if len(rows) == 1:
        rows.append(("params", "none", "The plugin ran with its own defaults."))
    return Section(
        "Recommender audited",
        f"The installed plugin {_format(rec.get('name', '?'))} with the parameters below, "
        f"retrained from the interaction log as configured; {slates}",
        tuple(rows),
    )


def _summary(target: str) -> str:
    """First paragraph of the docstring of what ``target`` names, without its period."""
    documented = _documented(target)
    if not documented:
        return "An intervention whose class is not part of this ampaudit"
    doc = inspect.getdoc(documented[-1]) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "")
    return first.rstrip(".") or "An intervention"


def _percent(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, float) else str(value)
