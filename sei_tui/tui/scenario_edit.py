"""The topology editor's text <-> scenario glue over `sei_tui.core.network.scenario`.

The core's editing methods return a new *validated* Scenario or raise SeiInputError; this
module only turns form text into their arguments and checks single fields as they are
typed (the same unit parsers as the file format).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from libsim import limits
from libsim.spec import LINK_KINDS
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import ROLES
from sei_tui.core.units import (
    format_bitrate,
    format_duration,
    format_rate,
    parse_bitrate,
    parse_duration,
)

# A trace link's bitrate field reads "trace NAME ~MEAN": left as is, the link keeps its
# trace; a bitrate typed over it replaces the trace with that fixed rate (docs/traces.md).
TRACE_PREFIX = "trace "


def _number_or_text(text: str) -> float | str:
    """A bare number means SI units, as in the file; anything else keeps its unit."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def link_display(link: Any) -> dict[str, str]:
    return {
        "name": link.name,
        "kind": link.kind,
        "nodes": ", ".join(link.nodes),
        "bitrate": _bitrate_display(link),
        "delay": format_duration(link.delay_s),
        "loss": "burst" if link.burst is not None else f"{link.loss:g}",
        "queue": str(link.queue_packets),
    }


def _bitrate_display(link: Any) -> str:
    trace = getattr(link, "trace", None)
    if trace is None:
        return format_bitrate(link.bitrate_bps)
    return f"{TRACE_PREFIX}{trace.name} ~{format_rate(trace.mean_bps())}"


def compute_display(scenario: Any, node: Any) -> str:
    if node.compute is None:
        return "–"
    profile = scenario.compute.get(node.compute)
    if profile is None:
        return node.compute
    if profile.kind == "gflops":
        return f"{node.compute} ({profile.gflops:g} GFLOP/s)"
    detail = "measured here" if profile.kind == "host" else "profile"
    if profile.slowdown != 1.0:
        detail += f" x{profile.slowdown:g}"
    return f"{node.compute} ({detail})"


def find_link(scenario: Any, name: str) -> Any:
    return scenario.links[scenario.link_index(name)]


def new_link_values(scenario: Any) -> dict[str, str]:
    names = {link.name for link in scenario.links}
    n = len(scenario.links) + 1
    while f"link{n}" in names:
        n += 1
    return {
        "name": f"link{n}",
        "nodes": "",
        "kind": "full_duplex",
        "bitrate": "100Mbps",
        "delay": "1ms",
        "loss": "0",
        "queue": "100",
    }


def parse_link_field(field: str, text: str) -> Any:
    """The value of one editor field; raises SeiInputError with a message naming it."""
    text = text.strip()
    if field == "name":
        if not text:
            raise SeiInputError("name: must not be empty")
        return text
    if field == "nodes":
        nodes = [n.strip() for n in text.split(",") if n.strip()]
        if len(nodes) < 2:
            raise SeiInputError(f"nodes = {text!r}: give at least two node names, comma-separated")
        return nodes
    if field == "kind":
        if text not in LINK_KINDS:
            raise SeiInputError(f"kind = {text!r}: must be one of {', '.join(LINK_KINDS)}")
        return text
    if field == "bitrate":
        if text.startswith(TRACE_PREFIX.strip()):
            return None  # keep the link's trace (set in the file or with --trace)
        return _within(
            limits.BITRATE, "bitrate", text, parse_bitrate(_number_or_text(text), "bitrate")
        )
    if field == "delay":
        return _within(limits.DELAY, "delay", text, parse_duration(_number_or_text(text), "delay"))
    if field == "loss":
        if text == "burst":
            return None  # keep the link's Gilbert-Elliott model (edited in the file)
        try:
            loss = float(text)
        except ValueError:
            raise SeiInputError(
                f"loss = {text!r}: not a number (a probability, {limits.LOSS.describe()})"
            ) from None
        return _within(limits.LOSS, "loss", text, loss)
    if field == "queue":
        try:
            queue = int(text)
        except ValueError:
            raise SeiInputError(f"queue = {text!r}: not a whole number of packets") from None
        return _within(limits.QUEUE_PACKETS, "queue", text, queue)
    raise SeiInputError(f"{field}: not a link field")


def _within(limit: Any, field: str, text: str, value: Any) -> Any:
    """`value` if the simulator's limit (libsim.h, the one definition) admits it."""
    if not limit.admits(value):
        raise SeiInputError(f"{field} = {text}: {limit.describe()}")
    return value


def with_link(scenario: Any, link_name: str | None, values: dict[str, str]) -> Any:
    """The scenario with the link changed (or added when `link_name` is None)."""
    parsed = {field: parse_link_field(field, text) for field, text in values.items()}
    options = {"delay": parsed["delay"], "loss": parsed["loss"], "queue_packets": parsed["queue"]}
    if parsed["loss"] is None:
        del options["loss"]
    if parsed["bitrate"] is None and (
        link_name is None or find_link(scenario, link_name).trace is None
    ):
        raise SeiInputError(
            f"bitrate = {values['bitrate'].strip()!r}: give a bitrate (a trace is set in the "
            "scenario file, [link.trace], or with --trace)"
        )
    if link_name is None:
        if parsed["loss"] is None:
            raise SeiInputError("loss = burst: a new link takes a probability, 0 <= loss < 1")
        return scenario.add_link(
            parsed["name"], parsed["kind"], parsed["nodes"], parsed["bitrate"], **options
        )
    bursty = find_link(scenario, link_name).burst is not None
    if parsed["loss"] is None and not bursty:
        raise SeiInputError("loss = burst: this link has no bursty loss model; give 0 <= loss < 1")
    if parsed["loss"] is not None and bursty:
        options["burst"] = None  # a plain probability typed over "burst" replaces the model
    if parsed["bitrate"] is not None:  # over a trace link: the fixed rate replaces the trace
        options["bitrate"] = parsed["bitrate"]
    return scenario.with_link(
        link_name,
        name=parsed["name"],
        kind=parsed["kind"],
        nodes=parsed["nodes"],
        **options,
    )


def parse_node_field(field: str, text: str) -> Any:
    text = text.strip()
    if field == "name":
        if not text:
            raise SeiInputError("name: must not be empty")
        return text
    if field == "role":
        if text not in ROLES:
            raise SeiInputError(f"role = {text!r}: must be one of {', '.join(ROLES)}")
        return text
    if field == "compute":
        return text or None
    raise SeiInputError(f"{field}: not a node field")


def with_node(scenario: Any, values: dict[str, str]) -> Any:
    parsed = {field: parse_node_field(field, text) for field, text in values.items()}
    return scenario.add_node(parsed["name"], parsed["role"], parsed["compute"])


def without_link(scenario: Any, name: str) -> Any:
    return scenario.remove_link(name)


def without_node(scenario: Any, name: str) -> Any:
    return scenario.remove_node(name)


def protocol(scenario: Any) -> str:
    return scenario.transport.protocol


def with_protocol(scenario: Any, value: str) -> Any:
    return scenario.with_protocol(value)


def with_source(scenario: Any, path: Path) -> Any:
    return dataclasses.replace(scenario, source=path)


def edge_to_server_path(scenario: Any) -> list[tuple[str, Any, str]]:
    """(from node, link, to node) hops on the route the edge -> server flow takes."""
    try:
        edge, server = scenario.edge_node().name, scenario.server_node().name
    except SeiInputError:
        return []
    route = scenario.route(edge, server)
    if not route:
        return []
    hops = []
    for a, b in zip(route, route[1:], strict=False):
        link = next(link for link in scenario.links if a in link.nodes and b in link.nodes)
        hops.append((a, link, b))
    return hops
