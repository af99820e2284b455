"""Worlds as data: assembly from arrays, world files, the two-sided axis, one utility."""

from __future__ import annotations

import dataclasses
import doctest
import hashlib
import importlib

import numpy as np
import pytest
from ampaudit.simulations import (
    AuditModel,
    BehaviorConf,
    GraphConf,
    WorldConf,
    assemble_world,
    behavior,
    build_world,
    check_world_arrays,
    load_world_arrays,
    make_world,
    save_world_arrays,
    world_arrays,
)
from ampaudit.simulations.behavior import content_drift, item_utility
from ampaudit.simulations.example_worlds import two_sided_example
from ampaudit.simulations.opinion import OpinionConf, anchoring, opinion_step
from ampaudit.simulations.worldfile import SCHEMA
from hypothesis import given, settings
from hypothesis import strategies as st

from ampaudit.config import compose_conf
from ampaudit.core.categories import CATEGORIES, EXTREME
from ampaudit.core.errors import ConfigError
from ampaudit.metrics import final_metrics
from tests.helpers import ampaudit

POPULATION = ("x", "x0", "taste", "susceptibility", "appetite", "latitude", "activity")
POPULATION += ("community", "at_risk")
CATALOG = ("category", "extremity", "topics", "quality", "appeal", "creator", "created")
CATALOG += ("score", "phash", "original", "available", "crisis")


def digest(world) -> str:
    """Hash of every array of a world as main built it before worlds were data."""
    h = hashlib.sha256()
    parts = [getattr(world.population, f) for f in POPULATION]
    parts += [getattr(world.catalog, f) for f in CATALOG]
    for mat in (world.adjacency, world.follows):
        # index dtypes are scipy's choice (networkx graphs came as int64): compare values
        parts += [mat.data, mat.indices.astype(np.int64), mat.indptr.astype(np.int64)]
    parts += [world.creator_category, world.creator_items_indptr, world.creator_items]
    for a in parts:
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def assert_same_world(a, b) -> None:
    for name in POPULATION:
        np.testing.assert_array_equal(getattr(a.population, name), getattr(b.population, name))
    for name in (*CATALOG, "label"):
        np.testing.assert_array_equal(getattr(a.catalog, name), getattr(b.catalog, name))
    for name in ("adjacency", "follows"):
        assert (getattr(a, name) != getattr(b, name)).nnz == 0
    for name in ("creator_category", "creator_items_indptr", "creator_items"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.axis == b.axis
    assert a.categories.names == b.categories.names
    np.testing.assert_array_equal(a.categories.ranges, b.categories.ranges)
    np.testing.assert_array_equal(a.categories.harm, b.categories.harm)


@pytest.fixture
def example_file(tmp_path):
    return save_world_arrays(tmp_path / "two_sided.npz", two_sided_example())


# -- the generator goes through the same assembly, and draws the same worlds -------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("sbm", "f7d3d972dee7dc17"), ("watts_strogatz", "cdb14e9104a213ba")],
)
def test_build_world_draws_the_world_it_drew_before_worlds_were_data(kind, expected):
    # recorded on main (dfc932d, numpy 2.4) before build_world went through assemble_world
    world = build_world(
        WorldConf(n_users=200, n_items=150, n_creators=20, crisis_step=2),
        GraphConf(kind=kind),
        n_steps=6,
        rng=np.random.default_rng(11),
    )
    assert digest(world) == expected, (
        "build_world drew a different world: if numpy changed its random streams, "
        "re-record the digests on the previous commit; otherwise the generator changed"
    )


def test_a_generated_world_saved_and_loaded_is_the_same_world(tmp_path):
    conf = WorldConf(n_users=150, n_items=120, n_creators=15, n_dims=4, crisis_step=1)
    world = build_world(conf, GraphConf(), n_steps=5, rng=np.random.default_rng(3))
    path = save_world_arrays(tmp_path / "generated", world_arrays(world))
    assert path.suffix == ".npz"
    loaded = assemble_world(load_world_arrays(path), n_steps=5, conf=conf)
    assert_same_world(world, loaded)
    assert loaded.catalog.crisis.any()


def test_save_then_load_returns_the_same_arrays(tmp_path):
    arrays = two_sided_example()
    loaded = load_world_arrays(save_world_arrays(tmp_path / "w.npz", arrays))
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == np.asarray(value).dtype


def _readme_section() -> str:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("## Worlds as data")
    return readme[start : readme.index("\n## ", start + 1)]


def test_schema_keys_are_documented_in_the_readme():
    section = _readme_section()
    for key in SCHEMA:
        assert f"`{key.name}`" in section, key.name


def test_readme_example_writes_and_assembles_a_world(tmp_path, monkeypatch, capsys):
    import re

    (block,) = re.findall(r"```python\n(.*?)```", _readme_section(), flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    exec(block, {})
    assert capsys.readouterr().out.strip() == "[4 4 4]"  # far_left items are extreme
    assert load_world_arrays(tmp_path / "world.npz")["item_count"].tolist() == [
        40,
        200,
        500,
        200,
        40,
    ]


@pytest.mark.parametrize("module", ["ampaudit.simulations.world", "ampaudit.simulations.worldfile"])
def test_docstring_examples(module):
    # tests/test_doctests.py walks ampaudit/ only, not the mapped simulations package
    result = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0


# -- validation: one clear error per bad array, naming it --------------------------------


def _set(name, value):
    def change(arrays):
        arrays[name] = value(arrays) if callable(value) else value

    return change


def _edit(name, index, value):
    def change(arrays):
        arrays[name] = np.array(arrays[name], copy=True)
        arrays[name][index] = value

    return change


def _move_first_extreme_item(arrays):
    """Put an extreme item at the centre, outside its category's range."""
    i = int(np.flatnonzero(np.isin(arrays["item_label"], (0, 4)))[0])
    arrays["item_position"] = arrays["item_position"].copy()
    arrays["item_position"][i] = 0.0


# (change, how the message starts, what it says is allowed); the example world has no
# creators, so its five categories are creators 0..4
BAD = [
    (_edit("user_position", 3, np.nan), "w.npz:user_position[3]=nan", "finite"),
    (_edit("user_position", 0, 1.5), "w.npz:user_position[0]=1.5", "[-1, 1]"),
    (_set("user_position", np.array(["a", "b"])), "w.npz:user_position.dtype", "real numbers"),
    (_set("user_taste", np.zeros((60, 3, 1))), "w.npz:user_taste.shape", "(n_users, n_dims)"),
    (_set("user_at_risk", np.full(60, 2)), "w.npz:user_at_risk.dtype", "booleans"),
    (_set("user_activity", np.full(60, 1.2)), "w.npz:user_activity[0]=1.2", "[0, 1]"),
    (_edit("category_harm", 1, "evil"), "w.npz:category_harm[1]='evil'", "harm class"),
    (_edit("category_name", 1, "far_left"), "w.npz:category_name[1]", "unique"),
    (_edit("category_low", 0, -2.0), "w.npz:category_low[0]=-2.0", "[-1, 1]"),
    (_edit("category_high", 2, -0.5), "w.npz:category_high[2]=-0.5", ">= category_low"),
    (_edit("item_label", 0, 7), "w.npz:item_label[0]=7", "0..4"),
    (_move_first_extreme_item, "w.npz:item_position[", "inside its category 'far_"),
    (_edit("item_created", 81, -1), "w.npz:item_created[81]", "non-decreasing"),
    (_set("utility", lambda a: a["utility"][:, :50]), "w.npz:utility.shape", "(60, 100)"),
    (_edit("utility", (0, 1), np.inf), "w.npz:utility[0, 1]=inf", "finite"),
    (_set("edges", np.array([[0, 60]])), "w.npz:edges[0, 1]=60", "user ids in 0..59"),
    (_set("follows", np.array([[0, 9]])), "w.npz:follows[0, 1]=9", "0..59 and 0..4"),
    (_set("axis", "sideways"), "w.npz:axis", "one_sided or two_sided"),
    (_set("seed", -1), "w.npz:seed", ">= 0"),
    (_set("user_postion", np.zeros(60)), "w.npz='user_postion'", "keys among"),
    (_set("item_count", np.ones(5, dtype=int)), "w.npz:item_label", "exactly one of"),
    (lambda a: a.pop("category_harm"), "w.npz:category_harm", "harm class"),
]


@pytest.mark.parametrize(
    ("change", "field", "allowed"), BAD, ids=[b[1].split(":")[-1] for b in BAD]
)
def test_each_bad_array_gets_one_error_naming_it(change, field, allowed):
    arrays = two_sided_example()
    change(arrays)
    with pytest.raises(ConfigError) as info:
        check_world_arrays(arrays, prefix="w.npz")
    message = str(info.value)
    assert message.startswith(field), message
    assert allowed in message, message
    assert "\n" not in message


def test_the_config_and_the_file_must_agree_on_the_axis():
    with pytest.raises(ConfigError, match=r"^world\.axis='one_sided'.*two_sided, the axis"):
        check_world_arrays(two_sided_example(), axis="one_sided", prefix="w.npz")


def test_a_one_sided_world_rejects_negative_positions():
    arrays = two_sided_example()
    del arrays["axis"]
    with pytest.raises(ConfigError, match=r"user_position\[\d+\]=-.*\[0, 1\] \(axis one_sided\)"):
        check_world_arrays(arrays)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["world.axis=two_sided"], "world.axis='two_sided'"),
        (["world.path=/tmp/world.npz"], "world.path='/tmp/world.npz'"),
        (["world.source=cloud"], "world.source='cloud'"),
    ],
)
def test_generated_worlds_refuse_file_settings(overrides, field):
    with pytest.raises(ConfigError) as info:
        compose_conf(["tracking=none", *overrides])
    assert str(info.value).startswith(field)


def test_file_worlds_refuse_what_needs_a_generated_world(example_file):
    base = ["tracking=none", "world=arrays", f"world.path={example_file}"]
    with pytest.raises(ConfigError, match=r"^world\.crisis_step=20"):
        compose_conf([*base, "scenario=crisis"])
    # sock-puppets are fresh accounts beside the file's users; with the file's utility
    # matrix a puppet copies a real user's row, so it cannot be given other tastes
    compose_conf([*base, "audit.mode=sock_puppet"])
    with pytest.raises(ConfigError, match=r"^audit\.sock_puppet\.taste='random'"):
        compose_conf([*base, "audit.mode=sock_puppet", "audit.sock_puppet.taste=random"])


# -- a two-sided world from a file runs an audit, with harm labels as data --------------


def test_a_two_sided_world_from_a_file_runs_an_audit(example_file):
    from ampaudit.audit import run_audit

    conf = compose_conf(
        [
            "world=arrays",
            f"world.path={example_file}",
            "tracking=none",
            "audit.replicates=2",
            "audit.n_steps=10",
            "audit.progress=false",
            "seed=5",
        ]
    )
    result = run_audit(conf)
    assert {run.arm for run in result.runs} == {"control", "treatment"}
    for run in result.runs:
        shares = [run.final[f"cons_share.{name}"] for name in CATEGORIES]
        assert sum(shares) == pytest.approx(1.0)
        assert run.final["cons_share.extreme"] > 0
        assert run.final["cons_share.news"] == run.final["cons_share.counter"] == 0.0
        assert np.isfinite(run.final["polarization.esteban_ray"])
        hist = [v for k, v in run.final.items() if k.startswith("opinion_hist.end.")]
        assert sum(hist) == pytest.approx(1.0)  # the histogram spans [-1, 1]


def test_a_file_world_is_the_same_world_in_every_replicate(example_file):
    conf = WorldConf(source="file", path=str(example_file))
    worlds = [
        make_world(conf, GraphConf(), n_steps=10, rng=np.random.default_rng(r)) for r in (0, 1)
    ]
    assert_same_world(*worlds)
    assert worlds[0].axis == "two_sided"


@pytest.fixture
def two_sided_model(example_file):
    from ampaudit.recommenders import RandomRecommender

    world = make_world(
        WorldConf(source="file", path=str(example_file)),
        GraphConf(),
        n_steps=15,
        rng=np.random.default_rng(0),
    )
    return AuditModel(
        world,
        RandomRecommender(),
        behavior=BehaviorConf(),
        n_steps=15,
        slate_size=5,
        n_candidates=10,
        rng=np.random.default_rng(1),
        recommender_rng=np.random.default_rng(2),
    )


def test_extreme_content_from_both_far_ends_counts_as_extreme(two_sided_model):
    model = two_sided_model
    names = model.world.categories.names
    far = [names.index("far_left"), names.index("far_right")]
    cat = model.catalog
    assert (cat.category[np.isin(cat.label, far)] == EXTREME).all()
    assert (cat.category[~np.isin(cat.label, far)] != EXTREME).all()
    trace = model.run()
    consumed_labels = cat.label[model.log.items]
    assert set(far) <= set(consumed_labels.tolist())  # both ends were consumed
    assert trace.consumed[..., EXTREME].sum() == np.isin(consumed_labels, far).sum()


def test_two_sided_classifier_scores_harm_and_radicalisation_is_distance(two_sided_model):
    model = two_sided_model
    cat, names = model.catalog, model.world.categories.names
    left = cat.score[cat.label == names.index("far_left")].mean()
    right = cat.score[cat.label == names.index("far_right")].mean()
    centre = cat.score[cat.label == names.index("centre")].mean()
    assert left > 0.6
    assert right > 0.6
    assert centre < 0.3
    assert np.corrcoef(cat.score, np.abs(cat.extremity))[0, 1] > 0.8
    trace = model.run()
    assert trace.x.min() >= -1
    assert trace.x.max() <= 1
    x0 = model.population.x0
    assert (x0 < -0.7).any()
    assert (x0 > 0.7).any()
    expected = np.mean(np.abs(x0) >= BehaviorConf().radical_threshold)
    assert final_metrics(trace)["radicalised_start"] == pytest.approx(expected)


def test_a_file_world_without_edges_gets_a_graph_homophilous_in_position(example_file):
    world = make_world(
        WorldConf(source="file", path=str(example_file)),
        GraphConf(homophily=0.9),
        n_steps=5,
        rng=np.random.default_rng(0),
    )
    rows, cols = world.adjacency.nonzero()
    x = world.population.x0
    assert np.abs(x[rows] - x[cols]).mean() < 0.5 * np.abs(x[:, None] - x[None, :]).mean()
    # default groups are bands of the axis, ordered like the SBM's blocks
    groups = world.population.community
    assert (np.diff(groups[np.argsort(x, kind="stable")]) >= 0).all()


def test_item_counts_draw_items_from_each_category_range():
    arrays = {
        "user_position": np.linspace(0, 1, 30),
        "category_name": np.array(["calm", "edgy", "hateful"]),
        "category_low": np.array([0.0, 0.4, 0.8]),
        "category_high": np.array([0.4, 0.8, 1.0]),
        "category_harm": np.array(["mainstream", "borderline", "extreme"]),
        "item_count": np.array([10, 5, 2]),
        "item_count_per_step": np.array([2, 0, 1]),
    }
    world = assemble_world(arrays, n_steps=4)
    cat = world.catalog
    assert len(cat) == 17 + 4 * 3
    assert (np.diff(cat.created) >= 0).all()
    assert (cat.created == -1).sum() == 17
    low, high = world.categories.ranges[cat.label].T
    assert ((cat.extremity >= low) & (cat.extremity <= high)).all()
    np.testing.assert_array_equal(cat.category, np.array([0, 3, 4])[cat.label])
    assert world.follows.shape == (30, 3)
    assert world.follows.nnz > 0


positions = st.lists(st.floats(-1, 1), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(positions, st.data())
def test_opinion_dynamics_stay_on_a_two_sided_axis(xs, data):
    n = len(xs)
    draw = data.draw
    e = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
    peers = np.array(draw(st.lists(st.integers(-1, n - 1), min_size=n, max_size=n)))
    anchors = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
    arrays = {
        "axis": "two_sided",
        "user_position": np.array(xs),
        "user_latitude": np.array(draw(st.lists(st.floats(0.01, 2), min_size=n, max_size=n))),
        "category_name": ["all"],
        "category_low": [-1.0],
        "category_high": [1.0],
        "category_harm": ["mainstream"],
        "item_count": [1],
        "edges": np.zeros((0, 2), dtype=int),
    }
    pop = assemble_world(arrays, n_steps=1).fresh_arm_state()[0]
    pop.x0 = anchors
    users = np.arange(n)
    before = pop.x.copy()
    content_drift(pop, users, e, rate=1.0)
    # a convex step toward the item, never past it
    assert np.all(np.abs(e - pop.x) <= np.abs(e - before) + 1e-12)
    pop.x = opinion_step(OpinionConf(mu=0.5), pop.x, users, peers, latitude=pop.latitude)
    pop.x = anchoring(pop.x, pop.x0, 0.3)
    assert np.all((pop.x >= -1) & (pop.x <= 1))


# -- one utility: users and the oracle ----------------------------------------------------


def _oracle_vs_users(model) -> tuple[np.ndarray, np.ndarray]:
    model.t = 5
    users = np.arange(0, model.world.n_users, 3)
    n = model.catalog.n_visible(model.t)
    items = np.broadcast_to(np.arange(n), (len(users), n))
    return model.true_utility(users), item_utility(
        model.behavior, model.population, model.catalog, users, items
    )


def test_the_oracle_uses_the_users_utility_matrix(two_sided_model):
    oracle, users = _oracle_vs_users(two_sided_model)
    np.testing.assert_array_equal(oracle, users.astype(np.float32))


def test_the_oracle_uses_the_users_utility(small_world):
    model = AuditModel(
        small_world,
        None,
        behavior=BehaviorConf(),
        n_steps=10,
        slate_size=5,
        n_candidates=10,
        rng=np.random.default_rng(1),
        recommender_rng=np.random.default_rng(2),
    )
    oracle, users = _oracle_vs_users(model)
    # one formula; the taste term is a matrix product for the oracle, a gather for users
    np.testing.assert_allclose(oracle, users, rtol=0, atol=1e-5)


def test_the_oracle_is_the_same_in_chunks(two_sided_model, small_world, monkeypatch):
    for model_world in (two_sided_model.world, small_world):
        pop, cat = model_world.fresh_arm_state()
        users = np.arange(model_world.n_users)
        whole = behavior.visible_utility(BehaviorConf(), pop, cat, users, 90)
        monkeypatch.setattr(behavior, "_CHUNK", 7 * 90)  # 7 users per chunk, a ragged end
        chunked = behavior.visible_utility(BehaviorConf(), pop, cat, users, 90)
        monkeypatch.undo()
        # BLAS may sum a smaller product in another order: equal up to float32 rounding
        np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-5)


def test_a_utility_matrix_replaces_the_taste_match(two_sided_model):
    model = two_sided_model
    pop, cat = model.population, model.catalog
    only_matrix = BehaviorConf(b_dist=0.0, b_appeal=0.0, b_quality=0.0, b_taste=2.0)
    users, items = np.array([0, 7]), np.array([[3, 11], [42, -1]])
    got = item_utility(only_matrix, pop, cat, users, items)
    np.testing.assert_array_equal(got[0], 2.0 * pop.utility[0, [3, 11]])
    assert got[1, 0] == 2.0 * pop.utility[7, 42]
    assert got[1, 1] == -np.inf
    tastes_changed = dataclasses.replace(pop, taste=-pop.taste)
    np.testing.assert_array_equal(
        item_utility(BehaviorConf(), tastes_changed, cat, users, items),
        item_utility(BehaviorConf(), pop, cat, users, items),
    )


# -- the command line ---------------------------------------------------------------------


def test_cli_runs_a_world_file_and_rejects_a_bad_one(tmp_path, example_file):
    proc = ampaudit(
        "run",
        "world=arrays",
        f"world.path={example_file}",
        "tracking=none",
        "audit.replicates=2",
        "audit.n_steps=5",
        "audit.progress=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    arrays = two_sided_example()
    arrays["category_harm"] = np.array(["extreme", "borderline", "mainstream", "bad", "extreme"])
    np.savez(tmp_path / "bad.npz", **arrays)
    proc = ampaudit("run", "world=arrays", f"world.path={tmp_path / 'bad.npz'}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "bad.npz:category_harm[3]='bad' is not allowed: expected a harm class" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "mlflow.db").exists()
