"""The README's plugin section: its example works and it documents what a recommender gets."""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from pathlib import Path

import pytest

from ampaudit.checks import check_recommender
from ampaudit.core.platform import ItemView, PlatformData, StepBatch

README = Path(__file__).parents[1] / "README.md"


def plugin_section() -> str:
    text = README.read_text()
    start = text.index("## Auditing your own recommender (platform engineers)")
    return text[start : text.index("\n## ", start + 1)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture
def readme_plugin(tmp_path):
    """``mypackage.recs`` written from the README: the example class and its Conf."""
    blocks = python_blocks(plugin_section())
    example = next(b for b in blocks if b.startswith("# mypackage/recs.py"))
    conf = next(b for b in blocks if "class RecencyBoostRecommenderConf" in b)
    (tmp_path / "mypackage").mkdir()
    (tmp_path / "mypackage" / "__init__.py").write_text("")
    (tmp_path / "mypackage" / "recs.py").write_text(example + "\n\n" + conf)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("mypackage.recs")
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("mypackage.recs", "mypackage"):
            sys.modules.pop(name, None)


def test_readme_plugin_example_passes_every_check(readme_plugin):
    results = check_recommender(readme_plugin.RecencyBoostRecommender)
    statuses = {r.name: r.status for r in results}
    # it has no related(); everything else, its observe and its Conf included, must pass
    assert {n: s for n, s in statuses.items() if s != "pass"} == {"check_related": "skip"}, [
        r for r in results if r.status == "fail"
    ]
    assert statuses["check_observe_keeps_state_fresh"] == "pass"


def test_readme_documents_what_a_recommender_receives():
    section = plugin_section()
    # StepBatch.extra is never filled by the simulator: not part of the contract
    fields = [
        *(f.name for f in dataclasses.fields(PlatformData)),
        "n_items",
        "consumed()",
        *(f"items.{f.name}" for f in dataclasses.fields(ItemView)),
        *("log.users", "log.items", "log.steps", "log.channels", "log.since(step)"),
        *(f.name for f in dataclasses.fields(StepBatch) if f.name != "extra"),
        *("fit(data)", "observe(batch)", "recommend(users, n, *, rng)", "related(items, n)"),
        *("retrain_every", "StepBatch", "check_observe_keeps_state_fresh"),
    ]
    # `name`, `name -> ...` (a signature) or `name.field` (items is documented field by field)
    missing = [name for name in fields if not re.search(f"`{re.escape(name)}[`. ]", section)]
    assert not missing, f"README's plugin section does not mention {missing}"


def intervention_section() -> str:
    text = README.read_text()
    start = text.index("## Writing your own intervention")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_intervention_example_passes_every_check(tmp_path):
    from ampaudit.checks import check_intervention

    example = next(b for b in python_blocks(intervention_section()) if b.startswith("# mypackage/"))
    (tmp_path / "readme_iv.py").write_text(example)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("readme_iv")
        results = check_intervention(module.ScoreCapIntervention)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("readme_iv", None)
    statuses = {r.name: r.status for r in results}
    # no Conf dataclass in the example: that check is skipped, everything else passes
    assert {n: s for n, s in statuses.items() if s != "pass"} == {
        "check_intervention_config": "skip"
    }, [r for r in results if r.status == "fail"]


def test_readme_documents_what_an_intervention_sees():
    from ampaudit.core.intervention import (
        ACTION_KINDS,
        HOOKS,
        GroundTruth,
        ItemCatalog,
        PlatformView,
    )

    section = intervention_section()

    def public(protocol):
        return [m for m in vars(protocol) if not m.startswith("_")]

    names = [
        *(f"view.{m}" for m in public(PlatformView)),
        *public(ItemCatalog),
        *public(GroundTruth),
        *ACTION_KINDS,
        *(f"{hook}(view" for hook in HOOKS),
        "reset(view, rng)",
        "ampaudit.interventions",
    ]
    missing = [name for name in names if name not in section]
    assert not missing, f"README's intervention section does not mention {missing}"
