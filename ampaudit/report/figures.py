"""The report's figures: matplotlib drawn to inline SVG, each with alt text.

Colours are the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies) and arms also differ in line style or marker, so no figure relies on
colour alone. Text stays text in the SVG (``svg.fonttype = none``): readable by
screen readers, searchable, and escaped by matplotlib's XML writer.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ampaudit.estimands import share_bands
from ampaudit.report.analysis import Finals, Finding, recorded_keys

__all__ = ["Figure", "frontier", "groups", "opinions", "sock_curves", "time_series"]

#: Okabe & Ito (2008), "Color universal design": black first, then by contrast.
PALETTE = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
LINESTYLES = ("--", "-", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), "-")
MARKERS = ("s", "o", "^", "D", "v", "P", "X", "*")
#: Per-step series drawn as a moving average over a twentieth of the horizon.
SMOOTHED = ("cons_share.extreme", "rec_share.extreme")


@dataclass(frozen=True)
class Figure:
    """One inline figure."""

    key: str
    title: str
    svg: str
    alt: str


def _style(i: int) -> dict[str, Any]:
    return {
        "color": PALETTE[i % len(PALETTE)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "marker": MARKERS[i % len(MARKERS)],
    }


def _legend(fig: Any, axes: Any) -> None:
    """One legend below the panels, from the first axes that has labelled artists.

    Below, not inside: with several arms an inside legend hides the data. A partial
    audit may have nothing labelled, and then there is no legend.
    """
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            legend = fig.legend(
                handles,
                labels,
                loc="upper center",
                bbox_to_anchor=(0.5, 0.0),
                ncol=min(3, len(handles)),
                frameon=False,
                fontsize=8,
            )
            for handle in legend.legend_handles:  # scatter sizes carry data, not identity
                if hasattr(handle, "set_sizes"):
                    handle.set_sizes([36])
            return


#: Untrusted names become labels: never parse them as mathtext (``$..$`` would be
#: rendered, or crash the report on a malformed expression).
RC: Any = {"text.parse_math": False, "svg.fonttype": "none", "font.size": 9}
_ID = re.compile(r'(\bid="|url\(#|href="#)')


def _styled(draw: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Run a figure function under :data:`RC`: text objects read it when created."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure | None:
        import matplotlib

        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)

    return wrapper


def _label(text: str) -> str:
    """A legend label shown as given (matplotlib hides labels starting with ``_``)."""
    return " " + text if text.startswith("_") else text


def _svg(fig: Any, key: str) -> str:
    """The figure as an ``<svg>`` element whose ids are unique on the page."""
    import matplotlib
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": key}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    # several SVGs share one HTML document: prefix every id and reference to one
    return _ID.sub(lambda m: f"{m.group(1)}{key}-", text[text.index("<svg") :])


def _new(n_panels: int, width: float = 4.6, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3, linewidth=0.5)
    return fig, axes[0]


@_styled
def time_series(
    series: Any, arms: list[str], labels: Mapping[str, str], *, confidence: float
) -> Figure | None:
    """Extreme consumption share and radicalised fraction per step, with bounded CI bands."""
    panels = [
        ("cons_share.extreme", "Extreme share of consumption (moving average)"),
        ("radicalised", "Radicalised"),
    ]
    if series is None or len(series) == 0:
        return None
    fig, axes = _new(2)
    alt = []
    for ax, (metric, title) in zip(axes, panels, strict=True):
        part = series[series.metric == metric]
        ends = []
        for i, arm in enumerate(arms):
            rows = part[part.arm == arm]
            if rows.empty:
                continue
            matrix = rows.pivot_table(index="replicate", columns="step", values="value").dropna(
                axis=1
            )
            if matrix.shape[1] == 0:
                continue
            values = matrix.to_numpy()
            if metric in SMOOTHED:  # per-step shares are noisy: a moving average
                window = max(1, values.shape[1] // 20)
                values = _moving_average(values, window)
            # both panels are shares: bands on the logit scale stay within [0, 1]
            mean, low, high = share_bands(values, confidence=confidence)
            steps = matrix.columns.to_numpy()
            style = _style(i)
            ax.plot(
                steps,
                mean,
                label=_label(labels.get(arm, arm)),
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=1.4,
            )
            ax.fill_between(steps, low, high, color=style["color"], alpha=0.12, linewidth=0)
            ends.append(f"{labels.get(arm, arm)} {mean[-1]:.3g}")
        ax.set_title(title)
        ax.set_xlabel("step")
        alt.append(f"{title} at the last step: {', '.join(ends)}")
    _legend(fig, axes)
    return Figure(
        "time_series",
        "Over time",
        _svg(fig, "time_series"),
        "Two line charts over the simulation steps, one line per arm with a shaded "
        f"{confidence:.0%} confidence band; the extreme share of consumption is a moving "
        "average over a twentieth of the horizon. " + ". ".join(alt) + ".",
    )


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` columns (fewer at the start), row by row.

    Examples
    --------
    >>> _moving_average(np.array([[1.0, 3.0, 5.0]]), 2).tolist()
    [[1.0, 2.0, 4.0]]
    """
    sums = np.cumsum(values, axis=1)
    sums[:, window:] = sums[:, window:] - sums[:, :-window]
    counts = np.minimum(np.arange(1, values.shape[1] + 1), window)
    return sums / counts


@_styled
def frontier(findings: list[Finding], labels: Mapping[str, str]) -> Figure | None:
    """Harm reduced against engagement cost per intervention; bigger markers, more collateral."""
    points = [f for f in findings if f.harm_reduced is not None and f.engagement_cost is not None]
    if not points:
        return None
    fig, axes = _new(1, width=6.0, height=4.0)
    ax = axes[0]
    biggest = max((f.collateral or 0.0 for f in points), default=0.0) or 1.0
    ax.axhline(0, color="#777777", linewidth=0.8)
    ax.axvline(0, color="#777777", linewidth=0.8)
    ax.plot(
        [0],
        [0],
        marker="o",
        color=PALETTE[1],
        markersize=6,
        linestyle="none",
        label="recommender alone",
    )
    alt = []
    for i, f in enumerate(points, start=2):
        h, c = f.harm_reduced, f.engagement_cost
        assert h is not None
        assert c is not None
        style = _style(i)
        size = 40 + 600 * (f.collateral or 0.0) / biggest
        ax.errorbar(
            c.mean,
            h.mean,
            xerr=_err(c),
            yerr=_err(h),
            color=style["color"],
            linewidth=1,
            capsize=2,
            linestyle="none",
        )
        ax.scatter(
            [c.mean],
            [h.mean],
            s=size,
            color=style["color"],
            marker=style["marker"],
            alpha=0.8,
            edgecolors="white",
            zorder=3,
            label=_label(labels.get(f.arm, f.arm)),
        )
        name = labels.get(f.arm, f.arm)
        alt.append(
            f"{name}: harm reduced {h.mean:.1f}%, engagement cost {c.mean:.1f}%, "
            + (
                "collateral not recorded"
                if f.collateral is None
                else f"collateral {f.collateral:.0f}"
            )
        )
    ax.set_xlabel("engagement cost (% of click-through lost)")
    ax.set_ylabel("harm reduced (% less extreme consumption)")
    _legend(fig, axes)
    return Figure(
        "frontier",
        "Benefit and cost",
        _svg(fig, "frontier"),
        "Scatter plot of interventions: harm reduced (up is better) against engagement "
        "cost (left is better), with confidence intervals as error bars; marker area grows "
        "with collateral actions on legitimate items (the smallest marker: none). "
        + "; ".join(alt)
        + ".",
    )


def _err(est: Any) -> Any:
    if not est.has_interval:
        return None
    return [[est.mean - est.low], [est.high - est.mean]]


@_styled
def groups(finals: Finals, arms: list[str], labels: Mapping[str, str]) -> Figure | None:
    """Extreme consumption share and radicalised fraction per group, bars per arm."""
    names = sorted(
        {k.split(".")[1] for k in recorded_keys(finals) if k.startswith("group.")},
        key=lambda g: (g in ("others", "at_risk"), g == "at_risk", g),
    )
    if not names:
        return None
    panels = [
        ("cons_share.extreme", "Extreme share of consumption"),
        ("radicalised", "Radicalised"),
    ]
    fig, axes = _new(2, width=5.0)
    width = 0.8 / max(len(arms), 1)
    alt = []
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for i, arm in enumerate(arms):
            means = [
                _mean([v.get(f"group.{g}.{metric}", math.nan) for v in finals[arm].values()])
                for g in names
            ]
            style = _style(i)
            ax.bar(
                np.arange(len(names)) + i * width,
                np.nan_to_num(means),
                width,
                label=_label(labels.get(arm, arm)),
                color=style["color"],
                hatch=("", "//", "..", "xx", "\\\\", "oo", "--", "++")[i % 8],
                edgecolor="white",
                linewidth=0.5,
            )
            if metric == "cons_share.extreme":
                alt.append(
                    f"{labels.get(arm, arm)}: "
                    + ", ".join(
                        f"{g.replace('_', '-')} {m:.3g}" for g, m in zip(names, means, strict=False)
                    )
                )
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
        ax.set_xticklabels([g.replace("_", "-") for g in names], rotation=20)
        ax.set_title(title)
    _legend(fig, axes)
    return Figure(
        "groups",
        "By group",
        _svg(fig, "groups"),
        "Bar charts per community, for everyone outside the at-risk minority (others) and "
        "for the at-risk minority, one bar per arm. Extreme "
        "share of consumption by group: " + "; ".join(alt) + ".",
    )


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


@_styled
def opinions(finals: Finals, arms: list[str], labels: Mapping[str, str]) -> Figure | None:
    """Opinion histograms: the shared start, and each arm's at the horizon."""
    import matplotlib.ticker

    def histogram(arm: str, when: str) -> np.ndarray | None:
        keys = [f"opinion_hist.{when}.b{b:02d}" for b in range(n_bins)]
        rows = [[v[k] for k in keys] for v in finals[arm].values() if all(k in v for k in keys)]
        return np.mean(rows, axis=0) if rows else None

    n_bins = sum(1 for k in recorded_keys(finals) if k.startswith("opinion_hist.end."))
    present = [a for a in arms if a in finals]
    if n_bins == 0 or not present:
        return None
    edges = np.linspace(0, 1, n_bins + 1)
    fig, axes = _new(1, width=6.0, height=3.4)
    ax = axes[0]
    start = histogram(present[0], "start")
    if start is not None:
        ax.fill_between(edges, np.append(start, start[-1]), step="post", color="#BBBBBB")
        ax.plot([], [], color="#BBBBBB", linewidth=6, label="start (all arms)")
    alt = []
    for i, arm in enumerate(present):
        end = histogram(arm, "end")
        if end is None:
            continue
        style = _style(i)
        ax.step(
            edges,
            np.append(end, end[-1]),
            where="post",
            color=style["color"],
            linestyle=style["linestyle"],
            label=_label(f"{labels.get(arm, arm)} at horizon"),
            linewidth=1.3,
        )
        alt.append(f"{labels.get(arm, arm)} {float(end[edges[:-1] >= 0.7 - 1e-9].sum()):.3g}")
    ax.set_yscale("symlog", linthresh=0.01)
    # plain tick labels: the log formatter writes mathtext, which RC turns off
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("opinion (0 moderate, 1 extreme)")
    ax.set_ylabel("fraction of users")
    _legend(fig, axes)
    return Figure(
        "opinions",
        "Opinions before and after",
        _svg(fig, "opinions"),
        f"Histogram of opinions in {n_bins} bins at the start (grey) and at the horizon per "
        "arm (lines), on a log scale above 0.01. Fraction at opinion 0.7 or more at the "
        "horizon: " + ", ".join(alt) + ".",
    )


@_styled
def sock_curves(
    sock: Mapping[tuple[str, str], np.ndarray] | None,
    ranks: Mapping[tuple[str, str], np.ndarray] | None = None,
) -> Figure | None:
    """Extreme share of recommendations by walk depth, one line per persona × start.

    ``ranks`` (same cells: mean utility rank of the picks by depth) adds each
    persona's mean rank to the caption.
    """
    if not sock:
        return None
    present = {s for _, s in sock}
    starts = [s for s in ("extreme", "mainstream") if s in present] or sorted(present)[:1]
    fig, axes = _new(len(starts), width=4.6)
    personas = sorted({p for p, _ in sock})
    alt = []
    for ax, start in zip(axes, starts, strict=True):
        for i, persona in enumerate(personas):
            curves = sock.get((persona, start))
            if curves is None or curves.size == 0:
                continue
            mean = curves.mean(axis=0)
            depth = np.arange(1, len(mean) + 1)
            style = _style(i)
            ax.plot(
                depth,
                mean,
                color=style["color"],
                linestyle=style["linestyle"],
                marker=style["marker"],
                markersize=3,
                label=_label(persona),
            )
            alt.append(f"{persona} from {start}: {mean[0]:.2f} at depth 1, {mean[-1]:.2f} last")
        ax.set_title(f"start: {start}")
        ax.set_xlabel("walk depth")
        ax.set_ylabel("extreme share of recommended slots")
    _legend(fig, axes)
    caption = (
        "Line charts of the extreme share of recommendations by walk depth per persona. "
        + "; ".join(alt)
        + "."
    )
    shown = []
    for persona in personas:
        values = np.concatenate(
            [r.ravel() for (p, _), r in (ranks or {}).items() if p == persona] or [np.zeros(0)]
        )
        values = values[np.isfinite(values)]
        if values.size:
            shown.append(f"{persona} {values.mean():,.0f}")
    if shown:
        caption += (
            " Mean rank of the puppets' picks among the visible items by their own tastes "
            "(0 = the puppet's favourite): " + ", ".join(shown) + "."
        )
    return Figure("sock", "Sock-puppet walks", _svg(fig, "sock"), caption)
