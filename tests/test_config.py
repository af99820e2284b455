"""Config validation: one clear error naming the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import ampaudit.configs
import pytest
import yaml
from ampaudit.recommenders import CONFS, PopularityRecommender
from ampaudit.simulations import BehaviorConf, GraphConf, WorldConf

from ampaudit.config import AuditSection, compose_conf, validate
from ampaudit.core.errors import ConfigError

from .conftest import small_run_conf

CONFIG_DIR = Path(ampaudit.configs.__file__).parent


@pytest.mark.parametrize(
    ("section", "field", "value", "expected"),
    [
        ("world", "n_users", -5, r"world\.n_users=-5 is not allowed: expected a number >= 10"),
        ("world", "creator_mix", [0.5, 0.5], r"world\.creator_mix"),
        ("behavior", "p_follow", 1.5, r"behavior\.p_follow=1\.5"),
        ("audit", "control", "magic", r"audit\.control='magic'.*one of none, random"),
        ("audit", "n_candidates", 3, r"audit\.n_candidates=3.*>= 10"),
        ("graph", "kind", "lattice", r"graph\.kind='lattice'.*one of sbm"),
        ("behavior", "choice", "softmax", r"behavior\.choice='softmax'.*one of logit, propor"),
        ("behavior", "p_watch_next", -0.1, r"behavior\.p_watch_next=-0\.1"),
        ("behavior", "watch_next_size", 0, r"behavior\.watch_next_size=0"),
    ],
)
def test_validate_names_field_value_and_allowed(section, field, value, expected):
    conf = small_run_conf()
    setattr(getattr(conf, section), field, value)
    with pytest.raises(ConfigError, match=expected):
        validate(conf)


def test_recommender_parameter_errors_use_config_path():
    conf = small_run_conf("mf")
    conf.recommender.factors = 0
    with pytest.raises(ConfigError, match=r"recommender\.factors=0"):
        validate(conf)


def test_unknown_recommender_target_is_a_config_error():
    conf = small_run_conf()
    conf.recommender = {"_target_": "nowhere.Missing"}
    with pytest.raises(ConfigError, match=r"recommender\._target_='nowhere\.Missing'"):
        validate(conf)


PLUGIN = "ampaudit.plugins.load_recommender"
POPULARITY = "PopularityRecommender: window, retrain_every, exclude_consumed, chunk_bytes$"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"_target_": PLUGIN, "name": "popularity", "params": {"windw": 5}},
            r"^recommender\.params\.windw=5 is not allowed: expected a parameter of " + POPULARITY,
        ),
        (
            {"_target_": "ampaudit.recommenders.PopularityRecommender", "foo": 1},
            r"^recommender\.foo=1 is not allowed: expected a parameter of " + POPULARITY,
        ),
    ],
)
def test_unknown_recommender_parameter_is_reported_by_its_field(spec, expected):
    conf = small_run_conf()
    conf.recommender = spec
    with pytest.raises(ConfigError, match=expected):
        validate(conf)


def test_extra_key_of_a_structured_recommender_config_is_reported_by_its_field():
    conf = small_run_conf()
    conf.recommender.foo = 1  # what OmegaConf.to_object keeps of ``+recommender.foo=1``
    with pytest.raises(ConfigError, match=r"^recommender\.foo=1 is not allowed"):
        validate(conf)


class KwargsPopularity(PopularityRecommender):
    """Takes ``**params``: their names cannot be checked before it is built."""

    def __init__(self, **params):
        super().__init__(**params)


def test_kwargs_constructor_is_not_checked_by_name():
    conf = small_run_conf()
    conf.recommender = {
        "_target_": PLUGIN,
        "name": "tests.test_config:KwargsPopularity",
        "params": {"window": 3},
    }
    validate(conf)


@pytest.mark.parametrize("name", sorted(CONFS))
def test_recommender_yaml_mirrors_its_dataclass(name):
    data = yaml.safe_load((CONFIG_DIR / "recommender" / f"{name}.yaml").read_text())
    data.pop("defaults")
    fields = set(CONFS[name].__dataclass_fields__) - {"_target_"}
    assert set(data) == fields
    for key, value in data.items():
        assert value == getattr(CONFS[name](), key)


def test_every_recommender_has_a_yaml():
    assert {p.stem for p in (CONFIG_DIR / "recommender").glob("*.yaml")} == {*CONFS, "plugin"}


def test_packaged_default_yaml_matches_the_dataclass_defaults():
    # the calibrated defaults live in both places (configs/*/default.yaml and the
    # dataclasses); an edit to one alone would make the CLI and the Python API disagree

    conf = compose_conf(["tracking=none"])
    assert conf.world == WorldConf()
    assert conf.behavior == BehaviorConf()
    assert conf.graph == GraphConf()
    assert conf.audit == AuditSection()


def test_compose_conf_reports_a_bad_override_on_one_line():

    with pytest.raises(ConfigError, match=r"Could not override 'world\.bogus'") as info:
        compose_conf(["world.bogus=1"])
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"world\.n_users=5 is not allowed"):
        compose_conf(["world.n_users=5"])
