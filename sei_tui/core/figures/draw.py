"""The four figures drawn with matplotlib's object-oriented API (a `Figure`, no pyplot).

Each function takes the plain data of `figures.data` and returns a `Figure`; artists carry
a `gid` (an `id` in SVG) and a label, so tests and scripts can read the plotted numbers
back. Drawing reads rcParams: call these inside `files.figure_context()`.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from sei_tui.core.figures.data import (
    KNOWN_STRATEGIES,
    CsCurve,
    LatencyBars,
    ParetoData,
    SensitivityMap,
)
from sei_tui.core.figures.style import (
    CELL_HATCHES,
    CYCLE,
    LATENCY_PARTS,
    OKABE_ITO,
    SERIES_STYLES,
    STRATEGY_STYLE,
    strategy_style,
)
from sei_tui.core.units import display_seconds, format_rate

MS = 1e3  # seconds -> milliseconds on latency axes
LABELLED_TICKS = 48  # up to this many split points get a tick label each


def _latency_lines(
    draw_line: Callable[..., Any], data: LatencyBars | ParetoData, qos_gid: str
) -> list:
    """The deadline (dashed) and each QoS bound on p95 latency (dash-dotted), in ms, drawn
    with `draw_line` (an axes' axhline or axvline); their legend handles."""
    handles = []
    if data.deadline_s is not None:
        handles.append(
            draw_line(
                data.deadline_s * MS,
                color=OKABE_ITO["black"],
                linestyle=(0, (6, 3)),
                linewidth=1.2,
                label=f"deadline {display_seconds(data.deadline_s)}",
                gid="deadline",
            )
        )
    for k, (text, bound) in enumerate(data.latency_bounds):
        handles.append(
            draw_line(
                bound * MS,
                color=OKABE_ITO["black"],
                linestyle="-.",
                linewidth=1.0,
                label=f"QoS {text}",
                gid=f"{qos_gid}-{k}",
            )
        )
    return handles


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _note(ax, text: str) -> None:
    """A remark under the x label: outside the plot, so it never hides a point."""
    ax.set_xlabel(f"{ax.get_xlabel()}\n({text})")


def _legend(fig: Figure, handles: list, columns: int) -> None:
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=max(1, min(columns, len(handles))),
            frameon=False,
        )


# ---------------------------------------------------------------- cs-curve

# payload lines: the palette without vermillion, the colour of the CS maxima
PAYLOAD_COLOURS = tuple(c for c in CYCLE if c != OKABE_ITO["vermillion"])


def draw_cs_curve(curve: CsCurve) -> Figure:
    n = len(curve.indices)
    fig = Figure(figsize=(max(6.4, min(14.0, 2.5 + 0.2 * n)), 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Cumulative saliency along the split points\n{curve.title}")
    ax.set_xlabel("split point (index and the node the cut follows)")
    ax.set_ylabel("cumulative saliency CS (dimensionless, log scale)")
    handles = []
    drawn = [(i, v) for i, v in zip(curve.indices, curve.cs, strict=True) if _finite(v) and v > 0]
    if drawn:
        ax.set_yscale("log")
        (line,) = ax.plot(
            [i for i, _ in drawn],
            [v for _, v in drawn],
            color=OKABE_ITO["black"],
            linestyle="-",
            linewidth=1.4,
            marker="o",
            markersize=3.0,
            label="CS",
            gid="cs",
        )
        handles.append(line)
        maxima = [(i, v) for i, v in drawn if i in set(curve.maxima)]
        if maxima:
            handles.append(
                ax.scatter(
                    [i for i, _ in maxima],
                    [v for _, v in maxima],
                    marker="*",
                    s=150,
                    facecolors=OKABE_ITO["vermillion"],
                    edgecolors=OKABE_ITO["black"],
                    linewidths=0.7,
                    zorder=3,
                    label="CS maximum (candidate split)",
                    gid="cs-maxima",
                )
            )
            for i, v in maxima:
                ax.annotate(
                    str(i),
                    (i, v),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=7,
                )
    if curve.payloads:
        payload_ax = ax.twinx()
        payload_ax.grid(False)
        payload_ax.set_yscale("log")
        payload_ax.set_ylabel("payload per frame (bytes, log scale)")
        for k, series in enumerate(curve.payloads):
            linestyle, marker = SERIES_STYLES[k % len(SERIES_STYLES)]
            (line,) = payload_ax.plot(
                list(series.indices),
                list(series.payload_bytes),
                color=PAYLOAD_COLOURS[k % len(PAYLOAD_COLOURS)],
                linestyle=linestyle,
                linewidth=1.0,
                marker=marker,
                markersize=3.0,
                label=f"payload: {series.name}",
                gid=f"payload-{k}",
            )
            handles.append(line)
    ax.margins(y=0.1)  # room for the maxima's labels
    if 0 < n <= LABELLED_TICKS:
        labels = [f"{i} {after}" for i, after in zip(curve.indices, curve.afters, strict=True)]
        ax.set_xticks(list(curve.indices), labels=labels, rotation=90, fontsize=6.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if curve.note or not drawn:
        _note(ax, curve.note or "no CS values to draw")
    _legend(fig, handles, 3)
    return fig


# ---------------------------------------------------------------- latency-by-split


def bar_positions(data: LatencyBars) -> list[float]:
    """x of each bar: the local/remote references, a gap, then the splits."""
    xs: list[float] = []
    x = 0.0
    previous_reference = None
    for bar in data.bars:
        reference = bar.strategy in ("local", "remote")
        if previous_reference and not reference:
            x += 0.6
        xs.append(x)
        x += 1.0
        previous_reference = reference
    return xs


def draw_latency_by_split(data: LatencyBars) -> Figure:
    bars = data.bars
    fig = Figure(figsize=(max(6.4, min(16.0, 2.2 + 0.28 * len(bars))), 5.2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Latency by split\n{data.title}")
    ax.set_ylabel("latency per frame (ms)")
    ax.set_xlabel("deployment · encoding (for each split the encoding with the lowest p95)")
    xs = bar_positions(data)
    arrived = [_finite(b.network_s) for b in bars]
    edge = [b.edge_s * MS for b in bars]
    network = [b.network_s * MS if ok else 0.0 for b, ok in zip(bars, arrived, strict=True)]
    server = [b.server_s * MS if ok else 0.0 for b, ok in zip(bars, arrived, strict=True)]
    bottoms = (
        [0.0] * len(bars),
        edge,
        [e + n for e, n in zip(edge, network, strict=True)],
    )
    handles = []
    for (label, colour, hatch), heights, bottom, gid in zip(
        LATENCY_PARTS, (edge, network, server), bottoms, ("edge", "network", "server"), strict=True
    ):
        container = ax.bar(
            xs,
            heights,
            bottom=bottom,
            width=0.8,
            color=colour,
            hatch=hatch,
            edgecolor=OKABE_ITO["black"],
            linewidth=0.5,
            label=label,
        )
        for k, patch in enumerate(container.patches):
            patch.set_gid(f"{gid}-{k}")  # one SVG id per bar segment
        handles.append(container)
    finite = [(x, b.p95_s * MS) for x, b in zip(xs, bars, strict=True) if _finite(b.p95_s)]
    if finite:
        (p95,) = ax.plot(
            [x for x, _ in finite],
            [v for _, v in finite],
            linestyle="none",
            marker="D",
            markersize=4.5,
            markerfacecolor="white",
            markeredgecolor=OKABE_ITO["black"],
            label="p95 latency of the row (end to end)",
            gid="p95",
        )
        handles.append(p95)
    for x, b, ok in zip(xs, bars, arrived, strict=True):
        if not ok:
            ax.annotate(
                "∞ never arrived",
                (x, b.edge_s * MS),
                textcoords="offset points",
                xytext=(0, 4),
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=7,
            )
    handles += _latency_lines(ax.axhline, data, "qos")
    lines = [b * MS for _, b in data.latency_bounds]
    if data.deadline_s is not None:
        lines.append(data.deadline_s * MS)
    if lines:
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, max(top, max(lines) * 1.08))  # the lines, not the frame
    references = sum(b.strategy in ("local", "remote") for b in bars)
    if 0 < references < len(bars):
        ax.axvline(xs[references - 1] + 0.8, color="#777777", linestyle=":", linewidth=0.8)
    ax.set_xticks(xs, labels=[f"{b.label} · {b.encoding}" for b in bars], rotation=90, fontsize=6.5)
    ax.set_xlim(-0.7, (xs[-1] + 0.7) if xs else 1.0)
    ax.grid(axis="x", visible=False)
    if not bars:
        _note(ax, "no rows with the latency fields")
    _legend(fig, handles, 3)
    return fig


# ---------------------------------------------------------------- pareto


def _strategy_order(strategy: str) -> tuple:
    if strategy in KNOWN_STRATEGIES:
        return (KNOWN_STRATEGIES.index(strategy), strategy)
    return (len(KNOWN_STRATEGIES), strategy)


def draw_pareto(data: ParetoData) -> Figure:
    fig = Figure(figsize=(6.4, 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Latency and accuracy\n{data.title}")
    ax.set_xlabel("p95 latency per frame (ms)")
    if data.accuracy_kind == "labels":
        ax.set_ylabel("accuracy (% of images)")
    else:
        ax.set_ylabel("top-1 agreement with the whole model (% of images)")
    points = data.points
    strategies = sorted({p.strategy for p in points}, key=_strategy_order)
    others = sorted(s for s in strategies if s not in STRATEGY_STYLE)
    handles = []
    for strategy in strategies:
        marker, colour = strategy_style(strategy, others)
        for feasible in (True, False):
            chosen = [p for p in points if p.strategy == strategy and p.feasible == feasible]
            if not chosen:
                continue
            ax.scatter(
                [p.p95_s * MS for p in chosen],
                [p.accuracy * 100 for p in chosen],
                marker=marker,
                s=26 if strategy == "split" else 40,
                facecolors=colour if feasible else "none",
                edgecolors=OKABE_ITO["black"] if feasible else colour,
                linewidths=0.5 if feasible else 1.1,
                zorder=3 if strategy == "split" else 3.5,  # the few references stay visible
                gid=f"points-{strategy}-{'feasible' if feasible else 'violating'}",
            )
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linestyle="none",
                marker=marker,
                markerfacecolor=colour,
                markeredgecolor=OKABE_ITO["black"],
                markeredgewidth=0.5,
                label=strategy,
            )
        )
    if any(not p.feasible for p in points):
        handles.append(
            Line2D(
                [],
                [],
                color=OKABE_ITO["black"],
                linestyle="none",
                marker="o",
                markerfacecolor="none",
                markeredgecolor=OKABE_ITO["black"],
                label="open marker: violates the QoS",
            )
        )
    if data.front:
        (front,) = ax.step(
            [p.p95_s * MS for p in data.front],
            [p.accuracy * 100 for p in data.front],
            where="post",
            color=OKABE_ITO["black"],
            linestyle="-",
            linewidth=1.2,
            marker="+",
            markersize=9,
            markeredgewidth=1.2,
            zorder=4,
            label="Pareto front",
            gid="front",
        )
        handles.append(front)
    rec = data.recommended
    if rec is not None:
        handles.append(
            ax.scatter(
                [rec.p95_s * MS],
                [rec.accuracy * 100],
                marker="o",
                s=220,
                facecolors="none",
                edgecolors=OKABE_ITO["black"],
                linewidths=1.6,
                zorder=4,
                label=f"recommended: {rec.label} {rec.encoding}",
                gid="recommended",
            )
        )
    handles += _latency_lines(ax.axvline, data, "qos-latency")
    for k, (text, bound) in enumerate(data.accuracy_bounds):
        handles.append(
            ax.axhline(
                bound * 100,
                color=OKABE_ITO["black"],
                linestyle=":",
                linewidth=1.2,
                label=f"QoS {text}",
                gid=f"qos-accuracy-{k}",
            )
        )
    latencies = [p.p95_s for p in points if p.p95_s > 0]
    if latencies and max(latencies) > 20 * min(latencies):
        ax.set_xscale("log")
        ax.set_xlabel("p95 latency per frame (ms, log scale)")
    bottom, top = ax.get_ylim()
    if top > 100 >= max((p.accuracy * 100 for p in points), default=0):
        ax.set_ylim(bottom, 100.5)  # no room above a perfect score
    if data.hidden:
        _note(ax, f"{data.hidden} deployment(s) not drawn: no finite p95 latency or no accuracy")
    _legend(fig, handles, 3)
    return fig


# ---------------------------------------------------------------- sensitivity-map


def letter(category: int) -> str:
    """A, B, ..., Z, AA, AB, ...: the key of a deployment in the map."""
    letters = string.ascii_uppercase
    out = ""
    category += 1
    while category:
        category, rest = divmod(category - 1, len(letters))
        out = letters[rest] + out
    return out


def axis_title(key: str) -> str:
    link, _, parameter = key.rpartition(".")
    where = f"link {link}" if link else "every link"
    return {
        "bitrate": f"bitrate of {where} (bit/s)",
        "loss": f"packet loss of {where} (probability)",
        "delay": f"delay of {where} (s)",
    }.get(parameter, key)


def axis_value(key: str, value: float) -> str:
    parameter = key.rpartition(".")[2]
    if parameter == "bitrate":
        return format_rate(value)
    if parameter == "delay":
        return display_seconds(value)
    return f"{value:.4g}"


def cell_style(category: int) -> tuple[str, str]:
    """(colour, hatch) of a deployment's cells: unique for len(CYCLE) x len(HATCHES) of them."""
    return CYCLE[category % len(CYCLE)], CELL_HATCHES[category % len(CELL_HATCHES)]


def draw_sensitivity_map(data: SensitivityMap) -> Figure:
    columns = len(data.axes[-1].values)
    rows = len(data.cells)
    legend_lines = math.ceil((len(data.categories) + 1) / 2)
    height = 2.2 + 0.55 * rows + 0.22 * legend_lines
    fig = Figure(figsize=(max(6.4, 2.8 + 1.0 * columns), height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Recommended deployment over the sweep\n{data.title}")
    ax.grid(False)
    for r, row in enumerate(data.cells):
        for c, category in enumerate(row):
            if category is None:
                colour, hatch, text = "white", "", "none\nfeasible"
            else:
                colour, hatch = cell_style(category)
                text = f"{letter(category)}\n{display_seconds(data.p95_s[r][c])}"
            ax.add_patch(
                Rectangle(
                    (c, r),
                    1,
                    1,
                    facecolor=colour,
                    hatch=hatch,
                    edgecolor=OKABE_ITO["black"],
                    linewidth=0.6,
                    gid=f"cell-{r}-{c}",
                )
            )
            ax.text(
                c + 0.5,
                r + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)  # the first grid row at the top
    last = data.axes[-1]
    ax.set_xticks(
        [c + 0.5 for c in range(columns)],
        labels=[axis_value(last.key, v) for v in last.values],
        rotation=45 if columns > 6 else 0,
    )
    ax.set_xlabel(axis_title(last.key))
    outer = data.axes[:-1]
    if not outer:
        ax.set_yticks([])
    else:
        labels = [
            ", ".join(axis_value(k, v) for k, v in values.items()) for values in data.row_labels
        ]
        ax.set_yticks([r + 0.5 for r in range(rows)], labels=labels)
        ax.set_ylabel("; ".join(axis_title(a.key) for a in outer))
    handles = []
    for category, name in enumerate(data.categories):
        colour, hatch = cell_style(category)
        handles.append(
            Patch(
                facecolor=colour,
                hatch=hatch,
                edgecolor=OKABE_ITO["black"],
                label=f"{letter(category)}: {name}",
            )
        )
    if any(c is None for row in data.cells for c in row):
        handles.append(
            Patch(facecolor="white", edgecolor=OKABE_ITO["black"], label="none feasible")
        )
    _legend(fig, handles, 2)
    return fig


DRAW = {
    "cs-curve": draw_cs_curve,
    "latency-by-split": draw_latency_by_split,
    "pareto": draw_pareto,
    "sensitivity-map": draw_sensitivity_map,
}
