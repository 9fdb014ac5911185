"""The sensitivity map, on a sweep or on a study's results folder.

`m`: a small bitrate x loss sweep for the current model and scenario runs in a worker
thread (cancellable, progress shown). `sei tui --study DIR`, `o` here or "Open study
results…" in the palette: the points of a `sei study` results folder (finished or not:
done of total shown, points not yet computed marked `?`). The grid is the core's
(`core.evaluation.sensitivity`), one letter per recommended deployment, `-` where nothing
meets the QoS; arrows move a cursor (drawn as [X], legible without colour) and the panel
below shows that point's recommended row. With more than two axes, `a` cycles the pair
drawn; `f` cycles the values the other axes (and models, scenarios) are fixed at."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.evaluation.sensitivity import (
    INFEASIBLE,
    MISSING,
    SensitivityGrid,
    default_axes,
    format_axis_value,
    legend_lines,
    sensitivity_grids,
)
from sei_tui.core.figures.data import sweep_label
from sei_tui.core.units import format_duration
from sei_tui.tui.bindings import SENSITIVITY_BINDINGS

# A few values each: a map in seconds, not minutes (`sei analyze --sweep` for more).
DEFAULT_SWEEP = "bitrate=1e6:1e8:5,loss=0:0.04:3"

SweepRun = Callable[[Callable[[float, str], None], Callable[[], bool]], list[dict]]


def read_study(folder: str, label: str | None = None) -> Any:
    """The `StudyReport` of a results folder (core `read_report`); any failure is one
    SeiInputError naming `label` (default: the folder), e.g. `--study DIR: ...`."""
    from sei_tui.core.study.report import read_report

    label = label or folder
    if not folder.strip():
        raise SeiInputError("give the results folder of a study (sei study --out DIR)")
    if not Path(folder).is_dir():
        raise SeiInputError(f"{label}: not a folder")
    try:
        return read_report(folder, label)
    except SeiInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged part file: pyarrow's own errors
        raise SeiInputError(
            f"{label}: cannot read the study results ({type(exc).__name__}: {exc})"
        ) from None


def prompt_for_study(app: Any, current: str, opened: Callable[[Any], None]) -> None:
    """Ask for a results folder (one the core cannot read is refused in the prompt, with
    the reason), then `opened(study_report)`."""
    from sei_tui.tui.screens.prompt import PromptScreen

    reports: dict[str, Any] = {}

    def check(folder: str) -> None:
        reports[folder] = read_study(folder)

    def done(folder: str | None) -> None:
        if folder and folder in reports:
            opened(reports[folder])

    app.push_screen(
        PromptScreen("Open study results", current, "path/to/results-folder", check), done
    )


def axis_pairs(keys: Sequence[str]) -> list[tuple[str, str | None]]:
    """The pairs of axes the map can draw: the default pair first (bitrate across, loss
    down), then every other pair, each oriented the same way (`default_axes`)."""
    keys = list(keys)
    if len(keys) <= 2:
        return [default_axes(keys)] if keys else []
    first = default_axes(keys)
    pairs = [first]
    for pair in combinations(keys, 2):
        oriented = default_axes(list(pair))
        if oriented not in pairs:
            pairs.append(oriented)
    return pairs


def fixed_text(fixed: Mapping) -> str:
    """`delay=1ms, model=demo`: what the grid holds fixed."""
    return ", ".join(
        f"{k}={format_axis_value(k, v) if isinstance(v, float) else v}" for k, v in fixed.items()
    )


def cell_marks(grid: SensitivityGrid) -> list[list[str]]:
    """[y][x] the mark of each cell: the legend letter, `-` infeasible, `?` missing."""
    return [
        [
            grid.letter(c) if s == "feasible" else (INFEASIBLE if s == "infeasible" else MISSING)
            for c, s in zip(cells, state, strict=True)
        ]
        for cells, state in zip(grid.cells, grid.state, strict=True)
    ]


def grid_text(grid: SensitivityGrid, cursor: tuple[int, int] | None) -> Text:
    """The grid with the cursor cell in brackets (and reversed where colour is on)."""
    heads = [format_axis_value(grid.x, v) for v in grid.x_values]
    ylabels = [format_axis_value(grid.y, v) for v in grid.y_values] if grid.y else [""]
    corner = f"{grid.y} \\ {grid.x}" if grid.y else grid.x
    left = max(len(corner), *(len(t) for t in ylabels))
    width = max(3, *(len(h) for h in heads))
    text = Text(corner.ljust(left) + " " + " ".join(h.rjust(width) for h in heads) + "\n")
    for yi, (label, marks) in enumerate(zip(ylabels, cell_marks(grid), strict=True)):
        text.append(label.ljust(left))
        for xi, mark in enumerate(marks):
            text.append(" ")
            if cursor == (xi, yi):
                text.append(" " * (width - 3))
                text.append(f"[{mark}]", style="bold reverse")
            else:
                text.append(f"{mark} ".rjust(width))
        text.append("\n")
    return text


def point_detail(grid: SensitivityGrid, point: Mapping | None, x: int, y: int) -> str:
    """The cell's values of the axes and its recommended row (or why there is none)."""
    where = [f"{grid.x} = {format_axis_value(grid.x, grid.x_values[x])}"]
    if grid.y:
        where.append(f"{grid.y} = {format_axis_value(grid.y, grid.y_values[y])}")
    lines = [", ".join(where)]
    if point is None:
        lines.append(f"{MISSING} not computed")
        return "\n".join(lines)
    label = sweep_label(point)
    if label is None:
        lines.append(f"{INFEASIBLE} infeasible: nothing meets the QoS")
        if point.get("why"):
            lines.append(str(point["why"]))
        return "\n".join(lines)
    p95 = point.get("p95_latency")
    accuracy = point.get("accuracy")
    lines.append(f"feasible: {label}")
    lines.append(
        "p95 "
        + (
            format_duration(float(f"{p95:.3g}"))
            if isinstance(p95, int | float) and math.isfinite(p95)
            else "—"
        )
        + "   accuracy "
        + (f"{accuracy:.3f}" if isinstance(accuracy, int | float) else "—")
    )
    return "\n".join(lines)


class SensitivityScreen(Screen[None]):
    """A map over a sweep run here (`run`) or over a study's results (`study`)."""

    BINDINGS = SENSITIVITY_BINDINGS

    def __init__(self, run: SweepRun | None, title: str, study: Any = None) -> None:
        super().__init__()
        self._run = run
        self._title = title
        self.study = study  # a core StudyReport, when the map shows a results folder
        self.points: list[dict] = []
        self.expected: dict[str, list[float]] | None = None  # every value of every axis
        self.pairs: list[tuple[str, str | None]] = []
        self.pair_index = 0
        self.grids: list[SensitivityGrid] = []
        self.grid_index = 0
        self.grid: SensitivityGrid | None = None
        self.cursor = (0, 0)
        self._worker: Worker | None = None

    @classmethod
    def for_study(cls, study: Any) -> SensitivityScreen:
        return cls(None, study_title(study), study)

    def compose(self) -> ComposeResult:
        yield Static(self._title, id="sens-title")
        yield ProgressBar(total=1.0, show_eta=False, id="sens-progress")
        yield Static("sweeping…" if self._run else "", id="sens-status")
        yield Static("", id="sens-axes")
        yield Static("", id="sens-grid")
        yield Static("", id="sens-detail")
        yield Static("", id="sens-legend")
        yield Footer()

    def on_mount(self) -> None:
        if self.study is not None:
            self.show_study(self.study)
            return
        if self._run is not None:
            self._worker = self.run_worker(
                self._sweep,
                name="sensitivity",
                group="sensitivity",
                thread=True,
                exit_on_error=False,
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do nothing here leave the footer: stop without a sweep, reload without
        a folder, axes and filters with nothing to cycle."""
        if action == "cancel_sweep":
            return self._run is not None
        if action == "reload_study":
            return self.study is not None
        if action == "next_axes":
            return len(self.pairs) > 1
        if action == "next_fixed":
            return len(self.grids) > 1
        return True

    # ------------------------------------------------------------------ a sweep run here
    def _sweep(self) -> list[dict]:
        worker = get_current_worker()

        def progress(fraction: float, label: str) -> None:
            if worker.is_cancelled:
                raise SeiCancelled()
            self.app.call_from_thread(self._progress, fraction, label)

        return self._run(progress, lambda: worker.is_cancelled)

    def _progress(self, fraction: float, label: str) -> None:
        self.query_one("#sens-progress", ProgressBar).update(progress=fraction)
        self.query_one("#sens-status", Static).update(f"sweeping… {label} {fraction:.0%}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        status = self.query_one("#sens-status", Static)
        if event.state == WorkerState.SUCCESS:
            self.query_one("#sens-progress", ProgressBar).update(progress=1.0)
            self.show_points(event.worker.result or [])
        elif event.state == WorkerState.CANCELLED:
            status.update("sweep stopped (escape closes)")
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, SeiCancelled):
                status.update("sweep stopped (escape closes)")
            else:
                status.update(f"sweep failed: {error}")

    # ------------------------------------------------------------------ a study's folder
    def show_study(self, study: Any) -> None:
        """The points of a results folder; `done of total` while it is unfinished."""
        self.action_cancel_sweep()  # a folder opened over a sweep replaces it
        self._run = self._worker = None
        self.study = study
        self._title = study_title(study)
        self.query_one("#sens-title", Static).update(self._title)
        total = study.total or study.done or 1
        self.query_one("#sens-progress", ProgressBar).update(progress=study.done / total)
        self.show_points(study.points, study.axes or None)

    def action_open_study(self) -> None:
        current = self.study.folder if self.study is not None else ""
        prompt_for_study(self.app, current, self.show_study)

    def action_reload_study(self) -> None:
        """Read the folder again (a study still running has written more points)."""
        if self.study is None:
            return
        try:
            study = read_study(self.study.folder)
        except SeiInputError as exc:
            self.query_one("#sens-status", Static).update(str(exc))
            return
        self.show_study(study)

    # ------------------------------------------------------------------ the grid
    def show_points(
        self, points: Sequence[Mapping], expected: Mapping[str, Sequence[float]] | None = None
    ) -> None:
        self.points = [dict(p) for p in points]
        self.expected = {k: list(v) for k, v in expected.items()} if expected else None
        keys = list(self.expected) if self.expected else []
        if not keys and self.points:
            keys = list(self.points[0]["values"])
        pair = self.pairs[self.pair_index] if self.pairs else None
        self.pairs = axis_pairs(keys)
        self.pair_index = self.pairs.index(pair) if pair in self.pairs else 0
        self._regrid()

    def _regrid(self) -> None:
        """The grids of the current axis pair; the filter and cursor kept where they fit."""
        status = self.query_one("#sens-status", Static)
        pair = self.pairs[self.pair_index] if self.pairs else None
        self.grids = sensitivity_grids(self.points, pair, self.expected) if self.points else []
        self.refresh_bindings()
        if not self.grids:
            self.grid = None
            status.update(self._count_text() or "the sweep gave no point")
            for part in ("#sens-axes", "#sens-grid", "#sens-detail", "#sens-legend"):
                self.query_one(part, Static).update("")
            return
        self.grid_index = min(self.grid_index, len(self.grids) - 1)
        self.grid = self.grids[self.grid_index]
        x, y = self.cursor
        self.cursor = (min(x, len(self.grid.x_values) - 1), min(y, len(self.grid.y_values) - 1))
        status.update(self._count_text() + "; arrows move, escape closes")
        self.query_one("#sens-legend", Static).update(
            "Legend:\n" + "\n".join(legend_lines(self.grids))
        )
        self._redraw()

    def _count_text(self) -> str:
        if self.study is None:
            return f"{len(self.points)} points" if self.points else ""
        done, total = self.study.done, self.study.total
        if done < total:
            return f"{done} of {total} points done (unfinished: r reloads)"
        return f"{done} of {total} points done"

    def axes_text(self) -> str:
        """The axes drawn and what the others are fixed at, with the keys that change them."""
        grid = self.grid
        if grid is None:
            return ""
        text = f"{grid.x} × {grid.y}" if grid.y else grid.x
        if len(self.pairs) > 1:
            text += f" (a: {self.pair_index + 1}/{len(self.pairs)})"
        # a model or scenario the whole study shares says nothing about this grid
        shared = {k for k in ("model", "scenario") if len({p.get(k) for p in self.points}) == 1}
        fixed = {k: v for k, v in grid.fixed.items() if k not in shared}
        if fixed:
            text += f" · {fixed_text(fixed)}"
            if len(self.grids) > 1:
                text += f" (f: {self.grid_index + 1}/{len(self.grids)})"
        return text

    def action_next_axes(self) -> None:
        if len(self.pairs) > 1:
            self.pair_index = (self.pair_index + 1) % len(self.pairs)
            self.grid_index = 0
            self._regrid()

    def action_next_fixed(self) -> None:
        if len(self.grids) > 1:
            self.grid_index = (self.grid_index + 1) % len(self.grids)
            self._regrid()

    def point_at(self, x: int, y: int) -> dict | None:
        grid = self.grid
        if grid is None:
            return None
        wanted = dict(grid.fixed)
        wanted[grid.x] = grid.x_values[x]
        if grid.y is not None:
            wanted[grid.y] = grid.y_values[y]
        for point in self.points:
            values = point["values"]
            if all(
                (float(values[k]) == v if k in values else point.get(k) == v)
                for k, v in wanted.items()
            ):
                return point
        return None

    def detail_text(self) -> str:
        if self.grid is None:
            return ""
        x, y = self.cursor
        return point_detail(self.grid, self.point_at(x, y), x, y)

    def _redraw(self) -> None:
        if self.grid is None:
            return
        self.query_one("#sens-axes", Static).update(self.axes_text())
        self.query_one("#sens-grid", Static).update(grid_text(self.grid, self.cursor))
        self.query_one("#sens-detail", Static).update(self.detail_text())

    def action_move(self, dx: int, dy: int) -> None:
        if self.grid is None:
            return
        x = min(max(self.cursor[0] + dx, 0), len(self.grid.x_values) - 1)
        y = min(max(self.cursor[1] + dy, 0), len(self.grid.y_values) - 1)
        self.cursor = (x, y)
        self._redraw()

    def action_cancel_sweep(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
            self.query_one("#sens-status", Static).update("stopping the sweep…")

    def action_close(self) -> None:
        self.action_cancel_sweep()
        self.dismiss()


def study_title(study: Any) -> str:
    manifest = study.manifest
    title = f"Sensitivity map: study {manifest.get('study') or study.folder}"
    models, scenarios = manifest.get("models") or [], manifest.get("scenarios") or []
    if len(models) == 1 and len(scenarios) == 1:  # else the line over the grid names them
        title += f" ({models[0]} on {scenarios[0]})"
    if manifest.get("qos"):
        title += f", QoS {manifest['qos']}"
    return title
