"""Themes are data files in `themes/` (TOML), registered with the app at start."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.theme import Theme

from sei_tui.core.errors import SeiInputError

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


def themes_dir() -> Path:
    """`SEI_THEMES_DIR` if set, else the package's own `sei_tui/themes/`."""
    override = os.environ.get("SEI_THEMES_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "themes"


def load_theme_file(path: Path) -> Theme:
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


def load_themes(directory: Path | None = None) -> list[Theme]:
    """Every `*.toml` theme in the directory, sorted by file name."""
    directory = themes_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    return [load_theme_file(path) for path in sorted(directory.glob("*.toml"))]


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
