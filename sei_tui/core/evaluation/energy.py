"""Energy per frame of a row: compute from the nodes' power, radio from the simulated bytes.

The model (docs/scenario-format.md, "Energy"; docs/cli.md, "Energy"):
- compute: `joules_per_flop` x the node's FLOPs when the profile gives it, else
  (`active_w` - `idle_w`) x the node's compute seconds; the node's encode or decode seconds
  cost (`active_w` - `idle_w`) each (nothing without `active_w`). Idle power is drawn
  whether or not a frame runs, so it is never charged to one;
- radio: an end node pays, on the link its flow leaves (the edge) or arrives on (the
  server), `tx_j_per_byte` x the IP bytes it sent + `rx_j_per_byte` x the IP bytes it
  received + `per_packet_j` x the packets it sent and received (libsim's FlowIO: data,
  handshake and ACKs, retransmissions included), over the run's frames; plus, with a
  cellular tail, `tail_w` x min(`tail_s`, the time from the frame's delivery to the next
  frame's start) per frame (the last frame: the whole `tail_s`). Relays are not charged.

`edge_energy_j` is the edge's compute + encode + radio; `total_energy_j` adds the server's
(tail + decode + radio) on rows where the server computes (not `local`, where the total
is the edge's). A node whose profile gives no power makes its figure unknown (None).

split2 rows (`TwoCutEnergy`): the same rules per node and per hop flow. The device pays
its head + hop-1 encode + its radio as the source of hop 1; the edge box its middle
segment + hop-1 decode + hop-2 encode + its radio as the destination of hop 1 (on the link
hop 1 arrives on) and as the source of hop 2 (on the link hop 2 leaves on); the server its
tail + hop-2 decode + its radio as the destination of hop 2. `edge_energy_j` is the
device's, `total_energy_j` the sum of the three (None when any of them gives no power).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EnergyModel", "TwoCutEnergy", "compute_joules", "radio_joules"]


def compute_joules(profile: Any, flops: float, compute_s: float, codec_s: float) -> float | None:
    """The energy of `flops` FLOPs taking `compute_s` seconds plus `codec_s` seconds of
    encoding or decoding on a node with `profile`; None when the profile gives no power."""
    if profile is None:
        return None
    active = getattr(profile, "active_w", None)
    per_flop = getattr(profile, "joules_per_flop", None)
    if active is None and per_flop is None:
        return None
    above_idle = 0.0 if active is None else active - (getattr(profile, "idle_w", 0.0) or 0.0)
    compute = flops * per_flop if per_flop is not None else compute_s * above_idle
    return compute + codec_s * above_idle


def radio_joules(link: Any, end: str, flow: Any) -> float:
    """The radio energy per frame of the flow's `end` ("src" or "dst") on `link`."""
    if link is None or flow.io is None or not flow.frames:
        return 0.0
    io = flow.io
    tx_bytes, rx_bytes = getattr(io, f"{end}_tx_bytes"), getattr(io, f"{end}_rx_bytes")
    packets = getattr(io, f"{end}_tx_packets") + getattr(io, f"{end}_rx_packets")
    run = tx_bytes * link.tx_j_per_byte + rx_bytes * link.rx_j_per_byte
    run += packets * link.per_packet_j
    if link.tail_s > 0:
        run += link.tail_w * sum(_tail_seconds(flow.frames, link.tail_s))
    return run / len(flow.frames)


def _tail_seconds(frames: Any, tail_s: float) -> list[float]:
    """Each frame's tail: from its delivery (or its start, if nothing arrived) until the
    next frame starts, at most `tail_s`; the last frame's is `tail_s`."""
    out = []
    for f, frame in enumerate(frames):
        if f + 1 == len(frames):
            out.append(tail_s)
            continue
        end = frame.delivered_s if frame.delivered_s is not None else frame.sent_s
        out.append(min(tail_s, max(0.0, frames[f + 1].sent_s - end)))
    return out


@dataclass(frozen=True)
class EnergyModel:
    """What a scenario says about energy: the edge's and the server's compute profiles and
    the links the edge -> server flow leaves and arrives on."""

    edge: Any  # ComputeProfile | None
    server: Any
    edge_link: Any  # Link | None
    server_link: Any

    @classmethod
    def of(cls, scenario: Any) -> EnergyModel:
        edge, server = scenario.edge_node(), scenario.server_node()
        path = scenario.route(edge.name, server.name) or [edge.name, server.name]
        return cls(
            edge=scenario.compute_of(edge),
            server=scenario.compute_of(server),
            edge_link=_link_between(scenario.links, path[0], path[1]),
            server_link=_link_between(scenario.links, path[-2], path[-1]),
        )

    def fill(self, row: Any, flow: Any) -> None:
        """Set `row.edge_energy_j` (with its radio part, `edge_radio_energy_j`) and
        `row.total_energy_j` from the row's compute figures and `flow` (its FlowResult)."""
        edge = compute_joules(self.edge, row.edge_flops, row.head_s, row.encode_s)
        if edge is not None:
            row.edge_radio_energy_j = radio_joules(self.edge_link, "src", flow)
            edge += row.edge_radio_energy_j
        row.edge_energy_j = edge
        if edge is None or row.strategy == "local":
            row.total_energy_j = edge
            return
        server = compute_joules(self.server, row.server_flops, row.tail_s, row.decode_s)
        if server is None:
            row.total_energy_j = None
            return
        row.total_energy_j = edge + server + radio_joules(self.server_link, "dst", flow)


@dataclass(frozen=True)
class TwoCutEnergy:
    """What a scenario says about the energy of split2 deployments: the device's, the edge
    box's and the server's profiles, and the links each hop flow leaves and arrives on."""

    device: Any  # ComputeProfile | None
    box: Any
    server: Any
    device_link: Any  # hop 1 leaves the device on it
    box_in_link: Any  # hop 1 arrives at the box on it
    box_out_link: Any  # hop 2 leaves the box on it
    server_link: Any  # hop 2 arrives at the server on it

    @classmethod
    def of(cls, scenario: Any, box: str) -> TwoCutEnergy:
        edge, server = scenario.edge_node(), scenario.server_node()
        first = scenario.route(edge.name, box) or [edge.name, box]
        second = scenario.route(box, server.name) or [box, server.name]
        return cls(
            device=scenario.compute_of(edge),
            box=scenario.compute_of(scenario.node(box)),
            server=scenario.compute_of(server),
            device_link=_link_between(scenario.links, first[0], first[1]),
            box_in_link=_link_between(scenario.links, first[-2], first[-1]),
            box_out_link=_link_between(scenario.links, second[0], second[1]),
            server_link=_link_between(scenario.links, second[-2], second[-1]),
        )

    def fill(self, row: Any, deployment: Any, hop1: Any, hop2: Any) -> None:
        """Set the split2 `row`'s energy figures from its `deployment` (tiers.TwoCut: each
        segment's seconds, each hop's encode and decode seconds), the row's per-node FLOPs
        and the hop flows' FlowResults `hop1` (device -> box) and `hop2` (box -> server)."""
        d = deployment
        device = compute_joules(self.device, row.edge_flops, d.head_s, d.encode_s[0])
        if device is not None:
            row.edge_radio_energy_j = radio_joules(self.device_link, "src", hop1)
            device += row.edge_radio_energy_j
        row.edge_energy_j = device
        box = compute_joules(self.box, row.middle_flops, d.middle_s, d.decode_s[0] + d.encode_s[1])
        server = compute_joules(self.server, row.server_flops, d.tail_s, d.decode_s[1])
        if device is None or box is None or server is None:
            row.total_energy_j = None
            return
        box += radio_joules(self.box_in_link, "dst", hop1)
        box += radio_joules(self.box_out_link, "src", hop2)
        row.total_energy_j = device + box + server + radio_joules(self.server_link, "dst", hop2)


def _link_between(links: Any, a: str, b: str) -> Any:
    """The first link (in file order, as routes take them) joining nodes `a` and `b`."""
    for link in links:
        if a in link.nodes and b in link.nodes:
            return link
    return None
