"""The ranges the simulator accepts. Defined once, in libsim.h (``LIBSIM_<NAME>_MIN`` /
``_MAX`` inclusive, ``_ABOVE`` / ``_BELOW`` exclusive), read here through cffi; the scenario
layer, the front ends and the C API all check against these values.

Each limit is a module attribute, loaded on first use: ``limits.BITRATE.admits(x)``,
``limits.BITRATE.describe()`` -> ``"must be in (0, 1e15] bit/s"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from libsim import native


@dataclass(frozen=True)
class Limit:
    """One range of libsim.h; a missing bound (None) is not checked by this limit."""

    name: str  # the header's stem: LIBSIM_<name>_MIN ...
    low: float | None
    high: float | None
    low_open: bool  # True: the value must be greater than `low` (_ABOVE)
    high_open: bool  # True: the value must be smaller than `high` (_BELOW)
    unit: str  # for messages: "bytes", "s", "bit/s", ""
    integer: bool

    def admits(self, value: Any) -> bool:
        """Whether `value` (a number) is in range; NaN and infinities never are."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above_low = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below_high = self.high is None or (
            value < self.high if self.high_open else value <= self.high
        )
        return above_low and below_high

    def describe(self) -> str:
        """The range as a message ends: ``must be 68..65535 bytes``, ``must be in [0, 1)``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is None or self.high is None:
            bound = (
                f"{'>' if self.low_open else '>='} {show_number(self.low)}"
                if self.high is None
                else f"{'<' if self.high_open else '<='} {show_number(self.high)}"
            )
            return f"must be {bound}{unit}"
        if self.integer and not self.low_open and not self.high_open:
            return f"must be {show_number(self.low)}..{show_number(self.high)}{unit}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"must be in {left}{show_number(self.low)}, {show_number(self.high)}{right}{unit}"


def show_number(value: float | int | None) -> str:
    """A bound as people read it: ``65535``, ``2^40``, ``1e15``, ``0.5``."""
    if value is None:
        return "-"
    if isinstance(value, int):
        if value >= 2**32 and value & (value - 1) == 0:
            return f"2^{value.bit_length() - 1}"
        if value >= 2**32 and (value + 1) & value == 0:
            return f"2^{value.bit_length()} - 1"
        return str(value)
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    mantissa, _, exponent = f"{value:g}".partition("e")
    return mantissa + (f"e{int(exponent)}" if exponent else "")


# name -> (unit, integer): how each limit of libsim.h is shown; the values come from C.
_SHAPES: dict[str, tuple[str, bool]] = {
    "MTU": ("bytes", True),
    "SEED": ("", True),
    "INITIAL_WINDOW": ("segments", True),
    "MIN_RTO": ("s", False),
    "ACK_DELAY": ("s", False),
    "RWND": ("bytes", True),
    "BITRATE": ("bit/s", False),
    "DELAY": ("s", False),
    "LOSS": ("", False),
    "PROBABILITY": ("", False),
    "OVERHEAD_BYTES": ("bytes", True),
    "QUEUE_PACKETS": ("packets", True),
    "NODES": ("nodes", True),
    "WIRELESS_NODES": ("nodes", True),
    "FRAMES": ("", True),
    "FPS": ("", False),
    "PAYLOAD_BYTES": ("bytes", True),
    "UDP_DATAGRAMS": ("datagrams", True),
    "EVENTS": ("events", True),
    "TRACE_ROWS": ("rows", True),
    "TRACE_BITRATE": ("bit/s", False),
    "TRACE_TIME": ("s", False),
    "TRACE_MS": ("ms", True),
}
# Plain constants of libsim.h (not ranges).
_CONSTANTS = ("TCP_IP_HEADER_BYTES", "UDP_IP_HEADER_BYTES", "HORIZON_S", "OPPORTUNITY_BYTES")


@cache
def table() -> dict[str, Any]:
    """Every limit (Limit) and constant of libsim.h, by name."""
    _, lib = native.load()
    out: dict[str, Any] = {}
    for name, (unit, integer) in _SHAPES.items():
        low = high = None
        low_open = high_open = False
        if hasattr(lib, f"LIBSIM_{name}_MIN"):
            low = getattr(lib, f"LIBSIM_{name}_MIN")
        elif hasattr(lib, f"LIBSIM_{name}_ABOVE"):
            low, low_open = getattr(lib, f"LIBSIM_{name}_ABOVE"), True
        if hasattr(lib, f"LIBSIM_{name}_MAX"):
            high = getattr(lib, f"LIBSIM_{name}_MAX")
        elif hasattr(lib, f"LIBSIM_{name}_BELOW"):
            high, high_open = getattr(lib, f"LIBSIM_{name}_BELOW"), True
        if low is None and high is None:
            raise AttributeError(f"libsim.h defines no bound for LIBSIM_{name}")
        out[name] = Limit(name, low, high, low_open, high_open, unit, integer)
    for name in _CONSTANTS:
        out[name] = getattr(lib, f"LIBSIM_{name}")
    return out


def __getattr__(name: str) -> Any:
    if name in _SHAPES or name in _CONSTANTS:
        return table()[name]
    raise AttributeError(f"module 'libsim.limits' has no attribute {name!r}")
