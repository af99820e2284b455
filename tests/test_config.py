"""Config validation: one clear error naming the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import ampaudit.configs
import pytest
import yaml
from ampaudit.recommenders import CONFS

from ampaudit.config import validate
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
