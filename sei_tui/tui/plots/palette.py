"""The plots' styles by role: Okabe & Ito's colour-blind-safe palette for series (the
figure files' own, `core.figures.style`), the theme's colours for axes, text and marks.
Each series also has its own glyph, so NO_COLOR loses nothing."""

from __future__ import annotations

from rich.style import Style
from textual.theme import Theme

from sei_tui.core.figures.style import OKABE_ITO

# yellow is left out: it vanishes on a light background
SERIES_COLOURS = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish purple"],
    OKABE_ITO["sky blue"],
)


def plot_styles(theme: Theme) -> dict[str, Style]:
    fg = theme.foreground or ("#E0E0E0" if theme.dark else "#202020")
    series = list(SERIES_COLOURS)
    if theme.dark:  # the dark blue is too dim on black: sky blue first
        series[0], series[5] = series[5], series[0]
    styles = {
        "axis": Style(color=fg, dim=True),
        "tick": Style(color=fg, dim=True),
        "label": Style(color=fg),
        "muted": Style(color=fg, dim=True),
        "cursor": Style(color=theme.accent or fg, dim=True),
        "selected": Style(color=theme.accent or fg, bold=True, reverse=True),
        "deadline": Style(color=theme.error or OKABE_ITO["vermillion"], bold=True),
        "switch": Style(color=fg, dim=True),
        "front": Style(color=theme.success or OKABE_ITO["bluish green"], bold=True),
    }
    for i, colour in enumerate(series):
        styles[f"s{i}"] = Style(color=colour)
        styles[f"s{i}-mark"] = Style(color=colour, bold=True)
    for name, colour in (("head", series[0]), ("network", series[1]), ("tail", series[2])):
        styles[name] = Style(color=colour)
    return styles
