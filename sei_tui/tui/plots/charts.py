"""Chart kinds drawn on a Canvas: XY (lines, points, two y scales, lines across, a cursor),
stacked bars and a heat grid. Each has selectable items (points, bars or cells) the
cursor steps through; `describe(i)` says what item i is, for the legend line.

Layout of every chart: row 0 the legend (or the cursor's item), then the plot, then one
row of x labels. Tick labels on the left (and right, with a second scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sei_tui.tui.plots.canvas import Canvas, Scale, log_ticks, nice_ticks, padded_range

Format = Callable[[float], str]


def _g(v: float) -> str:
    return f"{v:.3g}"


@dataclass(frozen=True)
class Series:
    """y over x. `glyph` marks each point (NO_COLOR tells series by it); `line` joins the
    points with a braille line; `right` puts it on the second y scale."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    glyph: str = "•"
    role: str = "s0"
    line: bool = False
    right: bool = False
    marks: dict[int, str] = field(default_factory=dict)  # point index -> another glyph


@dataclass(frozen=True)
class Across:
    """A line across the plot at `value`: horizontal on a y scale, or vertical at an x."""

    value: float
    glyph: str
    role: str
    name: str = ""
    vertical: bool = False
    right: bool = False


@dataclass
class XYChart:
    series: list[Series]
    across: list[Across] = field(default_factory=list)
    x_format: Format = _g
    y_format: Format = _g
    right_format: Format = _g
    y_log: bool = False
    right_log: bool = False
    x_labels: dict[float, str] | None = None  # categorical x: the label at each x
    y_range: tuple[float, float] | None = None
    right_range: tuple[float, float] | None = None
    selectable: int = 0  # the series whose points the cursor steps through
    describe_point: Callable[[int], str] | None = None
    title: str = ""
    legend_extra: str = ""  # after the series' own entries (e.g. a mark's meaning)
    legend_text: str = ""  # instead of them

    @property
    def items(self) -> int:
        return len(self.series[self.selectable].x) if self.series else 0

    def describe(self, index: int) -> str:
        if self.describe_point is not None:
            return self.describe_point(index)
        s = self.series[self.selectable]
        return f"{s.name} {self.x_format(s.x[index])}: {self.y_format(s.y[index])}"

    def legend(self) -> str:
        if self.legend_text:
            return self.legend_text
        parts = [f"{s.glyph} {s.name}" for s in self.series]
        parts += [self.legend_extra] if self.legend_extra else []
        parts += [f"{a.glyph} {a.name}" for a in self.across if a.name]
        return "  ".join(parts)

    def _scale_of(self, right: bool, rows: int) -> Scale:
        values = [y for s in self.series if s.right == right for y in s.y]
        values += [a.value for a in self.across if not a.vertical and a.right == right]
        log = self.right_log if right else self.y_log
        fixed = self.right_range if right else self.y_range
        lo, hi = fixed if fixed else padded_range(values, log)
        return Scale(lo, hi, rows, log=log, flip=True)

    def draw(self, width: int, height: int, cursor: int | None) -> Canvas:
        canvas = Canvas(width, height)
        rows = height - 2
        if rows < 2 or width < 12:
            canvas.text(0, 0, self.legend()[:width], "label")
            return canvas
        has_right = any(s.right for s in self.series) or any(a.right for a in self.across)
        left = self._scale_of(False, rows)
        right = self._scale_of(True, rows) if has_right else None
        left_ticks = self._ticks(left, rows)
        right_ticks = self._ticks(right, rows) if right else []
        lw = max([len(self.y_format(t)) for t in left_ticks] or [1]) + 1
        rw = (max([len(self.right_format(t)) for t in right_ticks] or [1]) + 1) if right else 0
        x0, x1 = lw, width - rw - 1  # plot columns x0..x1
        xs = [x for s in self.series for x in s.x] + [a.value for a in self.across if a.vertical]
        xlo, xhi = padded_range(xs) if xs else (0.0, 1.0)
        if self.x_labels:
            xlo, xhi = min(self.x_labels), max(self.x_labels)
            if xlo == xhi:
                xlo, xhi = xlo - 1, xhi + 1
        xscale = Scale(xlo, xhi, x1 - x0 + 1)
        # axes and ticks
        for y in range(1, rows + 1):
            canvas.put(x0 - 1, y, "│", "axis")
            if right:
                canvas.put(x1 + 1, y, "│", "axis")
        for t in left_ticks:
            y = 1 + left.cell(t)
            label = self.y_format(t)
            canvas.text(x0 - 1 - len(label), y, label, "tick")
            canvas.put(x0 - 1, y, "┤", "axis")
        for t in right_ticks:
            y = 1 + right.cell(t)
            canvas.put(x1 + 1, y, "├", "axis")
            canvas.text(x1 + 2, y, self.right_format(t), "tick")
        self._x_axis(canvas, xscale, x0, x1, height - 1)
        # lines across, then series lines, then markers (markers win)
        for a in self.across:
            if a.vertical:
                x = x0 + xscale.cell(a.value)
                for y in range(1, rows + 1):
                    if canvas.get(x, y) == " ":
                        canvas.put(x, y, a.glyph, a.role)
            else:
                scale = right if a.right and right else left
                y = 1 + scale.cell(a.value)
                for x in range(x0, x1 + 1):
                    if canvas.get(x, y) == " ":
                        canvas.put(x, y, a.glyph, a.role)
        if cursor is not None and 0 <= cursor < self.items:
            s = self.series[self.selectable]
            x = x0 + xscale.cell(s.x[cursor])
            for y in range(1, rows + 1):
                if canvas.get(x, y) in (" ",) or canvas.roles[y][x] in ("deadline", "switch"):
                    canvas.put(x, y, "┊", "cursor")
        for s in self.series:
            if not s.line:
                continue
            scale = right if s.right and right else left
            pts = [
                (xscale.sub(x, 2), scale.sub(y, 4))
                for x, y in zip(s.x, s.y, strict=True)
                if math.isfinite(y) and (y > 0 or not scale.log)
            ]
            for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
                canvas.line(ax + 2 * x0, ay + 4, bx + 2 * x0, by + 4, s.role)
        for s in reversed(self.series):  # the first series' markers win a shared cell
            scale = right if s.right and right else left
            for i, (x, y) in enumerate(zip(s.x, s.y, strict=True)):
                cx = x0 + xscale.cell(x)
                if not math.isfinite(y):
                    canvas.put(cx, 1, "↑", s.role)  # off the scale (never arrived)
                    continue
                if scale.log and y <= 0:
                    continue
                glyph = s.marks.get(i, s.glyph)
                role = s.role if i not in s.marks else s.role + "-mark"
                canvas.put(cx, 1 + scale.cell(y), glyph, role)
        if cursor is not None and 0 <= cursor < self.items:  # drawn last: always on top
            s = self.series[self.selectable]
            scale = right if s.right and right else left
            y = s.y[cursor]
            row = 1 if not math.isfinite(y) else 1 + scale.cell(y)
            canvas.put(x0 + xscale.cell(s.x[cursor]), row, "◉", "selected")
        legend = self.legend()
        if cursor is not None and 0 <= cursor < self.items:
            legend = "▸ " + self.describe(cursor)
        canvas.text(0, 0, legend[:width], "label")
        return canvas

    def _ticks(self, scale: Scale, rows: int) -> list[float]:
        if scale.log:
            ticks = log_ticks(scale.lo, scale.hi)
            step = max(1, math.ceil(len(ticks) / max(1, rows // 2)))
            return ticks[::step]
        return nice_ticks(scale.lo, scale.hi, max(1, rows // 2))

    def _x_axis(self, canvas: Canvas, xscale: Scale, x0: int, x1: int, y: int) -> None:
        if self.x_labels:
            ticks = sorted(self.x_labels)
            labels = [(t, self.x_labels[t]) for t in ticks]
        else:
            labels = [(t, self.x_format(t)) for t in nice_ticks(xscale.lo, xscale.hi, 6)]
        end = -1
        for t, label in labels:
            cx = x0 + xscale.cell(t)
            start = min(max(x0 - 1, cx - len(label) // 2), x1 + 1 - len(label))
            if start > end:
                canvas.text(start, y, label, "tick")
                end = start + len(label)
        if self.title:
            title = f" {self.title}"
            if end < x1 - len(title):
                canvas.text(x1 + 1 - len(title), y, title, "label")


@dataclass(frozen=True)
class Segment:
    name: str
    glyph: str
    role: str


@dataclass
class StackedBars:
    """One bar per category, its parts stacked from the bottom in `segments` order;
    `values[i][k]` is part k of bar i (infinite: off the scale, drawn to the top with ↑)."""

    labels: list[str]
    segments: list[Segment]
    values: list[list[float]]
    across: list[Across] = field(default_factory=list)
    y_format: Format = _g
    describe_bar: Callable[[int], str] | None = None

    @property
    def items(self) -> int:
        return len(self.labels)

    def describe(self, index: int) -> str:
        if self.describe_bar is not None:
            return self.describe_bar(index)
        return self.labels[index]

    def legend(self) -> str:
        parts = [f"{s.glyph} {s.name}" for s in self.segments]
        return "  ".join(parts + [f"{a.glyph} {a.name}" for a in self.across if a.name])

    def draw(self, width: int, height: int, cursor: int | None) -> Canvas:
        canvas = Canvas(width, height)
        rows = height - 2
        if rows < 2 or not self.labels:
            canvas.text(0, 0, self.legend()[:width], "label")
            return canvas
        totals = [sum(v for v in bar if math.isfinite(v)) for bar in self.values]
        top = max(totals + [a.value for a in self.across if math.isfinite(a.value)] + [0.0])
        top = top or 1.0
        scale = Scale(0.0, top, rows * 8, flip=False)  # eighths of a cell
        ticks = nice_ticks(0.0, top, max(1, rows // 2))
        lw = max([len(self.y_format(t)) for t in ticks] or [1]) + 1
        x0 = lw
        n = len(self.labels)
        slot = max(1, (width - x0) // n)
        bar_w = max(1, slot - 1)  # a column of gap between bars
        longest = max(len(label) for label in self.labels)
        every = max(1, math.ceil((longest + 1) / slot))  # label every k-th bar when crowded
        for y in range(1, rows + 1):
            canvas.put(x0 - 1, y, "│", "axis")
        for t in ticks:
            y = rows - round(t / top * (rows - 1)) if top else rows
            label = self.y_format(t)
            canvas.text(x0 - 1 - len(label), y, label, "tick")
            canvas.put(x0 - 1, y, "┤", "axis")
        for i, bar in enumerate(self.values):
            left = x0 + i * slot
            if left + bar_w > width:
                break
            height_so_far = 0.0
            for seg, value in zip(self.segments, bar, strict=True):
                lo_cell = round(scale.fraction(height_so_far) * rows)
                if not math.isfinite(value):
                    hi_cell = rows
                else:
                    height_so_far += value
                    hi_cell = round(scale.fraction(height_so_far) * rows)
                for level in range(lo_cell, min(hi_cell, rows)):
                    for x in range(left, left + bar_w):
                        canvas.put(x, rows - level, seg.glyph, seg.role)
                if not math.isfinite(value):
                    canvas.put(left, 1, "↑", seg.role)
                    break
            if i == cursor:
                bar_top = rows - round(scale.fraction(height_so_far) * rows)
                canvas.put(left + (bar_w - 1) // 2, max(1, min(rows, bar_top)), "▼", "selected")
                canvas.text(left, height - 1, self.labels[i], "selected")
            elif i % every == 0 and canvas.get(left, height - 1) == " ":
                canvas.text(left, height - 1, self.labels[i][: every * slot - 1], "tick")
        for a in self.across:
            if not math.isfinite(a.value) or a.value > top:
                continue
            y = rows - round(a.value / top * (rows - 1))
            for x in range(x0, width):
                canvas.put(x, y, a.glyph, a.role)
        legend = self.legend()
        if cursor is not None and 0 <= cursor < self.items:
            legend = "▸ " + self.describe(cursor) + "   " + legend
        canvas.text(0, 0, legend[:width], "label")
        return canvas


@dataclass
class HeatGrid:
    """Rows × columns of categories (a letter and a role each) with row and column labels:
    a sensitivity map's cells. `cells[r][c]` is a category index or None (none fits)."""

    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[int | None]]
    categories: list[str]
    letters: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    @property
    def items(self) -> int:
        return sum(len(r) for r in self.cells)

    def describe(self, index: int) -> str:
        r, c = divmod(index, len(self.column_labels))
        k = self.cells[r][c]
        what = "none feasible" if k is None else self.categories[k]
        return f"{self.row_labels[r]} · {self.column_labels[c]}: {what}"

    def legend(self) -> str:
        return "  ".join(f"{self.letters[i]} {n}" for i, n in enumerate(self.categories))

    def draw(self, width: int, height: int, cursor: int | None) -> Canvas:
        canvas = Canvas(width, height)
        lw = max([len(label) for label in self.row_labels] or [0]) + 1
        cols = len(self.column_labels)
        cw = max(
            1,
            min(max([len(c) for c in self.column_labels] or [1]) + 1, (width - lw) // max(1, cols)),
        )
        for r, row in enumerate(self.cells[: max(0, height - 2)]):
            canvas.text(0, 1 + r, self.row_labels[r][: lw - 1], "tick")
            for c, k in enumerate(row):
                x = lw + c * cw
                glyph = "·" if k is None else self.letters[k % len(self.letters)]
                role = "muted" if k is None else f"s{k % 6}"
                if r * cols + c == cursor:
                    role = "selected"
                canvas.text(x, 1 + r, (glyph * (cw - 1)) or glyph, role)
        for c, label in enumerate(self.column_labels):
            canvas.text(lw + c * cw, height - 1, label[: cw - 1 or 1], "tick")
        legend = self.legend()
        if cursor is not None and 0 <= cursor < self.items:
            legend = "▸ " + self.describe(cursor)
        canvas.text(0, 0, legend[:width], "label")
        return canvas
