"""Theme setup: the theme files (package data `sei_tui/themes/*.toml`, read with
`importlib.resources` so an installed wheel finds them), registering them with the app,
choosing one (`--theme` > `SEI_THEME` > the default) and the colours the views derive."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from textual.app import App
from textual.theme import Theme

from sei_tui.core.errors import SeiInputError
from sei_tui.tui.heat import heat_gradient

DEFAULT_THEME = "sei-dark"
# Colours the views need beyond Textual's own variables; every theme file must give them.
CUSTOM_VARIABLES = (
    "sei-heat-cold",
    "sei-heat-mid",
    "sei-heat-hot",
    "sei-head",
    "sei-network",
    "sei-tail",
)
_THEME_KEYS = {
    "name",
    "dark",
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "luminosity_spread",
    "text_alpha",
    "variables",
}


def themes_dir() -> Traversable:
    """`SEI_THEMES_DIR` if set, else the package's own `sei_tui/themes/` (package data)."""
    override = os.environ.get("SEI_THEMES_DIR")
    if override:
        return Path(override)
    return resources.files("sei_tui").joinpath("themes")


def load_theme_file(path: Traversable) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SeiInputError(f"{path}: cannot read theme: {exc}") from exc
    unknown = sorted(set(data) - _THEME_KEYS)
    if unknown:
        raise SeiInputError(f"{path}: {unknown[0]} = {data[unknown[0]]!r}: unknown theme key")
    for key in ("name", "primary"):
        if not isinstance(data.get(key), str):
            raise SeiInputError(f"{path}: {key}: missing (a string is required)")
    variables = data.get("variables", {})
    missing = [name for name in CUSTOM_VARIABLES if name not in variables]
    if missing:
        raise SeiInputError(f"{path}: variables.{missing[0]}: missing")
    return Theme(**data)


def load_themes(directory: Traversable | None = None) -> list[Theme]:
    """Every `*.toml` theme in the directory, sorted by file name."""
    directory = themes_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    files = sorted(
        (f for f in directory.iterdir() if f.name.endswith(".toml") and f.is_file()),
        key=lambda f: f.name,
    )
    return [load_theme_file(f) for f in files]


@dataclass(frozen=True)
class ThemeChoice:
    name: str
    origin: str  # where the choice came from, for error messages


def choose_theme(cli_value: str | None) -> ThemeChoice:
    """`--theme` beats `SEI_THEME` beats the default."""
    if cli_value:
        return ThemeChoice(cli_value, "--theme")
    env = os.environ.get("SEI_THEME")
    if env:
        return ThemeChoice(env, "SEI_THEME")
    return ThemeChoice(DEFAULT_THEME, "default")


def set_up_themes(app: App, theme_name: str | None) -> tuple[list[str], list[str]]:
    """Register the sei themes with `app` and select the chosen one (or a fallback).

    Returns (the sei theme names, error messages to show once the screen is up)."""
    names: list[str] = []
    errors: list[str] = []
    try:
        for theme in load_themes():
            app.register_theme(theme)
            names.append(theme.name)
    except SeiInputError as exc:
        errors.append(str(exc))
    choice = choose_theme(theme_name)
    if choice.name in app.available_themes:
        app.theme = choice.name
    else:
        fallback = DEFAULT_THEME if DEFAULT_THEME in app.available_themes else "textual-dark"
        if choice.origin != "default":
            errors.append(
                f"{choice.origin} = {choice.name}: unknown theme "
                f"(known: {', '.join(sorted(app.available_themes))}); using {fallback}"
            )
        app.theme = fallback
    return names, errors


def view_colours(theme: Theme) -> tuple[dict[str, str], list]:
    """The named colours the views use and the saliency heat gradient, from `theme`
    (Textual's own colours where a theme leaves the sei variables out)."""
    variables = theme.variables
    colours = {
        "success": theme.success or "green",
        "error": theme.error or "red",
        "warning": theme.warning or "yellow",
        "primary": theme.primary,
    }
    for name in ("sei-head", "sei-network", "sei-tail"):
        colours[name] = variables.get(name, theme.primary)
    gradient = heat_gradient(
        variables.get("sei-heat-cold", theme.primary),
        variables.get("sei-heat-mid", theme.warning or theme.primary),
        variables.get("sei-heat-hot", theme.error or theme.primary),
    )
    return colours, gradient
