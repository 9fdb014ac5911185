"""Heat bars for cumulative saliency: a gradient precomputed per theme, bars by eighths."""

from __future__ import annotations

from rich.color import Color as RichColor
from rich.style import Style
from rich.text import Text
from textual.color import Color

_EIGHTHS = " ▏▎▍▌▋▊▉█"


def heat_gradient(cold: str, mid: str, hot: str, steps: int = 32) -> list[Style]:
    """`steps` styles from cold through mid to hot; index by round(fraction * (steps-1))."""
    c0, c1, c2 = Color.parse(cold), Color.parse(mid), Color.parse(hot)
    styles = []
    for i in range(steps):
        t = i / (steps - 1)
        colour = c0.blend(c1, t * 2) if t <= 0.5 else c1.blend(c2, (t - 0.5) * 2)
        styles.append(Style(color=RichColor.from_rgb(colour.r, colour.g, colour.b)))
    return styles


def heat_bar(fraction: float | None, width: int, gradient: list[Style]) -> Text:
    """A bar `width` cells wide filled to `fraction` (length carries it without colour)."""
    if fraction is None:
        return Text("·" * width, style="dim")
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[rest] if rest else "")
    style = gradient[round(fraction * (len(gradient) - 1))]
    text = Text(bar, style=style)
    text.append("·" * (width - len(bar)), style="dim")
    return text


def normalise(values: list[float]) -> list[float]:
    """Map values linearly onto [0, 1] (all equal -> all 1)."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]
