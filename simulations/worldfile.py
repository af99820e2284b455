"""Worlds as data: the arrays a world is made of, their checks, and world files.

A world is a set of named arrays (:data:`SCHEMA`): users' positions on the axis and
their traits, the category table (names, position ranges, harm labels), the items
(counts per category, or explicit arrays), optionally a user × item utility matrix,
the social graph and who follows whom. :func:`ampaudit.simulations.world.assemble_world`
turns them into a :class:`~ampaudit.simulations.world.World`, filling what is left
out with the generator's defaults; the generator
(:func:`~ampaudit.simulations.world.build_world`) is one way to produce them and a
file is another (``world=arrays world.path=FILE.npz``).

Keys of a world file (an ``.npz`` written by :func:`save_world_arrays`, or
``numpy.savez``); ``n_*`` are sizes the arrays define:

=========================  ==========================  =======  ============================
key                        shape                       dtype    default when absent
=========================  ==========================  =======  ============================
``user_position``          (n_users,)                  float    required
``user_taste``             (n_users, n_dims)           float    unit normal + lean ``2|x|``
``user_group``             (n_users,)                  int      position bands (graph blocks)
``user_at_risk``           (n_users,)                  bool     all False
``user_susceptibility``    (n_users,)                  float    Beta(2,5); at risk Beta(5,2)
``user_appetite``          (n_users,)                  float    Beta(2,6); at risk Beta(6,2)
``user_latitude``          (n_users,)                  float    U(world.latitude_low, _high)
``user_activity``          (n_users,)                  float    Beta, mean world.activity_mean
``category_name``          (n_categories,)             str      required
``category_low``           (n_categories,)             float    required
``category_high``          (n_categories,)             float    required
``category_harm``          (n_categories,)             str      required (a harm class)
``category_topic_lean``    (n_categories,)             float    by harm class (TOPIC_LEAN)
``item_count``             (n_categories,)             int      this or ``item_label``
``item_count_per_step``    (n_categories,)             int      0 (needs ``item_count``)
``item_label``             (n_items,)                  int      this or ``item_count``
``item_position``          (n_items,)                  float    U(category range)
``item_topics``            (n_items, n_dims)           float    unit normal + category lean
``item_quality``           (n_items,)                  float    Beta(2, 2)
``item_appeal``            (n_items,)                  float    ``|position|`` + noise
``item_score``             (n_items,)                  float    ``|position|`` + classifier noise
``item_created``           (n_items,)                  int      -1 (all there from the start)
``item_creator``           (n_items,)                  int      the item's category
``item_phash``             (n_items,)                  uint64   random
``item_original``          (n_items,)                  int      itself (no re-uploads)
``item_crisis``            (n_items,)                  bool     all False
``creator_label``          (n_creators,)               int      category of its first item
``follows``                (n_follows, 2)              int      drawn homophilously
``edges``                  (n_edges, 2)                int      drawn by the ``graph`` config
``utility``                (n_users, n_items)          float    none (taste · topics)
``axis``                   ()                          str      ``one_sided``
``seed``                   ()                          int      0
=========================  ==========================  =======  ============================

:data:`SCHEMA` holds the meaning of each key; the README has the same table. The
defaults are drawn from a generator seeded with the file's ``seed``, never from
the audit's streams: the file is the world, the same one in every replicate
(behaviour and recommender streams still differ per replicate).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ampaudit.core.categories import CATEGORIES
from ampaudit.core.errors import ConfigError

from .catalog import AXES

__all__ = [
    "SCHEMA",
    "Key",
    "check_world_arrays",
    "load_world_arrays",
    "save_world_arrays",
]


@dataclass(frozen=True)
class Key:
    """One array of a world file.

    Attributes
    ----------
    name : str
        The key in the file.
    shape : tuple of str
        Symbolic shape (``n_users``, ``n_items``, ``2``...); ``()`` for a scalar.
    kind : {"float", "int", "bool", "str", "uint64"}
        What the values must be.
    meaning : str
        What the array holds.
    default : str
        What a world gets when the key is absent.
    """

    name: str
    shape: tuple[str, ...]
    kind: str
    meaning: str
    default: str


U, C, I, D = "n_users", "n_categories", "n_items", "n_dims"  # noqa: E741

#: Every key a world file may hold (see the module docstring for the table).
SCHEMA: tuple[Key, ...] = (
    Key("user_position", (U,), "float", "position on the axis, the initial opinion", "required"),
    Key("user_taste", (U, D), "float", "taste vector, used as given", "unit normal + lean 2|x|"),
    Key("user_group", (U,), "int", "community (group for breakdowns)", "position bands"),
    Key("user_at_risk", (U,), "bool", "member of the at-risk minority", "False"),
    Key("user_susceptibility", (U,), "float", "in [0, 1]: scales content drift", "Beta"),
    Key("user_appetite", (U,), "float", "in [0, 1]: appetite for sensational appeal", "Beta"),
    Key("user_latitude", (U,), "float", "latitude of acceptance, up to the axis length", "U"),
    Key("user_activity", (U,), "float", "in [0, 1]: probability of being active", "Beta"),
    Key("category_name", (C,), "str", "unique category names", "required"),
    Key("category_low", (C,), "float", "low end of the category's position range", "required"),
    Key("category_high", (C,), "float", "high end of the range (>= low)", "required"),
    Key("category_harm", (C,), "str", "harm class: " + ", ".join(CATEGORIES), "required"),
    Key("category_topic_lean", (C,), "float", "lean of topics on dimension 0", "by harm"),
    Key("item_count", (C,), "int", "items per category at the start", "or item_label"),
    Key("item_count_per_step", (C,), "int", "items per category arriving each step", "0"),
    Key("item_label", (I,), "int", "category index of each item", "or item_count"),
    Key("item_position", (I,), "float", "position, inside its category's range", "uniform"),
    Key("item_topics", (I, D), "float", "topic vector (public), used as given", "lean"),
    Key("item_quality", (I,), "float", "in [0, 1]: production quality", "Beta(2, 2)"),
    Key("item_appeal", (I,), "float", "in [0, 1]: sensational appeal", "|position| + noise"),
    Key("item_score", (I,), "float", "in [0, 1]: classifier score of harm", "|position| + noise"),
    Key("item_created", (I,), "int", "creation step, non-decreasing (-1: at start)", "-1"),
    Key("item_creator", (I,), "int", "creator id", "the item's category"),
    Key("item_phash", (I,), "uint64", "64-bit perceptual hash", "random"),
    Key("item_original", (I,), "int", "id of the item it re-uploads (itself if none)", "itself"),
    Key("item_crisis", (I,), "bool", "part of a crisis burst", "False"),
    Key("creator_label", ("n_creators",), "int", "category of each creator", "first item's"),
    Key("follows", ("n_follows", "2"), "int", "(user, creator) follow pairs", "homophilous"),
    Key("edges", ("n_edges", "2"), "int", "undirected (user, user) social ties", "graph config"),
    Key("utility", (U, I), "float", "taste match replacing taste · topics", "none"),
    Key("axis", (), "str", "one_sided ([0, 1]) or two_sided ([-1, 1])", "one_sided"),
    Key("seed", (), "int", "seed of the defaults drawn for absent keys", "0"),
)

_KEYS = {key.name: key for key in SCHEMA}
#: Item keys that only explicit items (``item_label``) may give.
_EXPLICIT_ITEM_KEYS = tuple(
    k.name for k in SCHEMA if k.shape[:1] == (I,) and k.name not in ("item_label", "utility")
)


def _typed(prefix: str, key: Key, value: Any) -> np.ndarray:
    """``value`` as an array of ``key.kind``, or a ConfigError naming its dtype."""
    field = f"{prefix}:{key.name}"
    try:
        a = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ConfigError(field, "ragged", "a rectangular array") from exc
    kind = a.dtype.kind
    if key.kind == "str":
        if kind not in "US":
            raise ConfigError(f"{field}.dtype", str(a.dtype), "strings")
        return a.astype(str)
    if key.kind == "bool":
        if kind == "b":
            return a.astype(bool)
        if kind in "iu" and np.isin(a, (0, 1)).all():
            return a.astype(bool)
        raise ConfigError(f"{field}.dtype", str(a.dtype), "booleans (or 0/1 integers)")
    if key.kind in ("int", "uint64"):
        # whole floats pass: tables often store integer columns as floats
        whole = kind == "f" and bool(np.all(np.isfinite(a) & (a == np.round(a))))
        if kind not in "iu" and not whole:
            raise ConfigError(f"{field}.dtype", str(a.dtype), "integers")
        if key.kind == "uint64":
            if kind == "i" and a.size and a.min() < 0:
                raise ConfigError(f"{field}.dtype", str(a.dtype), "unsigned 64-bit integers")
            return a.astype(np.uint64)
        return a.astype(np.int64)
    if kind not in "iuf":
        raise ConfigError(f"{field}.dtype", str(a.dtype), "real numbers")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        raise ConfigError(_at(field, bad), float(a[bad][0]), "finite numbers (no NaN or inf)")
    return a


def _at(field: str, bad: np.ndarray) -> str:
    """``field[i]`` (or ``field[i, j]``) of the first True entry of ``bad``."""
    index = np.argwhere(bad)[0]
    return f"{field}[{', '.join(str(int(i)) for i in index)}]"


def _in_range(
    prefix: str, name: str, a: np.ndarray, low: float, high: float | None, what: str
) -> None:
    """Raise a ConfigError at the first entry of ``a`` outside ``[low, high]``."""
    bad = a < low
    if high is not None:
        bad |= a > high
    if bad.any():
        value = a[bad][0]
        raise ConfigError(_at(f"{prefix}:{name}", bad), value.item(), what)


def resolve_axis(arrays: Mapping[str, Any], axis: str | None, *, prefix: str) -> str:
    """The axis of a world: its ``axis`` key, or ``axis`` (config), or ``one_sided``.

    Raises
    ------
    ConfigError
        If the world and the config disagree, or either names an unknown axis.
    """
    allowed = " or ".join(AXES)
    if axis is not None and axis not in AXES:
        raise ConfigError("world.axis", axis, allowed)
    if "axis" not in arrays:
        return axis or "one_sided"
    own = np.asarray(arrays["axis"])
    if own.shape != () or own.dtype.kind not in "US" or str(own) not in AXES:
        raise ConfigError(f"{prefix}:axis", own.tolist(), f"one string, {allowed}")
    if axis is not None and axis != str(own):
        raise ConfigError("world.axis", axis, f"{own}, the axis of {prefix} (or leave it unset)")
    return str(own)


def check_world_arrays(
    arrays: Mapping[str, Any], *, axis: str | None = None, prefix: str = "world"
) -> dict[str, Any]:
    """Check a world's arrays and return them typed, before any work starts.

    Parameters
    ----------
    arrays : mapping of str to array_like
        Keys of :data:`SCHEMA`.
    axis : str, optional
        The configured axis (``world.axis``); must agree with the ``axis`` key.
    prefix : str, default="world"
        Names the source in messages (a file's path), as ``prefix:key``.

    Returns
    -------
    dict
        Arrays cast to float64, int64, bool, uint64 or str; ``axis`` (str) and
        ``seed`` (int) as Python scalars, always present.

    Raises
    ------
    ConfigError
        For the first bad key: unknown, missing, of the wrong dtype or shape, with
        a NaN or an out-of-range entry (named ``prefix:key[i]``).

    Examples
    --------
    >>> world = {"user_position": [0.2, 0.9], "category_name": ["calm", "angry"],
    ...          "category_low": [0.0, 0.5], "category_high": [0.5, 1.0],
    ...          "category_harm": ["mainstream", "extreme"], "item_count": [3, 1]}
    >>> check_world_arrays(world)["item_count"].tolist()
    [3, 1]
    >>> check_world_arrays({**world, "category_harm": ["mainstream", "evil"]})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ampaudit.core.errors.ConfigError: world:category_harm[1]='evil' is not allowed: ...
    """
    for name in arrays:
        if name not in _KEYS:
            raise ConfigError(prefix, name, "keys among " + ", ".join(_KEYS))
    out: dict[str, Any] = {"axis": resolve_axis(arrays, axis, prefix=prefix)}
    seed = np.asarray(arrays.get("seed", 0))
    if seed.shape != () or seed.dtype.kind not in "iu" or int(seed) < 0:
        raise ConfigError(f"{prefix}:seed", seed.tolist(), "one integer >= 0")
    out["seed"] = int(seed)
    for required in ("user_position", "category_name", "category_low", "category_high"):
        if required not in arrays:
            shape = ", ".join(_KEYS[required].shape)
            raise ConfigError(f"{prefix}:{required}", None, f"an array of shape ({shape})")
    if "category_harm" not in arrays:
        raise ConfigError(f"{prefix}:category_harm", None, "a harm class per category")
    if ("item_count" in arrays) == ("item_label" in arrays):
        raise ConfigError(
            f"{prefix}:item_label", None, "exactly one of item_count (drawn) or item_label"
        )
    for name, value in arrays.items():
        if name not in ("axis", "seed"):
            out[name] = _typed(prefix, _KEYS[name], value)
    _check_modes(out, prefix)
    dims = _dims(out)
    for name, a in out.items():
        if name in ("axis", "seed"):
            continue
        symbols = _KEYS[name].shape
        expected = tuple(int(d) if d.isdigit() else dims.get(d, -1) for d in symbols)
        if a.ndim != len(expected) or any(
            e >= 0 and e != n for e, n in zip(expected, a.shape, strict=True)
        ):
            shown = tuple(e if e >= 0 else d for e, d in zip(expected, symbols, strict=True))
            raise ConfigError(
                f"{prefix}:{name}.shape", a.shape, f"({', '.join(symbols)}) = {shown}"
            )
    _check_values(out, dims, prefix)
    return out


def _check_modes(out: dict[str, Any], prefix: str) -> None:
    """Keys that only make sense together."""
    if "item_count" in out:
        for name in _EXPLICIT_ITEM_KEYS:
            if name in out:
                raise ConfigError(
                    f"{prefix}:{name}", "given", "item_label (explicit items), not item_count"
                )
        if "utility" in out and "item_count_per_step" in out and out["item_count_per_step"].any():
            raise ConfigError(
                f"{prefix}:utility",
                "given",
                "a catalog fixed by the file: item_label, or no item_count_per_step",
            )
    elif "item_count_per_step" in out:
        raise ConfigError(f"{prefix}:item_count_per_step", "given", "item_count (drawn items)")
    if "creator_label" in out and "item_creator" not in out:
        raise ConfigError(f"{prefix}:creator_label", "given", "item_creator too")


def _dims(out: dict[str, Any]) -> dict[str, int]:
    """Sizes the arrays define (``n_users``, ``n_items``...)."""
    dims = {
        U: len(np.atleast_1d(out["user_position"])),
        C: len(np.atleast_1d(out["category_name"])),
    }
    if "item_label" in out:
        dims[I] = len(np.atleast_1d(out["item_label"]))
    elif np.ndim(out["item_count"]) == 1 and not out.get("item_count_per_step", np.zeros(1)).any():
        dims[I] = int(out["item_count"].sum())  # a catalog without arrivals
    for name in ("user_taste", "item_topics"):
        if name in out and out[name].ndim == 2:
            dims.setdefault(D, out[name].shape[1])
    if "creator_label" in out:
        dims["n_creators"] = len(np.atleast_1d(out["creator_label"]))
    return dims


def _check_values(out: dict[str, Any], dims: dict[str, int], prefix: str) -> None:
    """Ranges of the values, once shapes are right."""
    axis = out["axis"]
    low, high = AXES[axis]
    on_axis = f"positions in [{low:g}, {high:g}] (axis {axis})"
    _in_range(prefix, "user_position", out["user_position"], low, high, on_axis)
    for name in ("user_susceptibility", "user_appetite", "user_activity"):
        if name in out:
            _in_range(prefix, name, out[name], 0, 1, "numbers in [0, 1]")
    for name in ("item_quality", "item_appeal", "item_score"):
        if name in out:
            _in_range(prefix, name, out[name], 0, 1, "numbers in [0, 1]")
    if "user_latitude" in out:
        _in_range(prefix, "user_latitude", out["user_latitude"], 0, high - low, "distances >= 0")
    if "user_group" in out:
        _in_range(prefix, "user_group", out["user_group"], 0, None, "group ids >= 0")
    names = out["category_name"]
    for i, name in enumerate(names):
        if not name or name in names[:i]:
            raise ConfigError(f"{prefix}:category_name[{i}]", str(name), "unique, non-empty names")
    bad_harm = ~np.isin(out["category_harm"], CATEGORIES)
    if bad_harm.any():
        raise ConfigError(
            _at(f"{prefix}:category_harm", bad_harm),
            str(out["category_harm"][bad_harm][0]),
            "a harm class: " + ", ".join(CATEGORIES),
        )
    lo, hi = out["category_low"], out["category_high"]
    _in_range(prefix, "category_low", lo, low, high, on_axis)
    _in_range(prefix, "category_high", hi, low, high, on_axis)
    if (hi < lo).any():
        i = int(np.argmax(hi < lo))
        raise ConfigError(
            f"{prefix}:category_high[{i}]", float(hi[i]), f">= category_low = {lo[i]:g}"
        )
    n_cat, n_users = dims[C], dims[U]
    for name in ("item_count", "item_count_per_step"):
        if name in out:
            _in_range(prefix, name, out[name], 0, None, "counts >= 0")
    if "item_label" in out:
        label = out["item_label"]
        _in_range(prefix, "item_label", label, 0, n_cat - 1, f"category indices in 0..{n_cat - 1}")
        if "item_position" in out:
            pos = out["item_position"]
            outside = (pos < lo[label]) | (pos > hi[label])
            if outside.any():
                i = int(np.argmax(outside))
                c = label[i]
                raise ConfigError(
                    f"{prefix}:item_position[{i}]",
                    float(pos[i]),
                    f"inside its category {str(names[c])!r}: [{lo[c]:g}, {hi[c]:g}]",
                )
    if "item_created" in out:
        created = out["item_created"]
        _in_range(prefix, "item_created", created, -1, None, "steps >= -1")
        if (np.diff(created) < 0).any():
            i = int(np.argmax(np.diff(created) < 0)) + 1
            raise ConfigError(
                f"{prefix}:item_created[{i}]", int(created[i]), "non-decreasing steps"
            )
    if "item_original" in out:
        n_items = dims[I]
        _in_range(prefix, "item_original", out["item_original"], 0, n_items - 1, "item ids")
    if "creator_label" in out:
        _in_range(prefix, "creator_label", out["creator_label"], 0, n_cat - 1, "category indices")
    if "item_creator" in out:
        last = dims["n_creators"] - 1 if "n_creators" in dims else None
        what = "creator ids >= 0" if last is None else f"creator ids in 0..{last} (creator_label)"
        _in_range(prefix, "item_creator", out["item_creator"], 0, last, what)
    if "edges" in out:
        _in_range(prefix, "edges", out["edges"], 0, n_users - 1, f"user ids in 0..{n_users - 1}")
    if "follows" in out:
        n_creators = _n_creators(out, n_cat)
        what = f"(user, creator) ids in 0..{n_users - 1} and 0..{n_creators - 1}"
        bad = (out["follows"] < 0) | (out["follows"] >= np.array([n_users, n_creators]))
        if bad.any():
            raise ConfigError(_at(f"{prefix}:follows", bad), int(out["follows"][bad][0]), what)


def _n_creators(out: Mapping[str, Any], n_categories: int) -> int:
    """Creators of a world: its ``creator_label``, its items' creators, or one per category."""
    if "creator_label" in out:
        return len(out["creator_label"])
    if "item_creator" in out:
        return int(out["item_creator"].max()) + 1 if len(out["item_creator"]) else 0
    return n_categories


def load_world_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read a world file: an ``.npz`` (see the module docstring for its keys).

    Raises
    ------
    ConfigError
        ``world.path`` if the file is missing or not a readable ``.npz``.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError("world.path", str(path), "an existing .npz world file")
    if not zipfile.is_zipfile(p):
        raise ConfigError("world.path", str(path), "an .npz world file (this is not one)")
    try:
        with np.load(p, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except ValueError as exc:  # object arrays would need pickle, which is never loaded
        raise ConfigError(
            "world.path", str(path), "an .npz of numbers, booleans and strings (no objects)"
        ) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError("world.path", str(path), f"a readable .npz file ({exc})") from exc


def save_world_arrays(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Check a world's arrays and write them as a compressed ``.npz`` file.

    Parameters
    ----------
    path : str or Path
        Where to write (``.npz`` is appended if missing, as numpy does).
    arrays : mapping of str to array_like
        Keys of :data:`SCHEMA`; checked first (:func:`check_world_arrays`).

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from ampaudit.simulations.example_worlds import two_sided_example
    >>> folder = tempfile.mkdtemp()
    >>> path = save_world_arrays(f"{folder}/two_sided", two_sided_example())
    >>> world = load_world_arrays(path)
    >>> world["category_name"].tolist(), world["utility"].shape
    (['far_left', 'left', 'centre', 'right', 'far_right'], (60, 100))
    """
    check_world_arrays(arrays, prefix=str(path))
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    payload: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
    np.savez_compressed(p, **payload)
    return p
