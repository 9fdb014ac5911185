"""A Scenario as the simulator's NetworkSpec, with per-run overrides checked against the
simulator's limits (``libsim.limits``). Errors name the overridden key (``payload_bytes``,
``frames``, ``fps``, ``protocol``, ``seed``) in ``SeiInputError.key`` so that a front end
can name its own flag or field instead.

A payload override is one size for every frame, or a list of sizes: with ``cycle=False``
(``sei simulate --payload-sizes``) every flow sends the list, frame i carrying size i, and
its length is the frame count of every flow; with ``cycle=True`` (the evaluation) every
flow keeps its frame count and frame f carries size ``f mod len``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from libsim import limits
from libsim.spec import PROTOCOLS, FlowSpec, LinkSpec, NetworkSpec
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.schema import _not_int, _not_number, _toml_value, _with_label
from sei_tui.core.network.validation import traffic_problem
from sei_tui.core.units import parse_bytes

if TYPE_CHECKING:
    from sei_tui.core.network.model import Scenario


def to_network(
    scenario: Scenario,
    payload_bytes: int | str | Sequence[int | str] | None = None,
    frames: int | None = None,
    fps: float | None = None,
    protocol: str | None = None,
    seed: int | None = None,
    *,
    cycle: bool = False,
) -> NetworkSpec:
    """The libsim network; overrides (None = keep) apply to every flow (a payload list: see
    the module's doc)."""
    label = scenario.label

    def refuse(key: str, value: Any, problem: str) -> SeiInputError:
        shown = _toml_value(value)
        return SeiInputError(
            f"{label}: {key} = {shown}: {problem}", key=key, shown=shown, problem=problem
        )

    sizes: tuple[int, ...] | None = None
    if isinstance(payload_bytes, Sequence) and not isinstance(payload_bytes, str):
        sizes = _sizes(label, payload_bytes, refuse)
        payload_bytes = None
    elif payload_bytes is not None:
        payload_bytes = _with_label(label, parse_bytes, payload_bytes, "payload_bytes")
        if not limits.PAYLOAD_BYTES.admits(payload_bytes):
            raise refuse("payload_bytes", payload_bytes, limits.PAYLOAD_BYTES.describe())
    if frames is not None:
        if _not_int(frames):
            raise refuse("frames", frames, "expected an integer")
        if not limits.FRAMES.admits(frames):
            raise refuse("frames", frames, limits.FRAMES.describe())
        if sizes is not None and not cycle and frames != len(sizes):
            raise refuse("frames", frames, f"{len(sizes)} payload sizes are given: one per frame")
    if fps is not None:
        if _not_number(fps):
            raise refuse("fps", fps, "expected a number")
        if not limits.FPS.admits(fps):
            raise refuse("fps", fps, limits.FPS.describe())
    if protocol is not None and protocol not in PROTOCOLS:
        raise refuse("protocol", protocol, "must be one of " + ", ".join(PROTOCOLS))
    if seed is not None:
        if _not_int(seed):
            raise refuse("seed", seed, "expected an integer")
        if not limits.SEED.admits(seed):
            raise refuse("seed", seed, limits.SEED.describe())
    flows = []
    for index, flow in enumerate(scenario.flows):
        count = flow.frames if frames is None else int(frames)
        payload: int | tuple[int, ...] | None = flow.payload_bytes
        if sizes is not None and cycle:
            payload = tuple(sizes[f % len(sizes)] for f in range(count))
        elif sizes is not None:
            payload, count = sizes, len(sizes)
        elif payload_bytes is not None:
            payload = int(payload_bytes)
        elif isinstance(payload, tuple) and count != len(payload):
            raise refuse(
                "frames",
                count,
                f"flow[{index}].payload_bytes lists {len(payload)} sizes, one per frame",
            )
        if payload is None:
            raise SeiInputError(
                f"{label}: flow[{index}].payload_bytes: not set: the file gives no payload size "
                "and no override does",
                key="payload_bytes",
                problem="not set",
            )
        flows.append(
            FlowSpec(
                src=flow.src,
                dst=flow.dst,
                frames=count,
                fps=float(flow.fps if fps is None else fps),
                payload_bytes=payload,
            )
        )
    protocol = scenario.transport.protocol if protocol is None else protocol
    traffic = traffic_problem(
        [(flow.frames, flow.payload_bytes) for flow in flows], protocol, scenario.transport.mtu
    )
    if traffic is not None:
        index, problem = traffic
        raise SeiInputError(f"{label}: flow[{index}]: {problem}")
    return NetworkSpec(
        nodes=tuple(node.name for node in scenario.nodes),
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
                trace=None if link.trace is None else link.trace.data,
            )
            for link in scenario.links
        ),
        flows=tuple(flows),
        protocol=protocol,
        mtu=scenario.transport.mtu,
        seed=scenario.transport.seed if seed is None else int(seed),
        tcp=scenario.transport.tcp,
    )


def _sizes(label: str, values: Sequence[int | str], refuse: Any) -> tuple[int, ...]:
    """A payload list override: every size parsed (units allowed) and in range."""
    if not values:
        raise refuse("payload_bytes", list(values), "an empty list: give at least one size")
    sizes = []
    for position, value in enumerate(values):
        size = _with_label(label, parse_bytes, value, f"payload_bytes[{position}]")
        if not limits.PAYLOAD_BYTES.admits(size):
            raise refuse(
                "payload_bytes",
                list(values),
                f"size {position + 1} ({size}): {limits.PAYLOAD_BYTES.describe()}",
            )
        sizes.append(size)
    return tuple(sizes)
