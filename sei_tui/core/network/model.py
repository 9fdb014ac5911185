"""The typed scenario: nodes, links, flows, transport and compute profiles, and the editing
methods the TUI's topology editor uses. A ``Scenario`` that exists is valid (checked at
construction by ``validation``); every edit returns a new validated one or raises."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from libsim.spec import BurstLoss, NetworkSpec, TcpConfig
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.schema import _not_int, _toml_key, _toml_value
from sei_tui.core.network.to_libsim import to_network
from sei_tui.core.network.traces import LinkTrace
from sei_tui.core.network.validation import _shortest_path, _validate

# (label, raw TOML document) of the parse in progress in this thread/context, if any
_PARSING: contextvars.ContextVar[tuple[str, Mapping[str, Any]] | None] = contextvars.ContextVar(
    "sei_scenario_parsing", default=None
)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ComputeProfile:
    """How fast a node computes: analytic (``gflops``), recorded (``profile``) or ``host``."""

    name: str
    kind: str  # one of COMPUTE_KINDS
    gflops: float | None = None
    profile_path: Path | None = None  # absolute: resolved against the scenario file
    slowdown: float = 1.0  # measured times are multiplied by it (profile / host)
    # energy (docs/scenario-format.md, "Energy"); None: the node's energy is unknown
    active_w: float | None = None  # draw while computing, watts
    idle_w: float = 0.0  # draw while idle: not charged to frames (active_w - idle_w is)
    joules_per_flop: float | None = None  # compute energy per FLOP, instead of active_w


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # one of ROLES
    compute: str | None = None  # a key of Scenario.compute; a relay with one is an edge box


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # one of libsim.LINK_KINDS
    nodes: tuple[str, ...]
    bitrate_bps: float
    delay_s: float = 0.0
    loss: float = 0.0
    overhead_bytes: int = 38  # Ethernet: header 14 + FCS 4 + preamble 8 + inter-frame gap 12
    queue_packets: int = 100
    burst: BurstLoss | None = None
    # [link.trace]: the link follows it; bitrate_bps is then the trace's mean rate (shown)
    trace: LinkTrace | None = None
    # radio energy of an end node on this link (docs/scenario-format.md, "Energy"); 0: none
    tx_j_per_byte: float = 0.0  # per IP byte sent
    rx_j_per_byte: float = 0.0  # per IP byte received
    per_packet_j: float = 0.0  # per packet sent or received
    tail_s: float = 0.0  # cellular tail: the radio stays in its high-power state this long
    tail_w: float = 0.0  # ... drawing this, after each frame


@dataclass(frozen=True)
class Flow:
    src: str  # TOML key `from`
    dst: str  # TOML key `to`
    frames: int = 1
    fps: float = 0.0  # 0 = back to back
    # every frame's size, or one size per frame (a tuple: its length is `frames`); None:
    # not set (`sei analyze` sets it per split)
    payload_bytes: int | tuple[int, ...] | None = None


@dataclass(frozen=True)
class Transport:
    protocol: str = "tcp"
    mtu: int = 1500
    seed: int = 1
    tcp: TcpConfig = field(default_factory=TcpConfig)


@dataclass(frozen=True)
class Scenario:
    """A valid scenario. Treat it as immutable: edit with the ``with_*``/``add_*`` methods."""

    name: str
    transport: Transport
    nodes: list[Node]
    links: list[Link]
    flows: list[Flow]
    compute: dict[str, ComputeProfile]
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # every Scenario is validated once, at birth; a parse supplies its file label and
        # raw document so errors quote values as the user wrote them
        parsing = _PARSING.get()
        label, document = parsing if parsing is not None else (self.label, None)
        _validate(self, label, document)

    # ----------------------------------------------------------------- queries

    @property
    def label(self) -> str:
        """What error messages call this scenario: its file, else its name."""
        return str(self.source) if self.source is not None else f"<scenario {self.name!r}>"

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise SeiInputError(f"{self.label}: node = {_toml_value(name)}: no such node")

    def link_index(self, link: int | str) -> int:
        """Index of a link given by index or by name."""
        if isinstance(link, int) and not isinstance(link, bool):
            if 0 <= link < len(self.links):
                return link
            raise SeiInputError(
                f"{self.label}: link[{link}]: no such link (there are {len(self.links)})"
            )
        for index, candidate in enumerate(self.links):
            if candidate.name == link:
                return index
        raise SeiInputError(f"{self.label}: link = {_toml_value(link)}: no such link")

    def route(self, src: str, dst: str) -> list[str] | None:
        """Node names on the shortest path by hop count (first found in file order), or None."""
        return _shortest_path(self.links, src, dst)

    def edge_node(self) -> Node:
        """The node that runs the head: the first flow's source if it is an edge node."""
        return self._endpoint("edge", lambda flow: flow.src)

    def server_node(self) -> Node:
        """The node that runs the tail: the first flow's destination if it is a server."""
        return self._endpoint("server", lambda flow: flow.dst)

    def _endpoint(self, role: str, end: Callable[[Flow], str]) -> Node:
        by_name = {node.name: node for node in self.nodes}
        for flow in self.flows:
            if by_name[end(flow)].role == role:
                return by_name[end(flow)]
        for node in self.nodes:
            if node.role == role:
                return node
        raise SeiInputError(f"{self.label}: node: no node has role = {_toml_value(role)}")

    def compute_of(self, node: Node | str) -> ComputeProfile | None:
        node = self.node(node) if isinstance(node, str) else node
        return self.compute[node.compute] if node.compute is not None else None

    def edge_and_server_compute(self) -> tuple[ComputeProfile, ComputeProfile]:
        """The compute profiles of the edge and the server node; evaluating a split needs
        both, while simulating the network needs neither (so the format makes them optional)."""
        profiles = []
        for node in (self.edge_node(), self.server_node()):
            profile = self.compute_of(node)
            if profile is None:
                index = self.nodes.index(node)
                raise SeiInputError(
                    f"{self.label}: node[{index}].compute: the {node.role} node "
                    f"{_toml_value(node.name)} has no compute profile; evaluating splits needs "
                    'one on the edge and on the server (e.g. compute = "pi4" with '
                    "[compute.pi4] gflops = 8)"
                )
            profiles.append(profile)
        return profiles[0], profiles[1]

    def validate(self) -> None:
        """Raise SeiInputError naming the first problem (key path and value), if any.

        Construction already validates (``dataclasses.replace`` too); this re-checks after
        code mutated the lists in place instead of using the editing methods."""
        _validate(self, self.label, None)

    # ----------------------------------------------------------------- simulation

    def to_network(
        self,
        payload_bytes: int | str | Sequence[int | str] | None = None,
        frames: int | None = None,
        fps: float | None = None,
        protocol: str | None = None,
        seed: int | None = None,
        *,
        cycle: bool = False,
    ) -> NetworkSpec:
        """The libsim network; overrides (None = keep) apply to every flow (see
        ``to_libsim.to_network``)."""
        return to_network(self, payload_bytes, frames, fps, protocol, seed, cycle=cycle)

    # ----------------------------------------------------------------- editing

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The TOML document as plain data (units as strings, profile paths relative)."""
        from sei_tui.core.network.toml_io import to_document  # toml_io builds Scenarios

        return to_document(self, base_dir)

    def _rebuild(self, document: dict[str, Any]) -> Scenario:
        from sei_tui.core.network.toml_io import from_document

        return from_document(document, self.label, self.source)

    def with_name(self, name: str) -> Scenario:
        document = self.to_dict()
        document["name"] = name
        return self._rebuild(document)

    def with_protocol(self, protocol: str) -> Scenario:
        return self.with_transport(protocol=protocol)

    def with_transport(self, **changes: Any) -> Scenario:
        """Change ``protocol``, ``mtu`` or ``seed`` (values as in the file)."""
        document = self.to_dict()
        document["transport"].update(changes)
        return self._rebuild(document)

    def with_tcp(self, **changes: Any) -> Scenario:
        """Change ``[transport.tcp]`` keys (``initial_window``, ``min_rto``...)."""
        document = self.to_dict()
        document["transport"].setdefault("tcp", {}).update(changes)
        return self._rebuild(document)

    def add_node(self, name: str, role: str, compute: str | None = None) -> Scenario:
        document = self.to_dict()
        node: dict[str, Any] = {"name": name, "role": role}
        if compute is not None:
            node["compute"] = compute
        document["node"].append(node)
        return self._rebuild(document)

    def with_node(self, name: str, /, **changes: Any) -> Scenario:
        """Change a node's ``role``, ``compute`` (None removes it) or ``name`` (renames
        every reference in links and flows)."""
        index = self.nodes.index(self.node(name))
        document = self.to_dict()
        table = document["node"][index]
        for key, value in changes.items():
            if value is None and key == "compute":
                table.pop("compute", None)
            else:
                table[key] = value
        new_name = changes.get("name", name)
        if new_name != name and isinstance(new_name, str):
            for link in document["link"]:
                link["nodes"] = [new_name if n == name else n for n in link["nodes"]]
            for flow in document["flow"]:
                for end in ("from", "to"):
                    if flow[end] == name:
                        flow[end] = new_name
        return self._rebuild(document)

    def remove_node(self, name: str) -> Scenario:
        """Remove a node and its links (a wireless medium just loses the station).

        Refused when a flow starts or ends there or would lose its only route."""
        index = self.nodes.index(self.node(name))
        where = f"{self.label}: node[{index}].name = {_toml_value(name)}: cannot remove"
        for flow_index, flow in enumerate(self.flows):
            if name in (flow.src, flow.dst):
                raise SeiInputError(
                    f"{where}: flow[{flow_index}] ({flow.src} -> {flow.dst}) ends there"
                )
        remaining: list[Link] = []
        for link in self.links:
            if name not in link.nodes:
                remaining.append(link)
            elif link.kind == "wireless" and len(link.nodes) > 2:
                remaining.append(replace(link, nodes=tuple(n for n in link.nodes if n != name)))
        for flow_index, flow in enumerate(self.flows):
            if _shortest_path(remaining, flow.src, flow.dst) is None:
                raise SeiInputError(
                    f"{where}: flow[{flow_index}] ({flow.src} -> {flow.dst}) would have no route"
                )
        document = self.to_dict()
        del document["node"][index]
        kept_names = {link.name for link in remaining}
        document["link"] = [link for link in document["link"] if link["name"] in kept_names]
        for link in document["link"]:
            link["nodes"] = [n for n in link["nodes"] if n != name]
        return self._rebuild(document)

    def add_link(
        self,
        name: str,
        kind: str,
        nodes: Iterable[str],
        bitrate: float | str,
        **options: Any,
    ) -> Scenario:
        """Append a link; ``options`` are the other link keys (``delay="2ms"``, ``loss``...)."""
        document = self.to_dict()
        link = {"name": name, "kind": kind, "nodes": list(nodes), "bitrate": bitrate}
        link.update(_link_changes(options))
        document["link"].append(link)
        return self._rebuild(document)

    def with_link(self, link: int | str, /, **changes: Any) -> Scenario:
        """Change a link (by index or name): ``kind``, ``nodes``, ``bitrate`` (or
        ``bitrate_bps``), ``delay`` (or ``delay_s``), ``loss``, ``overhead_bytes``,
        ``queue_packets``, ``burst`` (a BurstLoss, a dict, or None to remove), ``trace`` (a
        ``[link.trace]`` dict, or None to remove), ``name``. A link has either a bitrate or a
        trace: setting one removes the other."""
        index = self.link_index(link)
        document = self.to_dict()
        table = document["link"][index]
        changes = _link_changes(changes)
        if changes.get("trace") is not None:
            table.pop("bitrate", None)
        elif "bitrate" in changes:
            table.pop("trace", None)
        for key, value in changes.items():
            if key in ("burst", "trace") and value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return self._rebuild(document)

    def remove_link(self, link: int | str) -> Scenario:
        index = self.link_index(link)
        remaining = [candidate for i, candidate in enumerate(self.links) if i != index]
        for flow_index, flow in enumerate(self.flows):
            if _shortest_path(remaining, flow.src, flow.dst) is None:
                raise SeiInputError(
                    f"{self.label}: link[{index}].name = {_toml_value(self.links[index].name)}:"
                    f" cannot remove: flow[{flow_index}] ({flow.src} -> {flow.dst}) "
                    "would have no route"
                )
        document = self.to_dict()
        del document["link"][index]
        return self._rebuild(document)

    def add_flow(self, src: str, dst: str, **options: Any) -> Scenario:
        """Append a flow; ``options``: ``frames``, ``fps``, ``payload_bytes``."""
        document = self.to_dict()
        document["flow"].append({"from": src, "to": dst, **_flow_changes(options)})
        return self._rebuild(document)

    def with_flow(self, index: int, /, **changes: Any) -> Scenario:
        """Change a flow: ``from``/``src``, ``to``/``dst``, ``frames``, ``fps``,
        ``payload_bytes`` (None removes it)."""
        if _not_int(index) or not 0 <= index < len(self.flows):
            raise SeiInputError(f"{self.label}: flow[{index}]: no such flow")
        document = self.to_dict()
        table = document["flow"][index]
        changes = _flow_changes(changes)
        for key, value in changes.items():
            if value is None and key == "payload_bytes":
                table.pop(key, None)
            else:
                table[key] = value
        if isinstance(changes.get("payload_bytes"), list) and "frames" not in changes:
            table.pop("frames", None)  # a list of sizes gives the frame count
        return self._rebuild(document)

    def remove_flow(self, index: int) -> Scenario:
        if _not_int(index) or not 0 <= index < len(self.flows):
            raise SeiInputError(f"{self.label}: flow[{index}]: no such flow")
        document = self.to_dict()
        del document["flow"][index]
        return self._rebuild(document)

    def with_compute(self, name: str, /, **form: Any) -> Scenario:
        """Add or replace a compute profile: ``gflops=13.5``, ``profile="p.json"`` (relative
        to the scenario file), or ``host=True`` with an optional ``slowdown``."""
        document = self.to_dict()
        document["compute"][name] = dict(form)
        return self._rebuild(document)

    def remove_compute(self, name: str) -> Scenario:
        document = self.to_dict()
        if name not in document["compute"]:
            raise SeiInputError(f"{self.label}: compute.{_toml_key(name)}: no such profile")
        del document["compute"][name]
        return self._rebuild(document)


def _link_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    aliases = {"bitrate_bps": "bitrate", "delay_s": "delay"}
    out: dict[str, Any] = {}
    for key, value in changes.items():
        key = aliases.get(key, key)
        if key == "nodes" and value is not None and not isinstance(value, str):
            value = list(value)
        if isinstance(value, BurstLoss):
            value = asdict(value)
        out[key] = value
    return out


def _flow_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    aliases = {"src": "from", "dst": "to"}
    out = {aliases.get(key, key): value for key, value in changes.items()}
    if isinstance(out.get("payload_bytes"), tuple):
        out["payload_bytes"] = list(out["payload_bytes"])  # per-frame sizes, as in TOML
    return out
