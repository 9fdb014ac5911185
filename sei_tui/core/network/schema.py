"""The scenario format's vocabulary: its tables and keys, node roles, compute kinds, key
paths (``link[1].bitrate``) and how values are quoted in error messages (as TOML)."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import Any

from sei_tui.core.errors import SeiInputError

ROLES = ("edge", "relay", "server")
COMPUTE_KINDS = ("gflops", "profile", "host")

_TOP_KEYS = ("name", "transport", "node", "link", "flow", "compute")
_TRANSPORT_KEYS = ("protocol", "mtu", "seed", "tcp")
_TCP_KEYS = (
    "initial_window",
    "min_rto",
    "delayed_ack",
    "ack_delay",
    "rwnd",
    "handshake",
    "idle_restart",
    "recovery_exit",
    "rto_ssthresh",
)
_NODE_KEYS = ("name", "role", "compute")
_LINK_KEYS = (
    "name",
    "kind",
    "nodes",
    "bitrate",
    "delay",
    "loss",
    "overhead_bytes",
    "queue_packets",
    "burst",
    "trace",
    "tx_j_per_byte",
    "rx_j_per_byte",
    "per_packet_j",
    "tail_s",
    "tail_w",
)
_LINK_ENERGY_KEYS = ("tx_j_per_byte", "rx_j_per_byte", "per_packet_j", "tail_s", "tail_w")
_TRACE_KEYS = ("file", "format", "loop", "start")
_BURST_KEYS = ("p_good_to_bad", "p_bad_to_good", "loss_bad", "loss_good")
_FLOW_KEYS = ("from", "to", "frames", "fps", "payload_bytes")
_COMPUTE_KEYS = ("gflops", "profile", "host", "slowdown", "active_w", "idle_w", "joules_per_flop")
_COMPUTE_ENERGY_KEYS = ("active_w", "idle_w", "joules_per_flop")

KeyPath = tuple[str | int, ...]  # a key path inside the TOML document: ("link", 1, "bitrate")


def _render_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + _toml_key(part)
    return text


def _with_label(label: str, parse: Callable[[Any, str], Any], value: Any, key: str) -> Any:
    try:
        return parse(value, key)
    except SeiInputError as exc:
        raise SeiInputError(f"{label}: {exc}") from None


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    """A value as it would be written in TOML (for files and error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    if value is None:
        return "(none)"
    if isinstance(value, datetime.date | datetime.time):  # TOML dates and times
        return value.isoformat()
    return repr(value)
