"""Reports of audits whose recommender is not an ampaudit class: plugins, factories, partials."""

from __future__ import annotations

import functools
import json
import sys
import types

import jsonschema

from ampaudit.report import schema
from ampaudit.report.methodology import methodology
from tests.helpers import ampaudit, cli, parent_run_id


def _recommender_section(config):
    sections = {s.title: s for s in methodology(config, {})}
    return sections["Recommender audited"]


def test_plugin_audit_reports_from_its_run_its_json_and_its_table(installed_plugin, tmp_path):
    run = cli(
        "run",
        "recommender=plugin",
        "recommender.name=freshpop",
        "+recommender.params.window=5",
        "world=small",
        "audit.n_steps=4",
        "audit.replicates=1",
        "audit.progress=false",
        extra_path=[installed_plugin],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "treatment (freshpop)" in run.stdout
    assert "Panel report not written" not in run.stdout
    assert "Panel report: " in run.stdout
    parent = parent_run_id(run.stdout)
    # the plugin is not on the path now: a report never needs (or runs) its code
    page = ampaudit("report", parent, "-o", "r.html", cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "r.html").read_text()
    assert "installed plugin" in html
    assert "freshpop" in html
    assert "params.window" in html
    export = ampaudit("report", parent, "-o", "r.json", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(document, schema())
    [section] = [s for s in document["methodology"] if s["title"] == "Recommender audited"]
    rows = {p["name"]: p["value"] for p in section["parameters"]}
    assert rows == {"name": "freshpop", "params.window": "5"}
    table = ampaudit("export", "ampaudit", "-o", "t.parquet", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    from_table = ampaudit("report", "t.parquet", "-o", "t.html", cwd=tmp_path)
    assert from_table.returncode == 0, from_table.stderr
    assert "params.window" in (tmp_path / "t.html").read_text()


def test_any_target_renders_with_its_own_docs_if_it_is_ampaudit_s(monkeypatch):
    def factory(alpha=1.0):
        """Build a recommender.

        Parameters
        ----------
        alpha : float, default=1.0
            Weight of recent items.
        """

    class Recommender:
        """A recommender.

        Parameters
        ----------
        beta : int
            Window length.
        """

    # a module of ampaudit's, as a target names it: function, partial, class
    module = types.ModuleType("ampaudit._targets")
    module.factory = factory
    module.partial = functools.partial(factory, alpha=2.0)
    module.Recommender = Recommender
    monkeypatch.setitem(sys.modules, "ampaudit._targets", module)
    # a plugin's module, already loaded: its docs would show if the report looked it up
    theirs = types.ModuleType("theirpkg")
    theirs.Recommender = Recommender
    monkeypatch.setitem(sys.modules, "theirpkg", theirs)
    for target, key, meaning in [
        ("ampaudit._targets.factory", "alpha", "Weight of recent items."),
        ("ampaudit._targets.partial", "alpha", "Weight of recent items."),
        ("ampaudit._targets.Recommender", "beta", "Window length."),
        ("ampaudit._targets.gone", "alpha", ""),
        ("theirpkg.Recommender", "beta", ""),
    ]:
        section = _recommender_section({"recommender": {"_target_": target, key: 3}})
        assert section.parameters == ((key, "3", meaning),), target


def test_plugin_section_names_the_plugin_and_its_params():
    plugin = {"_target_": "ampaudit.plugins.load_recommender", "name": "freshpop"}
    section = _recommender_section(
        {"recommender": {**plugin, "params": {"window": 5, "decay": 0.5}}}
    )
    assert "installed plugin freshpop" in section.text
    assert [row[:2] for row in section.parameters] == [
        ("name", "freshpop"),
        ("params.window", "5"),
        ("params.decay", "0.5"),
    ]
    assert all(meaning for _, _, meaning in section.parameters)
    bare = _recommender_section({"recommender": {**plugin, "params": {}}})
    assert [row[:2] for row in bare.parameters] == [("name", "freshpop"), ("params", "none")]
