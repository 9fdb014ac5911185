"""The sensitivity map as a grid of text: for two sweep axes, each cell the recommended
deployment there (a letter keyed in a legend), feasibility marked.

Plain data and text (no Textual, no matplotlib): the CLI prints it (`sei analyze --sweep`,
`sei study --report`) and the TUI can draw the same `SensitivityGrid`. A point is a dict
as in the JSON reports (`values`: axis -> value, `strategy`, `split_index`, `after`,
`encoding`, `p95_latency`; `strategy` None when nothing is feasible). Axes other than the
two shown, and different models or scenarios, give one grid each.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sei_tui.core.errors import SeiInputError
from sei_tui.core.figures.data import sweep_label
from sei_tui.core.units import format_duration

__all__ = [
    "INFEASIBLE",
    "MISSING",
    "SensitivityGrid",
    "default_axes",
    "format_axis_value",
    "legend_lines",
    "parse_axes",
    "render_grid",
    "render_grids",
    "sensitivity_grids",
]

INFEASIBLE = "-"  # nothing meets the QoS at this point
MISSING = "?"  # the point is not computed (yet)
LETTERS = string.ascii_uppercase + string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class SensitivityGrid:
    x: str  # the axis across
    y: str | None  # the axis down (None: one row)
    x_values: tuple[float, ...]
    y_values: tuple[float, ...]  # (0.0,) when y is None
    fixed: dict  # what is the same in the whole grid: other axes, model, scenario
    legend: tuple[str, ...]  # deployment labels; cell value i is LETTERS[i]
    cells: tuple[tuple[int | None, ...], ...]  # [y][x] -> legend index, None: see `state`
    state: tuple[tuple[str, ...], ...]  # [y][x] "feasible", "infeasible" or "missing"
    p95_s: tuple[tuple[float | None, ...], ...]  # [y][x] the recommended row's p95

    def letter(self, i: int) -> str:
        return LETTERS[i] if i < len(LETTERS) else "*"


def _parameter(key: str) -> str:
    return key.rpartition(".")[2]


def default_axes(keys: Sequence[str]) -> tuple[str, str | None]:
    """Bitrate across and loss down when the sweep has them; else the first two axes."""
    keys = list(keys)
    if not keys:
        raise SeiInputError("sensitivity map: the sweep has no axis")
    x = next((k for k in keys if _parameter(k) == "bitrate"), keys[0])
    rest = [k for k in keys if k != x]
    y = next((k for k in rest if _parameter(k) == "loss"), rest[0] if rest else None)
    return x, y


def parse_axes(text: str, keys: Sequence[str]) -> tuple[str, str | None]:
    """`--axes X,Y` (or `X`): axis keys of the sweep, checked."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
        raise SeiInputError(f"--axes {text!r}: expected X,Y (two different sweep axes)")
    for name in names:
        if name not in keys:
            raise SeiInputError(
                f"--axes {text!r}: {name!r} is not an axis of the sweep ({', '.join(keys)})"
            )
    return names[0], names[1] if len(names) == 2 else None


def format_axis_value(key: str, value: float) -> str:
    parameter = _parameter(key)
    if parameter == "bitrate":
        for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:.3g}{prefix}bps"
        return f"{value:.3g}bps"
    if parameter == "delay":
        return format_duration(float(f"{value:.3g}"))
    return f"{value:.3g}"


def sensitivity_grids(
    points: Sequence[Mapping],
    axes: tuple[str, str | None] | None = None,
    expected: Mapping[str, Sequence[float]] | None = None,
) -> list[SensitivityGrid]:
    """One grid per combination of everything but the two axes (other axes' values, model,
    scenario). `expected` (axis -> every value) marks points not in `points` as missing."""
    keys = list(points[0]["values"]) if points else list(expected or {})
    if not keys:
        return []
    x, y = axes or default_axes(keys)
    values: dict[str, list[float]] = {k: list((expected or {}).get(k, ())) for k in keys}
    for point in points:
        for k in keys:
            v = float(point["values"][k])
            if v not in values[k]:
                values[k].append(v)
    for k in keys:
        values[k].sort()
    xs = tuple(values[x])
    ys = tuple(values[y]) if y is not None else (0.0,)
    by_fixed: dict[tuple, dict] = {}
    for point in points:
        fixed = tuple((k, float(point["values"][k])) for k in keys if k not in (x, y)) + tuple(
            (k, point[k]) for k in ("model", "scenario") if point.get(k) is not None
        )
        by_fixed.setdefault(fixed, {})[
            (float(point["values"][x]), float(point["values"][y]) if y is not None else 0.0)
        ] = point
    legend: list[str] = []
    grids = []
    for fixed, cells_at in by_fixed.items():
        cells, state, p95 = [], [], []
        for yv in ys:
            row_cells, row_state, row_p95 = [], [], []
            for xv in xs:
                point = cells_at.get((xv, yv))
                label = None if point is None else sweep_label(point)
                if point is None:
                    row_cells.append(None)
                    row_state.append("missing")
                    row_p95.append(None)
                elif label is None:
                    row_cells.append(None)
                    row_state.append("infeasible")
                    row_p95.append(None)
                else:
                    if label not in legend:
                        legend.append(label)
                    row_cells.append(legend.index(label))
                    row_state.append("feasible")
                    row_p95.append(point.get("p95_latency"))
            cells.append(tuple(row_cells))
            state.append(tuple(row_state))
            p95.append(tuple(row_p95))
        grids.append((fixed, cells, state, p95))
    return [
        SensitivityGrid(
            x=x,
            y=y,
            x_values=xs,
            y_values=ys,
            fixed=dict(fixed),
            legend=tuple(legend),
            cells=tuple(cells),
            state=tuple(state),
            p95_s=tuple(p95),
        )
        for fixed, cells, state, p95 in grids
    ]


def render_grid(grid: SensitivityGrid) -> list[str]:
    """The grid as text lines: the x axis across, y down, a letter per cell, the legend."""
    heads = [format_axis_value(grid.x, v) for v in grid.x_values]
    ylabels = [format_axis_value(grid.y, v) for v in grid.y_values] if grid.y is not None else [""]
    corner = f"{grid.y or ''} \\ {grid.x}" if grid.y is not None else grid.x
    left = max(len(corner), *(len(t) for t in ylabels))
    width = max(1, *(len(h) for h in heads))
    lines = []
    if grid.fixed:
        lines.append(", ".join(f"{k}={_fixed(k, v)}" for k, v in grid.fixed.items()) + ":")
    lines.append(corner.ljust(left) + " " + " ".join(h.rjust(width) for h in heads))
    for label, cells, state in zip(ylabels, grid.cells, grid.state, strict=True):
        marks = [
            grid.letter(c) if s == "feasible" else (INFEASIBLE if s == "infeasible" else MISSING)
            for c, s in zip(cells, state, strict=True)
        ]
        lines.append(label.ljust(left) + " " + " ".join(m.rjust(width) for m in marks))
    return [line.rstrip() for line in lines]


def legend_lines(grids: Sequence[SensitivityGrid]) -> list[str]:
    legend = grids[0].legend if grids else ()
    out = [f"  {grids[0].letter(i)}  {label}" for i, label in enumerate(legend)]
    out.append(f"  {INFEASIBLE}  nothing meets the QoS")
    if any(s == "missing" for g in grids for row in g.state for s in row):
        out.append(f"  {MISSING}  not computed yet")
    return out


def render_grids(grids: Sequence[SensitivityGrid]) -> list[str]:
    """Every grid, then one legend (the grids share it)."""
    lines: list[str] = []
    for grid in grids:
        lines += render_grid(grid)
        lines.append("")
    if grids:
        lines.append("Legend:")
        lines += legend_lines(grids)
    return lines


def _fixed(key: str, value: object) -> str:
    if isinstance(value, float):
        return format_axis_value(key, value)
    return str(value)
