"""Scenario files: the deployment a split is evaluated in (nodes, links, traffic, compute).

The format is the contract in ``shared/design/scenario-format.md``. Reading is strict:
every problem is one ``SeiInputError`` line naming the file, the key path
(``link[1].bitrate``, 0-based indices) and the value. A ``Scenario`` that exists is
valid; the editing methods (``with_link``, ``add_node``...) return a new validated
``Scenario`` or raise, so the TUI's topology editor never holds an invalid one.

Units (see ``sei_tui.core.units``): numbers are SI (bit/s, seconds, bytes); strings
carry a unit (``"54Mbps"``, ``"2ms"``, ``"1.5MB"``; k/M/G decimal, KiB/MiB binary).
"""

from __future__ import annotations

import contextvars
import datetime
import difflib
import math
import os
import re
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    BurstLoss,
    FlowSpec,
    LinkSpec,
    NetworkSpec,
    TcpConfig,
)
from sei_tui.core.cache import atomic_write_bytes
from sei_tui.core.errors import SeiInputError
from sei_tui.core.units import (
    format_bitrate,
    format_duration,
    parse_bitrate,
    parse_bytes,
    parse_duration,
)

ROLES = ("edge", "relay", "server")
COMPUTE_KINDS = ("gflops", "profile", "host")
MTU_MIN, MTU_MAX = 68, 65535  # IPv4 minimum (RFC 791) and the 16-bit total length field
SEED_MAX = 2**63 - 1  # TOML integers are signed 64-bit
TCP_IP_HEADER_BYTES = 40  # IPv4 (20) + TCP (20): MSS = mtu - 40
# Upper bounds the simulator accepts (libsim/src/capi.cpp); checked here so an error names
# the file's key instead of the C API's argument.
MAX_BITRATE_BPS = 1e15
MAX_DELAY_S = 1000.0
MAX_TIMER_S = 60.0  # tcp.min_rto and tcp.ack_delay (RFC 6298 allows capping RTO at 60 s)
MAX_OVERHEAD_BYTES = 65535
MAX_QUEUE_PACKETS = 100_000_000
MAX_INITIAL_WINDOW = 1_000_000
MAX_FRAMES = 100_000_000
MAX_FPS = 1e9
MAX_BYTES = 2**40  # payload_bytes and tcp.rwnd

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
)
_BURST_KEYS = ("p_good_to_bad", "p_bad_to_good", "loss_bad", "loss_good")
_FLOW_KEYS = ("from", "to", "frames", "fps", "payload_bytes")
_COMPUTE_KEYS = ("gflops", "profile", "host", "slowdown")

KeyPath = tuple[str | int, ...]  # a key path inside the TOML document: ("link", 1, "bitrate")

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


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # one of ROLES
    compute: str | None = None  # a key of Scenario.compute; relays have none


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


@dataclass(frozen=True)
class Flow:
    src: str  # TOML key `from`
    dst: str  # TOML key `to`
    frames: int = 1
    fps: float = 0.0  # 0 = back to back
    payload_bytes: int | None = None  # `sei analyze` sets it per split


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
        payload_bytes: int | str | None = None,
        frames: int | None = None,
        fps: float | None = None,
        protocol: str | None = None,
        seed: int | None = None,
    ) -> NetworkSpec:
        """The libsim network; overrides (None = keep) apply to every flow."""
        label = self.label
        if payload_bytes is not None:
            payload_bytes = _with_label(label, parse_bytes, payload_bytes, "payload_bytes")
            if not 1 <= payload_bytes <= MAX_BYTES:
                raise SeiInputError(
                    f"{label}: payload_bytes = {payload_bytes}: must be >= 1 and <= 2^40"
                )
        if frames is not None and (_not_int(frames) or not 1 <= frames <= MAX_FRAMES):
            raise SeiInputError(
                f"{label}: frames = {_toml_value(frames)}: must be an integer 1..{MAX_FRAMES}"
            )
        if fps is not None and (_not_number(fps) or not 0 <= fps <= MAX_FPS):
            raise SeiInputError(
                f"{label}: fps = {_toml_value(fps)}: must be a number >= 0 and <= {MAX_FPS:g}"
            )
        if protocol is not None and protocol not in PROTOCOLS:
            raise SeiInputError(
                f"{label}: protocol = {_toml_value(protocol)}: must be one of "
                + ", ".join(PROTOCOLS)
            )
        if seed is not None and (_not_int(seed) or not 0 <= seed <= SEED_MAX):
            raise SeiInputError(f"{label}: seed = {_toml_value(seed)}: must be 0..{SEED_MAX}")
        flows = []
        for index, flow in enumerate(self.flows):
            payload = payload_bytes if payload_bytes is not None else flow.payload_bytes
            if payload is None:
                raise SeiInputError(
                    f"{label}: flow[{index}].payload_bytes: not set "
                    "(add it to the file or pass --payload-bytes)"
                )
            flows.append(
                FlowSpec(
                    src=flow.src,
                    dst=flow.dst,
                    frames=flow.frames if frames is None else int(frames),
                    fps=float(flow.fps if fps is None else fps),
                    payload_bytes=int(payload),
                )
            )
        return NetworkSpec(
            nodes=tuple(node.name for node in self.nodes),
            links=tuple(
                LinkSpec(
                    name=link.name,
                    kind=link.kind,
                    nodes=tuple(link.nodes),
                    bitrate_bps=link.bitrate_bps,
                    delay_s=link.delay_s,
                    loss=link.loss,
                    overhead_bytes=link.overhead_bytes,
                    queue_packets=link.queue_packets,
                    burst=link.burst,
                )
                for link in self.links
            ),
            flows=tuple(flows),
            protocol=self.transport.protocol if protocol is None else protocol,
            mtu=self.transport.mtu,
            seed=self.transport.seed if seed is None else int(seed),
            tcp=self.transport.tcp,
        )

    # ----------------------------------------------------------------- editing

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The TOML document as plain data (units as strings, profile paths relative)."""
        return _to_document(self, base_dir)

    def _rebuild(self, document: dict[str, Any]) -> Scenario:
        return _from_document(document, self.label, self.source)

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
        ``queue_packets``, ``burst`` (a BurstLoss, a dict, or None to remove), ``name``."""
        index = self.link_index(link)
        document = self.to_dict()
        table = document["link"][index]
        for key, value in _link_changes(changes).items():
            if key == "burst" and value is None:
                table.pop("burst", None)
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
        for key, value in _flow_changes(changes).items():
            if value is None and key == "payload_bytes":
                table.pop(key, None)
            else:
                table[key] = value
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


# --------------------------------------------------------------------------- loading


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SeiInputError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return parse_scenario(text, source=path)


def parse_scenario(text: str, source: str | os.PathLike[str] = "<string>") -> Scenario:
    """Parse scenario TOML. ``source`` names it in errors; a file path (anything not in
    angle brackets) also anchors relative ``profile`` paths and becomes ``.source``."""
    label = os.fspath(source)
    source_path = None if label.startswith("<") else Path(label)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SeiInputError(f"{label}: TOML syntax error: {exc}") from exc
    return _from_document(document, label, source_path)


def builtin_scenario_names() -> list[str]:
    folder = resources.files("sei_tui") / "scenarios"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def builtin_scenario(name: str = "demo") -> Scenario:
    """A scenario shipped with the package (``demo``, ``lan``, ``lte``, ``four-cameras``)."""
    names = builtin_scenario_names()
    if name not in names:
        raise SeiInputError(
            f"scenario = {_toml_value(name)}: no such built-in scenario "
            f"(built-in: {', '.join(names)})"
        )
    entry = resources.files("sei_tui") / "scenarios" / f"{name}.toml"
    with resources.as_file(entry) as path:
        return load_scenario(path)


def resolve_scenario(spec: str | os.PathLike[str]) -> Scenario:
    """A scenario file path, or the name of a built-in scenario when no such file exists."""
    path = Path(spec)
    if path.is_file():
        return load_scenario(path)
    if os.fspath(spec) in builtin_scenario_names():
        return builtin_scenario(os.fspath(spec))
    if path.exists():
        return load_scenario(path)  # not a regular file: its read error says why
    raise SeiInputError(
        f"{path}: no such file, and not a built-in scenario "
        f"(built-in: {', '.join(builtin_scenario_names())})"
    )


# --------------------------------------------------------------------------- writing


def dump_scenario(scenario: Scenario, base_dir: Path | None = None) -> str:
    """Canonical TOML text; ``parse_scenario(dump_scenario(s), s.source) == s``.

    Profile paths are written relative to ``base_dir`` (default: the scenario's folder)."""
    return _write_document(scenario.to_dict(base_dir))


def save_scenario(scenario: Scenario, path: str | os.PathLike[str]) -> Scenario:
    """Write atomically (temp file in the same folder, then rename); returns the scenario
    as loaded from its new place."""
    path = Path(path)
    if path.is_dir():
        raise SeiInputError(f"{path}: is a directory (name a file, e.g. {path / 'scenario.toml'})")
    folder = path.parent if str(path.parent) else Path(".")
    text = dump_scenario(scenario, base_dir=folder.absolute())
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return parse_scenario(text, source=path)


# --------------------------------------------------------------------------- internals


def _render_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + _toml_key(part)
    return text


class _Reader:
    """Typed access to one TOML document; every failure names file, key path and value."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, path: KeyPath, value: Any, problem: str) -> SeiInputError:
        return SeiInputError(
            f"{self.label}: {_render_path(path)} = {_toml_value(value)}: {problem}"
        )

    def missing(self, path: KeyPath) -> SeiInputError:
        return SeiInputError(f"{self.label}: {_render_path(path)}: required key is missing")

    def table(self, value: Any, path: KeyPath, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, value, "expected a table")
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    (*path, key), value[key], f"unknown key ({hint}known: {', '.join(known)})"
                )
        return value

    def array_of_tables(self, value: Any, path: KeyPath) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, value, f"expected an array of tables ([[{path[-1]}]])")
        return value

    def get(self, table: dict[str, Any], key: str, path: KeyPath, required: bool) -> Any:
        if key not in table:
            if required:
                raise self.missing((*path, key))
            return None
        return table[key]

    def string(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str):
            raise self.fail(path, value, "expected a string")
        return value

    def choice(self, value: Any, path: KeyPath, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self.fail(path, value, f"must be one of {', '.join(choices)}")
        return value

    def integer(self, value: Any, path: KeyPath) -> int:
        if _not_int(value):
            raise self.fail(path, value, "expected an integer")
        return value

    def number(self, value: Any, path: KeyPath) -> float:
        if _not_number(value):
            raise self.fail(path, value, "expected a number")
        if not math.isfinite(value):
            raise self.fail(path, value, "must be a finite number")
        return float(value)

    def boolean(self, value: Any, path: KeyPath) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, value, "expected true or false")
        return value

    def unit(self, parse: Callable[[Any, str], Any], value: Any, path: KeyPath) -> Any:
        return _with_label(self.label, parse, value, _render_path(path))


def _with_label(label: str, parse: Callable[[Any, str], Any], value: Any, key: str) -> Any:
    try:
        return parse(value, key)
    except SeiInputError as exc:
        raise SeiInputError(f"{label}: {exc}") from None


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def _from_document(document: dict[str, Any], label: str, source: Path | None) -> Scenario:
    read = _Reader(label)
    read.table(document, (), _TOP_KEYS)
    default_name = source.stem if source is not None else "scenario"
    name_value = read.get(document, "name", (), required=False)
    name = default_name if name_value is None else read.string(name_value, ("name",))

    transport_table = document.get("transport", {})
    read.table(transport_table, ("transport",), _TRANSPORT_KEYS)
    transport = _read_transport(read, transport_table)

    nodes = []
    node_list = document.get("node", [])
    for index, table in enumerate(read.array_of_tables(node_list, ("node",))):
        path: KeyPath = ("node", index)
        read.table(table, path, _NODE_KEYS)
        compute = read.get(table, "compute", path, required=False)
        nodes.append(
            Node(
                name=read.string(read.get(table, "name", path, True), (*path, "name")),
                role=read.choice(read.get(table, "role", path, True), (*path, "role"), ROLES),
                compute=None if compute is None else read.string(compute, (*path, "compute")),
            )
        )

    links = []
    link_list = document.get("link", [])
    for index, table in enumerate(read.array_of_tables(link_list, ("link",))):
        links.append(_read_link(read, table, ("link", index)))

    flows = []
    flow_list = document.get("flow", [])
    for index, table in enumerate(read.array_of_tables(flow_list, ("flow",))):
        flows.append(_read_flow(read, table, ("flow", index)))

    compute: dict[str, ComputeProfile] = {}
    compute_table = document.get("compute", {})
    if not isinstance(compute_table, dict):
        raise read.fail(("compute",), compute_table, "expected a table of [compute.NAME] tables")
    base = (source.parent if source is not None else Path(".")).absolute()
    for profile_name, table in compute_table.items():
        compute[profile_name] = _read_compute(read, profile_name, table, base)

    token = _PARSING.set((label, document))
    try:
        return Scenario(
            name=name,
            transport=transport,
            nodes=nodes,
            links=links,
            flows=flows,
            compute=compute,
            source=source,
        )
    finally:
        _PARSING.reset(token)


def _read_transport(read: _Reader, table: dict[str, Any]) -> Transport:
    defaults = Transport()
    path: KeyPath = ("transport",)
    protocol = table.get("protocol", defaults.protocol)
    mtu = table.get("mtu", defaults.mtu)
    seed = table.get("seed", defaults.seed)
    tcp_table = table.get("tcp", {})
    read.table(tcp_table, (*path, "tcp"), _TCP_KEYS)
    tcp_path: KeyPath = (*path, "tcp")
    tcp_defaults = TcpConfig()
    tcp = TcpConfig(
        initial_window=read.integer(
            tcp_table.get("initial_window", tcp_defaults.initial_window),
            (*tcp_path, "initial_window"),
        ),
        min_rto=read.unit(
            parse_duration, tcp_table.get("min_rto", tcp_defaults.min_rto), (*tcp_path, "min_rto")
        ),
        delayed_ack=read.boolean(
            tcp_table.get("delayed_ack", tcp_defaults.delayed_ack), (*tcp_path, "delayed_ack")
        ),
        ack_delay=read.unit(
            parse_duration,
            tcp_table.get("ack_delay", tcp_defaults.ack_delay),
            (*tcp_path, "ack_delay"),
        ),
        rwnd=read.unit(parse_bytes, tcp_table.get("rwnd", tcp_defaults.rwnd), (*tcp_path, "rwnd")),
        handshake=read.boolean(
            tcp_table.get("handshake", tcp_defaults.handshake), (*tcp_path, "handshake")
        ),
        idle_restart=read.boolean(
            tcp_table.get("idle_restart", tcp_defaults.idle_restart),
            (*tcp_path, "idle_restart"),
        ),
    )
    return Transport(
        protocol=read.choice(protocol, (*path, "protocol"), PROTOCOLS),
        mtu=read.unit(parse_bytes, mtu, (*path, "mtu")),
        seed=read.integer(seed, (*path, "seed")),
        tcp=tcp,
    )


def _read_link(read: _Reader, table: Any, path: KeyPath) -> Link:
    read.table(table, path, _LINK_KEYS)
    defaults = Link(name="", kind="", nodes=(), bitrate_bps=1.0)
    nodes_value = read.get(table, "nodes", path, True)
    if not isinstance(nodes_value, list):
        raise read.fail((*path, "nodes"), nodes_value, "expected an array of node names")
    nodes = tuple(
        read.string(node, (*path, "nodes", index)) for index, node in enumerate(nodes_value)
    )
    burst = None
    burst_table = read.get(table, "burst", path, False)
    if burst_table is not None:
        burst_path: KeyPath = (*path, "burst")
        read.table(burst_table, burst_path, _BURST_KEYS)
        burst = BurstLoss(
            p_good_to_bad=read.number(
                read.get(burst_table, "p_good_to_bad", burst_path, True),
                (*burst_path, "p_good_to_bad"),
            ),
            p_bad_to_good=read.number(
                read.get(burst_table, "p_bad_to_good", burst_path, True),
                (*burst_path, "p_bad_to_good"),
            ),
            loss_bad=read.number(
                read.get(burst_table, "loss_bad", burst_path, True), (*burst_path, "loss_bad")
            ),
            loss_good=read.number(burst_table.get("loss_good", 0.0), (*burst_path, "loss_good")),
        )
    return Link(
        name=read.string(read.get(table, "name", path, True), (*path, "name")),
        kind=read.choice(read.get(table, "kind", path, True), (*path, "kind"), LINK_KINDS),
        nodes=nodes,
        bitrate_bps=read.unit(
            parse_bitrate, read.get(table, "bitrate", path, True), (*path, "bitrate")
        ),
        delay_s=read.unit(parse_duration, table.get("delay", defaults.delay_s), (*path, "delay")),
        loss=read.number(table.get("loss", defaults.loss), (*path, "loss")),
        overhead_bytes=read.unit(
            parse_bytes,
            table.get("overhead_bytes", defaults.overhead_bytes),
            (*path, "overhead_bytes"),
        ),
        queue_packets=read.integer(
            table.get("queue_packets", defaults.queue_packets), (*path, "queue_packets")
        ),
        burst=burst,
    )


def _read_flow(read: _Reader, table: Any, path: KeyPath) -> Flow:
    read.table(table, path, _FLOW_KEYS)
    defaults = Flow(src="", dst="")
    payload = table.get("payload_bytes")
    return Flow(
        src=read.string(read.get(table, "from", path, True), (*path, "from")),
        dst=read.string(read.get(table, "to", path, True), (*path, "to")),
        frames=read.integer(table.get("frames", defaults.frames), (*path, "frames")),
        fps=read.number(table.get("fps", defaults.fps), (*path, "fps")),
        payload_bytes=None
        if payload is None
        else read.unit(parse_bytes, payload, (*path, "payload_bytes")),
    )


def _read_compute(read: _Reader, name: str, table: Any, base: Path) -> ComputeProfile:
    path: KeyPath = ("compute", name)
    read.table(table, path, _COMPUTE_KEYS)
    forms = [key for key in ("gflops", "profile", "host") if key in table]
    if len(forms) != 1:
        shown = {key: table[key] for key in forms} if forms else table
        raise read.fail(
            path,
            shown,
            'needs exactly one of gflops = N, profile = "file.json", host = true',
        )
    slowdown_value = table.get("slowdown")
    slowdown = 1.0 if slowdown_value is None else read.number(slowdown_value, (*path, "slowdown"))
    if forms == ["gflops"]:
        if slowdown_value is not None:
            raise read.fail(
                (*path, "slowdown"),
                slowdown_value,
                "only for measured profiles (profile / host); scale gflops instead",
            )
        gflops = read.number(table["gflops"], (*path, "gflops"))
        return ComputeProfile(name=name, kind="gflops", gflops=gflops)
    if forms == ["profile"]:
        text = read.string(table["profile"], (*path, "profile"))
        if not text.strip():
            raise read.fail((*path, "profile"), text, "empty path")
        resolved = Path(os.path.normpath(base / Path(text).expanduser()))
        return ComputeProfile(name=name, kind="profile", profile_path=resolved, slowdown=slowdown)
    if read.boolean(table["host"], (*path, "host")) is not True:
        raise read.fail((*path, "host"), False, "write host = true to measure on this machine")
    return ComputeProfile(name=name, kind="host", slowdown=slowdown)


def _shortest_path(links: Iterable[Link], src: str, dst: str) -> list[str] | None:
    """BFS by hop count over nodes and the links (media) they share: each link is expanded
    once, so a wireless medium of n stations costs n, not n squared."""
    links_of: dict[str, list[Link]] = {}
    for link in links:
        for node in link.nodes:
            links_of.setdefault(node, []).append(link)
    previous: dict[str, str | None] = {src: None}
    expanded: set[int] = set()
    queue = deque([src])
    while queue:
        node = queue.popleft()
        if node == dst:
            path = [node]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for link in links_of.get(node, []):
            if id(link) in expanded:
                continue
            expanded.add(id(link))
            for other in link.nodes:
                if other not in previous:
                    previous[other] = node
                    queue.append(other)
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _validate(scenario: Scenario, label: str, document: Mapping[str, Any] | None) -> None:
    """Range, reference and topology checks on typed values; raises on the first problem."""

    def fail(path: KeyPath, shown: Any, problem: str) -> SeiInputError:
        raw = _lookup(document, path)
        value = shown if raw is _ABSENT else raw
        return SeiInputError(f"{label}: {_render_path(path)} = {_toml_value(value)}: {problem}")

    def check_name(value: str, path: KeyPath, what: str) -> None:
        if not value:
            raise fail(path, value, f"{what} must not be empty")
        if value != value.strip():
            raise fail(path, value, f"{what} must not start or end with spaces")
        if _CONTROL.search(value):
            raise fail(path, value, f"{what} must not contain control characters")

    check_name(scenario.name, ("name",), "the scenario name")

    transport = scenario.transport
    if transport.protocol not in PROTOCOLS:
        raise fail(("transport", "protocol"), transport.protocol, f"must be one of {PROTOCOLS}")
    if not MTU_MIN <= transport.mtu <= MTU_MAX:
        raise fail(("transport", "mtu"), transport.mtu, f"must be {MTU_MIN}..{MTU_MAX} bytes")
    if not 0 <= transport.seed <= SEED_MAX:
        raise fail(("transport", "seed"), transport.seed, f"must be 0..{SEED_MAX}")
    tcp = transport.tcp
    tcp_path: KeyPath = ("transport", "tcp")
    if not 1 <= tcp.initial_window <= MAX_INITIAL_WINDOW:
        raise fail(
            (*tcp_path, "initial_window"),
            tcp.initial_window,
            f"must be 1..{MAX_INITIAL_WINDOW} segments",
        )
    for key, seconds in (("min_rto", tcp.min_rto), ("ack_delay", tcp.ack_delay)):
        if not 0 < seconds <= MAX_TIMER_S:
            raise fail(
                (*tcp_path, key), _shown(format_duration, seconds), "must be > 0 and <= 60 s"
            )
    mss = transport.mtu - TCP_IP_HEADER_BYTES
    if tcp.rwnd < mss:
        raise fail(
            (*tcp_path, "rwnd"), tcp.rwnd, f"must hold at least one segment (MSS = {mss} bytes)"
        )
    if tcp.rwnd > MAX_BYTES:
        raise fail((*tcp_path, "rwnd"), tcp.rwnd, "must be <= 2^40 bytes (1TiB)")

    node_index: dict[str, int] = {}
    for index, node in enumerate(scenario.nodes):
        path: KeyPath = ("node", index)
        check_name(node.name, (*path, "name"), "a node name")
        if node.name in node_index:
            raise fail(
                (*path, "name"), node.name, f"duplicate: node[{node_index[node.name]}] has it"
            )
        node_index[node.name] = index
        if node.role not in ROLES:
            raise fail((*path, "role"), node.role, f"must be one of {', '.join(ROLES)}")
        if node.compute is not None:
            if node.role == "relay":
                raise fail((*path, "compute"), node.compute, "a relay only forwards: no compute")
            if node.compute not in scenario.compute:
                known = ", ".join(scenario.compute) or "none defined"
                raise fail(
                    (*path, "compute"),
                    node.compute,
                    f"no [compute.{_toml_key(node.compute)}] profile (profiles: {known})",
                )

    link_index: dict[str, int] = {}
    for index, link in enumerate(scenario.links):
        path = ("link", index)
        check_name(link.name, (*path, "name"), "a link name")
        if link.name in link_index:
            raise fail(
                (*path, "name"), link.name, f"duplicate: link[{link_index[link.name]}] has it"
            )
        link_index[link.name] = index
        if link.kind not in LINK_KINDS:
            raise fail((*path, "kind"), link.kind, f"must be one of {', '.join(LINK_KINDS)}")
        seen: set[str] = set()
        for position, node_name in enumerate(link.nodes):
            if node_name not in node_index:
                raise fail((*path, "nodes", position), node_name, "no such node")
            if node_name in seen:
                raise fail((*path, "nodes", position), node_name, "listed twice on this link")
            seen.add(node_name)
        if link.kind == "wireless":
            if len(link.nodes) < 2:
                raise fail(
                    (*path, "nodes"), list(link.nodes), "a wireless medium needs 2 or more nodes"
                )
        elif len(link.nodes) != 2:
            raise fail(
                (*path, "nodes"),
                list(link.nodes),
                f'a {link.kind} link joins exactly 2 nodes (use kind = "wireless" to share)',
            )
        if not 0 < link.bitrate_bps <= MAX_BITRATE_BPS:
            raise fail(
                (*path, "bitrate"),
                _shown(format_bitrate, link.bitrate_bps),
                "must be > 0 and <= 1e15 bit/s",
            )
        if not 0 <= link.delay_s <= MAX_DELAY_S:
            raise fail(
                (*path, "delay"),
                _shown(format_duration, link.delay_s),
                "must be >= 0 and <= 1000s",
            )
        if not 0 <= link.loss < 1:
            raise fail((*path, "loss"), link.loss, "must be in [0, 1)")
        if not 0 <= link.overhead_bytes <= MAX_OVERHEAD_BYTES:
            raise fail((*path, "overhead_bytes"), link.overhead_bytes, "must be 0..65535 bytes")
        if not 1 <= link.queue_packets <= MAX_QUEUE_PACKETS:
            raise fail(
                (*path, "queue_packets"),
                link.queue_packets,
                f"must be 1..{MAX_QUEUE_PACKETS} packets",
            )
        if link.burst is not None:
            burst_path: KeyPath = (*path, "burst")
            if link.loss != 0:
                raise fail((*path, "loss"), link.loss, "set either loss or [link.burst], not both")
            burst = link.burst
            for key, value, low, high, closed in (
                ("p_good_to_bad", burst.p_good_to_bad, 0.0, 1.0, True),
                ("p_bad_to_good", burst.p_bad_to_good, 0.0, 1.0, True),
                ("loss_bad", burst.loss_bad, 0.0, 1.0, True),
                ("loss_good", burst.loss_good, 0.0, 1.0, False),
            ):
                if not (low <= value <= high if closed else low <= value < high):
                    interval = f"[{low:g}, {high:g}]" if closed else f"[{low:g}, {high:g})"
                    raise fail((*burst_path, key), value, f"must be in {interval}")
            if burst.p_bad_to_good == 0 and burst.p_good_to_bad > 0:
                raise fail(
                    (*burst_path, "p_bad_to_good"),
                    burst.p_bad_to_good,
                    "must be > 0 (the bad state would never end)",
                )

    if not scenario.flows:
        raise SeiInputError(f"{label}: flow: no [[flow]]: nothing to send")
    for index, flow in enumerate(scenario.flows):
        path = ("flow", index)
        for key, end in (("from", flow.src), ("to", flow.dst)):
            if end not in node_index:
                raise fail((*path, key), end, "no such node")
            if scenario.nodes[node_index[end]].role == "relay":
                raise fail((*path, key), end, "a relay only forwards: a flow ends at edge/server")
        if flow.src == flow.dst:
            raise fail((*path, "to"), flow.dst, "a flow needs two different nodes")
        if _shortest_path(scenario.links, flow.src, flow.dst) is None:
            raise fail((*path, "to"), flow.dst, f"no route from {flow.src!r} over the links")
        if not 1 <= flow.frames <= MAX_FRAMES:
            raise fail((*path, "frames"), flow.frames, f"must be 1..{MAX_FRAMES}")
        if not 0 <= flow.fps <= MAX_FPS:
            raise fail((*path, "fps"), flow.fps, "must be >= 0 (0 = back to back) and <= 1e9")
        if flow.payload_bytes is not None and not 1 <= flow.payload_bytes <= MAX_BYTES:
            raise fail(
                (*path, "payload_bytes"), flow.payload_bytes, "must be >= 1 byte and <= 2^40"
            )

    for name, profile in scenario.compute.items():
        path = ("compute", name)
        check_name(name, path, "a compute profile name")
        if profile.name != name:
            raise fail((*path,), profile.name, "the profile's name differs from its key")
        if profile.kind not in COMPUTE_KINDS:
            raise fail(path, profile.kind, f"kind must be one of {', '.join(COMPUTE_KINDS)}")
        if profile.kind == "gflops" and (
            profile.gflops is None or not 0 < profile.gflops < math.inf
        ):
            raise fail((*path, "gflops"), profile.gflops, "must be > 0")
        if profile.kind == "profile" and profile.profile_path is None:
            raise fail((*path, "profile"), None, "a profile file is required")
        if not 0 < profile.slowdown < math.inf:
            raise fail((*path, "slowdown"), profile.slowdown, "must be > 0")


_ABSENT = object()


def _shown(formatter: Callable[[float], str], value: float) -> str | float:
    """A quantity in its unit spelling when it has one (not NaN, infinite or negative)."""
    return formatter(value) if math.isfinite(value) and value >= 0 else value


def _lookup(document: Mapping[str, Any] | None, path: KeyPath) -> Any:
    node: Any = document
    if node is None:
        return _ABSENT
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return _ABSENT
        elif not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


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
    return {aliases.get(key, key): value for key, value in changes.items()}


def _to_document(scenario: Scenario, base_dir: Path | None) -> dict[str, Any]:
    if base_dir is None and scenario.source is not None:
        base_dir = scenario.source.parent.absolute()
    tcp = scenario.transport.tcp
    transport: dict[str, Any] = {
        "protocol": scenario.transport.protocol,
        "mtu": scenario.transport.mtu,
        "seed": scenario.transport.seed,
    }
    tcp_table: dict[str, Any] = {}
    for item in fields(TcpConfig):
        value = getattr(tcp, item.name)
        if value != getattr(TcpConfig(), item.name):
            if item.name in ("min_rto", "ack_delay"):
                value = format_duration(value)
            tcp_table[item.name] = value
    if tcp_table:
        transport["tcp"] = tcp_table
    nodes = []
    for node in scenario.nodes:
        table: dict[str, Any] = {"name": node.name, "role": node.role}
        if node.compute is not None:
            table["compute"] = node.compute
        nodes.append(table)
    links = []
    for link in scenario.links:
        table = {
            "name": link.name,
            "kind": link.kind,
            "nodes": list(link.nodes),
            "bitrate": format_bitrate(link.bitrate_bps),
            "delay": format_duration(link.delay_s),
            "loss": link.loss,
            "overhead_bytes": link.overhead_bytes,
            "queue_packets": link.queue_packets,
        }
        if link.burst is not None:
            table["burst"] = asdict(link.burst)
        links.append(table)
    flows = []
    for flow in scenario.flows:
        # an integral rate reads better as `fps = 10`; it parses back to the same float
        fps: float | int = int(flow.fps) if flow.fps.is_integer() and flow.fps < 2**53 else flow.fps
        table = {"from": flow.src, "to": flow.dst, "frames": flow.frames, "fps": fps}
        if flow.payload_bytes is not None:
            table["payload_bytes"] = flow.payload_bytes
        flows.append(table)
    compute: dict[str, Any] = {}
    for name, profile in scenario.compute.items():
        table = {}
        if profile.kind == "gflops":
            table["gflops"] = profile.gflops
        elif profile.kind == "profile":
            assert profile.profile_path is not None
            path = profile.profile_path
            if base_dir is not None and path.is_absolute():
                path = Path(os.path.relpath(path, base_dir))
            table["profile"] = path.as_posix()
        else:
            table["host"] = True
        if profile.kind != "gflops" and profile.slowdown != 1.0:
            table["slowdown"] = profile.slowdown
        compute[name] = table
    return {
        "name": scenario.name,
        "transport": transport,
        "node": nodes,
        "link": links,
        "flow": flows,
        "compute": compute,
    }


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


def _write_table(lines: list[str], header: str, table: Mapping[str, Any]) -> None:
    lines.append("")
    lines.append(header)
    for key, value in table.items():
        if not isinstance(value, dict):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")


def _write_document(document: Mapping[str, Any]) -> str:
    lines = [
        "# sei scenario. Numbers are SI (bit/s, seconds, bytes); strings carry a unit:",
        '# "54Mbps", "2ms", "1.5MB" (k/M/G are decimal, KiB/MiB binary).',
        f"name = {_toml_value(document['name'])}",
    ]
    transport = document["transport"]
    _write_table(lines, "[transport]", transport)
    if "tcp" in transport:
        _write_table(lines, "[transport.tcp]", transport["tcp"])
    for node in document["node"]:
        _write_table(lines, "[[node]]", node)
    for link in document["link"]:
        _write_table(lines, "[[link]]", link)
        if "burst" in link:
            _write_table(lines, "[link.burst]", link["burst"])
    for flow in document["flow"]:
        _write_table(lines, "[[flow]]", flow)
    for name, profile in document["compute"].items():
        _write_table(lines, f"[compute.{_toml_key(name)}]", profile)
    return "\n".join(lines) + "\n"
