"""A character canvas for the TUI's plots: cells of (glyph, role), scales and nice ticks.

No Textual here: a chart draws on a Canvas with roles ("axis", "s0", "deadline"...), and
the widget maps roles to the theme's styles only when it paints, so the same drawing
serves every theme and NO_COLOR (every series has its own glyph; colour only adds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

# braille dots by (column 0/1, row 0..3) within one cell: 2x4 sub-cells per cell
_BRAILLE = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = max(0, width)
        self.height = max(0, height)
        self.glyphs = [[" "] * self.width for _ in range(self.height)]
        self.roles: list[list[str | None]] = [[None] * self.width for _ in range(self.height)]
        self._dots: dict[tuple[int, int], int] = {}

    def put(self, x: int, y: int, glyph: str, role: str | None = None) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.glyphs[y][x] = glyph
            self.roles[y][x] = role

    def get(self, x: int, y: int) -> str:
        return self.glyphs[y][x] if 0 <= x < self.width and 0 <= y < self.height else ""

    def text(self, x: int, y: int, text: str, role: str | None = None) -> None:
        for i, ch in enumerate(text):
            self.put(x + i, y, ch, role)

    def dot(self, sx: int, sy: int, role: str) -> None:
        """A braille dot at sub-cell (sx, sy): 2 per cell across, 4 down."""
        x, y = sx // 2, sy // 4
        if not (0 <= x < self.width and 0 <= y < self.height):
            return
        current = self.glyphs[y][x]
        if not (current == " " or 0x2800 <= ord(current) <= 0x28FF):
            return  # a marker or text already there wins
        bits = self._dots.get((x, y), 0) | _BRAILLE[sx % 2][sy % 4]
        self._dots[x, y] = bits
        self.put(x, y, chr(0x2800 + bits), role)

    def line(self, x0: float, y0: float, x1: float, y1: float, role: str) -> None:
        """A braille line between two points in sub-cell coordinates."""
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(steps + 1):
            t = i / steps
            self.dot(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t), role)

    def lines(self, styles: dict[str, Style]) -> list[Text]:
        out = []
        for glyphs, roles in zip(self.glyphs, self.roles, strict=True):
            line = Text(no_wrap=True, end="")
            run, role = "", None
            for glyph, r in zip(glyphs, roles, strict=True):
                if r != role and run:
                    line.append(run, styles.get(role or "", Style()))
                    run = ""
                run, role = run + glyph, r
            if run:
                line.append(run, styles.get(role or "", Style()))
            out.append(line)
        return out


@dataclass(frozen=True)
class Scale:
    """Values lo..hi onto cells 0..cells-1 (row 0 at the top when `flip`); log10 if `log`."""

    lo: float
    hi: float
    cells: int
    log: bool = False
    flip: bool = False

    def _t(self, value: float) -> float:
        lo, hi, v = self.lo, self.hi, value
        if self.log:
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(value, 1e-300))
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def cell(self, value: float) -> int:
        return round(self.fraction(value) * (self.cells - 1))

    def fraction(self, value: float) -> float:
        t = min(1.0, max(0.0, self._t(value)))
        return 1.0 - t if self.flip else t

    def sub(self, value: float, per_cell: int) -> float:
        """Position in sub-cells (braille: 2 across, 4 down)."""
        return self.fraction(value) * (self.cells * per_cell - 1)


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) inside lo..hi, about `count` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or count < 1:
        return []
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten inside lo..hi (both > 0)."""
    if lo <= 0 or hi <= 0:
        return []
    return [
        10.0**k
        for k in range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)
    ]


def padded_range(values: list[float], log: bool = False) -> tuple[float, float]:
    """The finite values' range (a flat range is widened so it has a height)."""
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not finite:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(finite), max(finite)
    if lo == hi:
        return (lo / 2, hi * 2) if log else (lo - 1 if lo else -1.0, hi + 1 if hi else 1.0)
    return lo, hi
