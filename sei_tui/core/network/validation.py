"""Range, reference and topology checks of a typed Scenario. Numeric ranges come from the
simulator's one definition (``libsim.limits``, from libsim.h); every problem is one
SeiInputError naming the scenario, the key path and the value as the user wrote it."""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from libsim import limits
from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    RECOVERY_EXITS,
    RTO_SSTHRESHES,
    OpportunityTrace,
    RateTrace,
)
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.schema import (
    _COMPUTE_ENERGY_KEYS,
    _LINK_ENERGY_KEYS,
    COMPUTE_KINDS,
    ROLES,
    KeyPath,
    _render_path,
    _toml_key,
    _toml_value,
)
from sei_tui.core.units import format_bitrate, format_duration

if TYPE_CHECKING:
    from sei_tui.core.network.model import Link, Scenario


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

    def check(limit: limits.Limit, path: KeyPath, value: float, shown: Any = None) -> None:
        if not limit.admits(value):
            raise fail(path, value if shown is None else shown, limit.describe())

    transport = scenario.transport
    if transport.protocol not in PROTOCOLS:
        raise fail(("transport", "protocol"), transport.protocol, f"must be one of {PROTOCOLS}")

    check(limits.MTU, ("transport", "mtu"), transport.mtu)
    check(limits.SEED, ("transport", "seed"), transport.seed)
    tcp = transport.tcp
    tcp_path: KeyPath = ("transport", "tcp")
    check(limits.INITIAL_WINDOW, (*tcp_path, "initial_window"), tcp.initial_window)
    for key, limit, seconds in (
        ("min_rto", limits.MIN_RTO, tcp.min_rto),
        ("ack_delay", limits.ACK_DELAY, tcp.ack_delay),
    ):
        check(limit, (*tcp_path, key), seconds, _shown(format_duration, seconds))
    mss = transport.mtu - limits.TCP_IP_HEADER_BYTES
    if tcp.rwnd < mss:
        raise fail(
            (*tcp_path, "rwnd"), tcp.rwnd, f"must hold at least one segment (MSS = {mss} bytes)"
        )
    check(limits.RWND, (*tcp_path, "rwnd"), tcp.rwnd)
    for key, choices in (("recovery_exit", RECOVERY_EXITS), ("rto_ssthresh", RTO_SSTHRESHES)):
        if getattr(tcp, key) not in choices:
            raise fail((*tcp_path, key), getattr(tcp, key), f"must be one of {', '.join(choices)}")
    if len(scenario.nodes) > limits.NODES.high:
        raise fail(("node",), f"{len(scenario.nodes)} nodes", limits.NODES.describe())

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
        # any role may compute: a relay with a profile is an edge box (split2 rows)
        if node.compute is not None and node.compute not in scenario.compute:
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
            if not limits.WIRELESS_NODES.admits(len(link.nodes)):
                raise fail(
                    (*path, "nodes"),
                    list(link.nodes),
                    f"a wireless medium joins {len(link.nodes)} "
                    f"node{'' if len(link.nodes) == 1 else 's'}: "
                    + limits.WIRELESS_NODES.describe(),
                )
        elif len(link.nodes) != 2:
            raise fail(
                (*path, "nodes"),
                list(link.nodes),
                f'a {link.kind} link joins exactly 2 nodes (use kind = "wireless" to share)',
            )
        if link.trace is None:
            check(
                limits.BITRATE,
                (*path, "bitrate"),
                link.bitrate_bps,
                _shown(format_bitrate, link.bitrate_bps),
            )
        else:
            _check_trace(link, path, fail)
        check(limits.DELAY, (*path, "delay"), link.delay_s, _shown(format_duration, link.delay_s))
        check(limits.LOSS, (*path, "loss"), link.loss)
        check(limits.OVERHEAD_BYTES, (*path, "overhead_bytes"), link.overhead_bytes)
        check(limits.QUEUE_PACKETS, (*path, "queue_packets"), link.queue_packets)
        for key in _LINK_ENERGY_KEYS:
            if not 0 <= getattr(link, key) < math.inf:
                raise fail((*path, key), getattr(link, key), "must be a finite number >= 0")
        if (link.tail_s > 0) != (link.tail_w > 0):
            key = "tail_w" if link.tail_s > 0 else "tail_s"
            raise fail((*path, key), getattr(link, key), "set tail_s and tail_w together (> 0)")
        if link.burst is not None:
            burst_path: KeyPath = (*path, "burst")
            if link.loss != 0:
                raise fail((*path, "loss"), link.loss, "set either loss or [link.burst], not both")
            burst = link.burst
            for key, limit, value in (
                ("p_good_to_bad", limits.PROBABILITY, burst.p_good_to_bad),
                ("p_bad_to_good", limits.PROBABILITY, burst.p_bad_to_good),
                ("loss_bad", limits.PROBABILITY, burst.loss_bad),
                ("loss_good", limits.LOSS, burst.loss_good),
            ):
                check(limit, (*burst_path, key), value)
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
        check(limits.FRAMES, (*path, "frames"), flow.frames)
        check(limits.FPS, (*path, "fps"), flow.fps)
        if isinstance(flow.payload_bytes, tuple):
            if len(flow.payload_bytes) != flow.frames:
                raise fail(
                    (*path, "frames"),
                    flow.frames,
                    f"payload_bytes lists {len(flow.payload_bytes)} sizes (one per frame): "
                    "frames must equal their count",
                )
            for position, size in enumerate(flow.payload_bytes):
                check(limits.PAYLOAD_BYTES, (*path, "payload_bytes", position), size)
        elif flow.payload_bytes is not None:
            check(limits.PAYLOAD_BYTES, (*path, "payload_bytes"), flow.payload_bytes)
    traffic = traffic_problem(
        [(flow.frames, flow.payload_bytes) for flow in scenario.flows],
        transport.protocol,
        transport.mtu,
    )
    if traffic is not None:
        index, problem = traffic
        raise fail(("flow", index, "frames"), scenario.flows[index].frames, problem)

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
        for key in _COMPUTE_ENERGY_KEYS:
            value = getattr(profile, key)
            if value is not None and not 0 <= value < math.inf:
                raise fail((*path, key), value, "must be a finite number >= 0")
        if profile.idle_w and (profile.active_w is None or profile.idle_w > profile.active_w):
            raise fail((*path, "idle_w"), profile.idle_w, "needs active_w >= idle_w")


def traffic_problem(
    flows: Sequence[tuple[int, int | Sequence[int] | None]], protocol: str, mtu: int
) -> tuple[int, str] | None:
    """What the simulator refuses about the traffic as a whole, as (flow index, problem):
    more frames in all flows together than one run takes, or (UDP) more datagrams in one
    flow than the receiver tracks. `flows` holds (frames, payload_bytes or None) per flow;
    a payload may be one size per frame."""
    total = 0
    for index, (frames, payload) in enumerate(flows):
        total += frames
        if total > limits.FRAMES.high:
            return index, (
                f"all flows together send {total} frames: at most {limits.FRAMES.high} in one run"
            )
        if protocol == "udp" and payload is not None and not isinstance(payload, int):
            room = mtu - limits.UDP_IP_HEADER_BYTES
            datagrams = sum(-(-size // room) for size in payload)
            if not limits.UDP_DATAGRAMS.admits(datagrams):
                return index, (
                    f"its {frames} frames make {datagrams} datagrams: "
                    f"{limits.UDP_DATAGRAMS.describe()} per UDP flow"
                )
        elif protocol == "udp" and payload is not None:
            per_frame = -(-payload // (mtu - limits.UDP_IP_HEADER_BYTES))
            if not limits.UDP_DATAGRAMS.admits(frames * per_frame):
                return index, (
                    f"{frames} frames x {per_frame} datagrams = {frames * per_frame} "
                    f"datagrams: {limits.UDP_DATAGRAMS.describe()} per UDP flow"
                )
    return None


_ABSENT = object()


def _check_trace(link: Link, path: KeyPath, fail: Callable[..., SeiInputError]) -> None:
    """A trace fits its link: Mahimahi only on point-to-point links, a wireless data rate
    never 0, and a trace's loss / delay column replaces the link's (which stay unset)."""
    trace = link.trace
    assert trace is not None
    trace_path: KeyPath = (*path, "trace")
    data = trace.data
    if link.kind == "wireless" and isinstance(data, OpportunityTrace):
        raise fail(
            (*trace_path, "format"),
            trace.format,
            "a Mahimahi trace gives delivery opportunities, not the data rate 802.11 airtime "
            "needs: use a csv or pensieve trace on a wireless link",
        )
    if not isinstance(data, RateTrace):
        return
    if link.kind == "wireless" and 0 in data.bitrate_bps:
        row = data.bitrate_bps.index(0)
        raise fail(
            (*trace_path, "file"),
            trace.file,
            f"row {row + 1} has rate 0: a wireless link's data rate must be > 0",
        )
    if data.loss is not None and (link.loss != 0 or link.burst is not None):
        key = "loss" if link.loss != 0 else "burst"
        raise fail(
            (*path, key), link.loss if key == "loss" else "[link.burst]",
            "the trace's loss column gives the loss: leave loss and [link.burst] out",
        )  # fmt: skip
    if data.delay_s is not None and link.delay_s != 0:
        raise fail(
            (*path, "delay"),
            _shown(format_duration, link.delay_s),
            "the trace's delay_s column gives the delay: leave delay out",
        )


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
