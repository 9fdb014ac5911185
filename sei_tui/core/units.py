"""Quantities with units, as written in scenario files and on the command line.

A value is either a plain number in SI base units (bit/s, seconds, bytes) or a string
of a number followed by a unit, optionally separated by spaces: ``"54Mbps"``,
``"2 ms"``, ``"1.5MB"``. Parsing is strict: an unknown unit, a negative or non-finite
value, or a fractional byte count is an error.

Prefixes:
- ``k``, ``M``, ``G``, ``T`` are decimal SI: 10^3, 10^6, 10^9, 10^12
  (``"1.5MB"`` = 1 500 000 bytes, ``"54Mbps"`` = 54 000 000 bit/s).
- ``Ki``, ``Mi``, ``Gi`` are binary IEC: 2^10, 2^20, 2^30, for bytes only
  (``"1.5MiB"`` = 1 572 864 bytes).
- ``KB`` is refused as ambiguous (write ``kB`` for 1000 or ``KiB`` for 1024).

Bit rates: ``bps``, ``kbps`` (also ``Kbps``), ``Mbps``, ``Gbps``, ``Tbps`` and the
``bit/s`` spellings (``kbit/s``, ``Mbit/s``, ``Gbit/s``).
Durations: ``s``, ``ms``, ``us`` (also ``µs``), ``ns``.
Bytes: ``B``, ``kB``, ``MB``, ``GB``, ``KiB``, ``MiB``, ``GiB``.

Arithmetic is decimal (``decimal.Decimal``), so ``"250us"`` is exactly the double
nearest 0.00025, and every ``format_*`` output parses back to the identical value.
"""

from __future__ import annotations

import datetime
import math
import re
from decimal import Decimal, InvalidOperation

from sei_tui.core.errors import SeiInputError

BITRATE_UNITS: dict[str, Decimal] = {
    "bps": Decimal(1),
    "bit/s": Decimal(1),
    "kbps": Decimal(10) ** 3,
    "Kbps": Decimal(10) ** 3,
    "kbit/s": Decimal(10) ** 3,
    "Mbps": Decimal(10) ** 6,
    "Mbit/s": Decimal(10) ** 6,
    "Gbps": Decimal(10) ** 9,
    "Gbit/s": Decimal(10) ** 9,
    "Tbps": Decimal(10) ** 12,
}
DURATION_UNITS: dict[str, Decimal] = {
    "s": Decimal(1),
    "ms": Decimal(10) ** -3,
    "us": Decimal(10) ** -6,
    "µs": Decimal(10) ** -6,
    "ns": Decimal(10) ** -9,
}
BYTE_UNITS: dict[str, Decimal] = {
    "B": Decimal(1),
    "kB": Decimal(10) ** 3,
    "MB": Decimal(10) ** 6,
    "GB": Decimal(10) ** 9,
    "KiB": Decimal(2) ** 10,
    "MiB": Decimal(2) ** 20,
    "GiB": Decimal(2) ** 30,
}
# Spellings that look like units but would be guesses: the reason we refuse each.
_HINTS: dict[str, str] = {
    "KB": "ambiguous unit 'KB': write kB (1000 bytes) or KiB (1024 bytes)",
    "mbps": "unknown unit 'mbps' (millibit/s?): write Mbps",
    "gbps": "unknown unit 'gbps': write Gbps",
    "Mb": "unknown unit 'Mb' (megabit?): write MB for bytes or Mbps for a bit rate",
    "mb": "unknown unit 'mb': write MB for bytes or Mbps for a bit rate",
    "sec": "unknown unit 'sec': write s",
}

_QUANTITY = re.compile(
    r"^\s*(?P<number>[+-]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)"
    r"\s*(?P<unit>[^\s0-9.+-][^\s]*)?\s*$"
)

# Order in which formatters try units: the first that gives a short exact string wins.
_BITRATE_FORMAT = ("Gbps", "Mbps", "kbps", "bps")
_DURATION_FORMAT = ("s", "ms", "us", "ns")
_BYTES_FORMAT = ("GB", "MB", "kB", "GiB", "MiB", "KiB", "B")


def _where(key: str) -> str:
    return f"{key} = " if key else ""


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime.date | datetime.time):  # TOML dates and times
        return value.isoformat()
    return repr(value)


def _parse_quantity(
    value: object, units: dict[str, Decimal], what: str, key: str, default_unit: str
) -> Decimal:
    """The value in base units as an exact decimal; refuses bad types, units, signs."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SeiInputError(
            f"{_where(key)}{_show(value)}: expected a {what} (a number in {default_unit} "
            f"or a string with a unit, e.g. {_example(units)})"
        )
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise SeiInputError(f"{_where(key)}{_show(value)}: must be a finite {what}")
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        match = _QUANTITY.match(value)
        if match is None:
            raise SeiInputError(
                f"{_where(key)}{_show(value)}: not a {what} "
                f"(write a number and a unit, e.g. {_example(units)})"
            )
        unit = match["unit"]
        if unit is None:
            raise SeiInputError(
                f"{_where(key)}{_show(value)}: missing unit (write a bare number for "
                f"{default_unit}, or add a unit: {', '.join(units)})"
            )
        if unit not in units:
            reason = _HINTS.get(unit, f"unknown unit {unit!r}")
            raise SeiInputError(
                f"{_where(key)}{_show(value)}: {reason} for a {what} (known: {', '.join(units)})"
            )
        try:
            amount = Decimal(match["number"].replace("_", "")) * units[unit]
        except InvalidOperation as exc:  # pragma: no cover - the regex admits valid numbers only
            raise SeiInputError(f"{_where(key)}{_show(value)}: not a number") from exc
    if amount < 0:
        raise SeiInputError(f"{_where(key)}{_show(value)}: must not be negative")
    return amount


def _example(units: dict[str, Decimal]) -> str:
    if units is BITRATE_UNITS:
        return '"54Mbps"'
    if units is DURATION_UNITS:
        return '"2ms"'
    return '"1.5MB"'


def parse_bitrate(value: object, key: str = "") -> float:
    """Bit rate in bit/s from a number (bit/s) or a string like ``"54Mbps"``."""
    return float(_parse_quantity(value, BITRATE_UNITS, "bit rate", key, "bit/s"))


def parse_duration(value: object, key: str = "") -> float:
    """Duration in seconds from a number (s) or a string like ``"250us"``."""
    return float(_parse_quantity(value, DURATION_UNITS, "duration", key, "seconds"))


def parse_bytes(value: object, key: str = "") -> int:
    """Whole number of bytes from an integer or a string like ``"1.5MB"`` or ``"4MiB"``."""
    amount = _parse_quantity(value, BYTE_UNITS, "byte count", key, "bytes")
    if amount != amount.to_integral_value():
        raise SeiInputError(f"{_where(key)}{_show(value)}: not a whole number of bytes")
    return int(amount)


def _number_text(amount: Decimal) -> str:
    """Shortest exact decimal text of an amount: ``"250"``, ``"1.5"``, ``"1e-300"``."""
    normal = amount.normalize()
    plain = format(normal, "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    scientific = str(normal).lower().replace("e+", "e")
    return scientific if len(scientific) < len(plain) else plain


def _format(amount: Decimal, units: dict[str, Decimal], order: tuple[str, ...]) -> str:
    best: str | None = None
    for unit in order:
        text = _number_text(amount / units[unit]) + unit
        if Decimal(text[: -len(unit)]) * units[unit] != amount:
            continue  # the division was not exact in this unit
        if best is None or len(text) < len(best):
            best = text
    assert best is not None  # the base unit is always exact
    return best


def format_bitrate(bps: float) -> str:
    """``54e6`` -> ``"54Mbps"``; parses back to exactly ``bps``."""
    return _format(Decimal(repr(float(bps))), BITRATE_UNITS, _BITRATE_FORMAT)


def format_duration(seconds: float) -> str:
    """``0.00025`` -> ``"250us"``; parses back to exactly ``seconds``."""
    return _format(Decimal(repr(float(seconds))), DURATION_UNITS, _DURATION_FORMAT)


def format_bytes(count: int) -> str:
    """``1_500_000`` -> ``"1.5MB"``, ``602112`` -> ``"588KiB"``; parses back exactly."""
    return _format(Decimal(int(count)), BYTE_UNITS, _BYTES_FORMAT)


def format_seconds(seconds: float | None) -> str:
    """Human display of a measured time with 4 significant digits (``"12.35 ms"``)."""
    if seconds is None:
        return "-"
    magnitude = abs(seconds)
    if magnitude == 0 or magnitude >= 1:
        return f"{seconds:.4g} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.4g} ms"
    if magnitude >= 1e-6:
        return f"{seconds * 1e6:.4g} µs"
    return f"{seconds * 1e9:.4g} ns"


def format_rate(bps: float) -> str:
    """Human display of a measured rate with 4 significant digits (``"23.4 Mbit/s"``)."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(bps) >= scale:
            return f"{bps / scale:.4g} {prefix}bit/s"
    return f"{bps:.4g} bit/s"


# Displays for people: rounded, fixed precision so that screens and reports are stable.
# `missing` is what None (and NaN) shows as: "-" in reports, the TUI passes its own.


def display_bytes(count: float | None, missing: str = "-") -> str:
    """A size for people, in decimal units as everywhere on screen: ``150528`` -> ``"150.5 kB"``.

    Unlike `format_bytes` it rounds (exact values are in JSON and in scenario files)."""
    if _missing(count):
        return missing
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def display_seconds(value: float | None, missing: str = "-") -> str:
    """A duration for people: ``2.50 s``, ``12.3 ms``, ``478 µs``, ``360 ns``, ``0``;
    infinite (a frame that never arrived) is ``inf``."""
    if _missing(value):
        return missing
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude < 1e-6:
        return f"{value * 1e9:.3g} ns"
    if magnitude < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if magnitude < 1.0:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def display_count(value: float | None, missing: str = "-") -> str:
    """A count (FLOPs, parameters) for people: ``1.50k``, ``4.09M``, ``12.30G``, ``512``."""
    if _missing(value):
        return missing
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{int(value)}"


def display_fraction(value: float | None, missing: str = "-") -> str:
    """A fraction 0..1 as a percentage with one decimal: ``0.8125`` -> ``"81.2%"``."""
    return missing if _missing(value) else f"{value * 100:.1f}%"
