"""Short human formats for the views (fixed precision so screens are stable)."""

from __future__ import annotations

from typing import Any

from sei_tui.core.units import display_bytes

MISSING = "–"


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a core record, whether it is a dataclass or a plain mapping."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def format_bytes(n: float | None) -> str:
    return MISSING if n is None else display_bytes(n)


def format_seconds(s: float | None) -> str:
    if s is None:
        return MISSING
    if s == 0:
        return "0"
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def format_flops(f: float | None) -> str:
    if f is None:
        return MISSING
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if f >= scale:
            return f"{f / scale:.2f}{unit}"
    return f"{int(f)}"


def format_bitrate(bps: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:g} {unit}"
    return f"{bps:g} bit/s"


def format_fraction(x: float | None) -> str:
    return MISSING if x is None else f"{x * 100:.1f}%"


def format_cs(cs: float | None) -> str:
    return MISSING if cs is None else f"{cs:.2e}"
