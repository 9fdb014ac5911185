"""Scenario files: the strict reader (every problem names the file, the key path and the
value) and the writer (tomli-w), with atomic saving."""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import tomli_w

from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    RECOVERY_EXITS,
    RTO_SSTHRESHES,
    BurstLoss,
    TcpConfig,
)
from sei_tui.core.cache import atomic_write_bytes
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.model import (
    _PARSING,
    ComputeProfile,
    Flow,
    Link,
    Node,
    Scenario,
    Transport,
)
from sei_tui.core.network.schema import (
    _BURST_KEYS,
    _COMPUTE_ENERGY_KEYS,
    _COMPUTE_KEYS,
    _FLOW_KEYS,
    _LINK_ENERGY_KEYS,
    _LINK_KEYS,
    _NODE_KEYS,
    _TCP_KEYS,
    _TOP_KEYS,
    _TRACE_KEYS,
    _TRANSPORT_KEYS,
    ROLES,
    KeyPath,
    _not_int,
    _not_number,
    _render_path,
    _toml_value,
    _with_label,
)
from sei_tui.core.network.traces import load_link_trace
from sei_tui.core.units import (
    format_bitrate,
    format_duration,
    parse_bitrate,
    parse_bytes,
    parse_duration,
)


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
    return from_document(document, label, source_path)


_HEADER = (
    "# sei scenario (format: docs/scenario-format.md). Numbers are SI (bit/s, seconds,\n"
    '# bytes); strings carry a unit: "54Mbps", "2ms", "1.5MB" (k/M/G decimal, KiB/MiB binary).\n'
)


def dump_scenario(scenario: Scenario, base_dir: Path | None = None) -> str:
    """Canonical TOML text; ``parse_scenario(dump_scenario(s), s.source) == s``.

    Profile paths are written relative to ``base_dir`` (default: the scenario's folder)."""
    return _HEADER + tomli_w.dumps(scenario.to_dict(base_dir))


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


def from_document(document: dict[str, Any], label: str, source: Path | None) -> Scenario:
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

    base = (source.parent if source is not None else Path(".")).absolute()
    links = []
    link_list = document.get("link", [])
    for index, table in enumerate(read.array_of_tables(link_list, ("link",))):
        links.append(_read_link(read, table, ("link", index), base))

    flows = []
    flow_list = document.get("flow", [])
    for index, table in enumerate(read.array_of_tables(flow_list, ("flow",))):
        flows.append(_read_flow(read, table, ("flow", index)))

    compute: dict[str, ComputeProfile] = {}
    compute_table = document.get("compute", {})
    if not isinstance(compute_table, dict):
        raise read.fail(("compute",), compute_table, "expected a table of [compute.NAME] tables")
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
        recovery_exit=read.choice(
            tcp_table.get("recovery_exit", tcp_defaults.recovery_exit),
            (*tcp_path, "recovery_exit"),
            RECOVERY_EXITS,
        ),
        rto_ssthresh=read.choice(
            tcp_table.get("rto_ssthresh", tcp_defaults.rto_ssthresh),
            (*tcp_path, "rto_ssthresh"),
            RTO_SSTHRESHES,
        ),
    )
    return Transport(
        protocol=read.choice(protocol, (*path, "protocol"), PROTOCOLS),
        mtu=read.unit(parse_bytes, mtu, (*path, "mtu")),
        seed=read.integer(seed, (*path, "seed")),
        tcp=tcp,
    )


def _read_trace(read: _Reader, table: Any, path: KeyPath, base: Path) -> Any:
    read.table(table, path, _TRACE_KEYS)
    file = read.string(read.get(table, "file", path, True), (*path, "file"))
    if not file.strip():
        raise read.fail((*path, "file"), file, "empty path")
    fmt = table.get("format")
    return load_link_trace(
        file,
        None if fmt is None else read.string(fmt, (*path, "format")),
        read.boolean(table.get("loop", False), (*path, "loop")),
        read.unit(parse_duration, table.get("start", 0.0), (*path, "start")),
        base,
        f"{read.label}: {_render_path(path)}",
    )


def _read_link(read: _Reader, table: Any, path: KeyPath, base: Path) -> Link:
    read.table(table, path, _LINK_KEYS)
    trace = None
    trace_table = read.get(table, "trace", path, False)
    if trace_table is not None:
        if "bitrate" in table:
            raise read.fail(
                (*path, "bitrate"), table["bitrate"], "set either bitrate or [link.trace], not both"
            )
        trace = _read_trace(read, trace_table, (*path, "trace"), base)
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
        bitrate_bps=trace.mean_bps()
        if trace is not None
        else read.unit(parse_bitrate, read.get(table, "bitrate", path, True), (*path, "bitrate")),
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
        trace=trace,
        **{key: read.number(table[key], (*path, key)) for key in _LINK_ENERGY_KEYS if key in table},
    )


def _read_flow(read: _Reader, table: Any, path: KeyPath) -> Flow:
    read.table(table, path, _FLOW_KEYS)
    defaults = Flow(src="", dst="")
    payload = table.get("payload_bytes")
    payload_path: KeyPath = (*path, "payload_bytes")
    frames_value = table.get("frames")
    payload_bytes: int | tuple[int, ...] | None = None
    if isinstance(payload, list):
        # one size per frame: the list's length is the frame count
        if not payload:
            raise read.fail(payload_path, payload, "an empty list: give at least one size")
        payload_bytes = tuple(
            read.unit(parse_bytes, size, (*payload_path, index))
            for index, size in enumerate(payload)
        )
        if frames_value is None:
            frames_value = len(payload_bytes)
        elif read.integer(frames_value, (*path, "frames")) != len(payload_bytes):
            raise read.fail(
                (*path, "frames"),
                frames_value,
                f"payload_bytes lists {len(payload_bytes)} sizes (one per frame): "
                "frames must equal their count, or be left out",
            )
    elif payload is not None:
        payload_bytes = read.unit(parse_bytes, payload, payload_path)
    return Flow(
        src=read.string(read.get(table, "from", path, True), (*path, "from")),
        dst=read.string(read.get(table, "to", path, True), (*path, "to")),
        frames=read.integer(
            defaults.frames if frames_value is None else frames_value, (*path, "frames")
        ),
        fps=read.number(table.get("fps", defaults.fps), (*path, "fps")),
        payload_bytes=payload_bytes,
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
    energy = {
        key: read.number(table[key], (*path, key)) for key in _COMPUTE_ENERGY_KEYS if key in table
    }
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
        return ComputeProfile(name=name, kind="gflops", gflops=gflops, **energy)
    if forms == ["profile"]:
        text = read.string(table["profile"], (*path, "profile"))
        if not text.strip():
            raise read.fail((*path, "profile"), text, "empty path")
        resolved = Path(os.path.normpath(base / Path(text).expanduser()))
        return ComputeProfile(
            name=name, kind="profile", profile_path=resolved, slowdown=slowdown, **energy
        )
    if read.boolean(table["host"], (*path, "host")) is not True:
        raise read.fail((*path, "host"), False, "write host = true to measure on this machine")
    return ComputeProfile(name=name, kind="host", slowdown=slowdown, **energy)


def to_document(scenario: Scenario, base_dir: Path | None) -> dict[str, Any]:
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
        if link.trace is not None:
            del table["bitrate"]
            file = link.trace.file
            if link.trace.path is not None and base_dir is not None:
                file = Path(os.path.relpath(link.trace.path, base_dir)).as_posix()
            elif link.trace.path is not None:
                file = link.trace.path.as_posix()
            trace_table: dict[str, Any] = {"file": file, "format": link.trace.format}
            trace_table["loop"] = link.trace.loop
            trace_table["start"] = format_duration(link.trace.start_s)
            table["trace"] = trace_table
        for key in _LINK_ENERGY_KEYS:
            if getattr(link, key) != 0.0:
                table[key] = getattr(link, key)
        links.append(table)
    flows = []
    for flow in scenario.flows:
        # an integral rate reads better as `fps = 10`; it parses back to the same float
        fps: float | int = int(flow.fps) if flow.fps.is_integer() and flow.fps < 2**53 else flow.fps
        table = {"from": flow.src, "to": flow.dst, "frames": flow.frames, "fps": fps}
        if isinstance(flow.payload_bytes, tuple):
            table["payload_bytes"] = list(flow.payload_bytes)  # one size per frame
        elif flow.payload_bytes is not None:
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
        for key in _COMPUTE_ENERGY_KEYS:
            value = getattr(profile, key)
            if value is not None and not (key == "idle_w" and value == 0.0):
                table[key] = value
        compute[name] = table
    return {
        "name": scenario.name,
        "transport": transport,
        "node": nodes,
        "link": links,
        "flow": flows,
        "compute": compute,
    }
