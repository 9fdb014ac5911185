"""Short human formats for the views: the core's displays (`sei_tui.core.units`), with the
TUI's dash for a missing value."""

from __future__ import annotations

from typing import Any

from sei_tui.core.units import display_bytes, display_count, display_fraction, display_seconds

MISSING = "–"


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a core record, whether it is a dataclass or a plain mapping."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def format_bytes(n: float | None) -> str:
    return display_bytes(n, MISSING)


def format_seconds(s: float | None) -> str:
    return display_seconds(s, MISSING)


def format_flops(f: float | None) -> str:
    return display_count(f, MISSING)


def format_fraction(x: float | None) -> str:
    return display_fraction(x, MISSING)


def format_cs(cs: float | None) -> str:
    return MISSING if cs is None else f"{cs:.2e}"
