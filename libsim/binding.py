"""Python face of the native simulator: NetworkSpec in, SimResult out.

Calls into the engine are serialised by a lock (SystemC state is process-wide and cffi
releases the GIL). Parallel sweeps run in forked worker processes, each running many
simulations one after the other.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    FlowResult,
    FlowSummary,
    FrameResult,
    NetworkSpec,
    SimResult,
)

_ERROR_BUFFER_BYTES = 512
_CANCEL_POLL_S = 0.05
_LOCK = threading.Lock()


def _fresh_lock_in_child() -> None:
    # A fork taken while another thread held the lock must not inherit it locked.
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


class LibsimError(ValueError):
    """The network description was rejected, or the simulation could not complete."""


def _native():
    try:
        from libsim._libsim_cffi import ffi, lib
    except ImportError as exc:  # the extension is built by `pip install -e .` / `make setup`
        raise LibsimError(
            f"the native simulator is not built (run `make setup` or `pip install -e .`): {exc}"
        ) from exc
    return ffi, lib


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of the values <= it.

    `sorted_values` must be sorted ascending and non-empty; 0 < p <= 100.
    Example: [1, 2, 3, 4] -> p50 = 2, p95 = 4.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 < p <= 100.0:
        raise ValueError(f"percentile p = {p}: must be in (0, 100]")
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def summarize(frames: Sequence[FrameResult], payload_bytes: int, **counters: int) -> FlowSummary:
    """Latency statistics over the frames that arrived (at least partly), and goodput.

    Goodput = payload bytes that arrived, in bits, over the time from the first frame's
    `sent_s` to the last delivery.
    """
    latencies = sorted(f.latency_s for f in frames if f.latency_s is not None)
    delivered = [f for f in frames if f.delivered_s is not None]
    goodput = 0.0
    if delivered:
        span = max(f.delivered_s for f in delivered) - min(f.sent_s for f in frames)
        useful = sum(payload_bytes - f.lost_bytes for f in delivered)
        goodput = 8.0 * useful / span if span > 0 else 0.0
    return FlowSummary(
        frames=len(frames),
        complete=sum(1 for f in frames if f.complete),
        mean_s=sum(latencies) / len(latencies) if latencies else None,
        p50_s=percentile(latencies, 50) if latencies else None,
        p95_s=percentile(latencies, 95) if latencies else None,
        p99_s=percentile(latencies, 99) if latencies else None,
        max_s=latencies[-1] if latencies else None,
        goodput_bps=goodput,
        **counters,
    )


def _rename(message: str, net: NetworkSpec) -> str:
    """The engine names nodes, links and flows by index; the caller knows their names."""
    names = {
        "node": list(net.nodes),
        "link": [link.name for link in net.links],
        "flow": [f"{flow.src}->{flow.dst}" for flow in net.flows],
    }

    def by_name(match: re.Match[str]) -> str:
        kind, index = match.group(1), int(match.group(2))
        known = names[kind]
        return f"{kind} {known[index]!r}" if index < len(known) else match.group(0)

    return re.sub(r"\b(node|link|flow) (\d+)\b", by_name, message)


class _Native:
    """One network handle plus the error buffer, freed on exit."""

    def __init__(self) -> None:
        self.ffi, self.lib = _native()
        self.err = self.ffi.new("char[]", _ERROR_BUFFER_BYTES)
        self.net = None
        self.result = None

    def check(self, status: int, net: NetworkSpec | None = None) -> None:
        if status != self.lib.LIBSIM_OK:
            message = self.ffi.string(self.err).decode("utf-8", "replace")
            if net is not None:
                message = _rename(message, net)
            raise LibsimError(message or f"libsim failed with status {status}")

    def close(self) -> None:
        if self.result is not None:
            self.lib.libsim_result_free(self.result)
            self.result = None
        if self.net is not None:
            self.lib.libsim_network_free(self.net)
            self.net = None


def _build(native: _Native, net: NetworkSpec) -> dict[str, int]:
    ffi, lib, err = native.ffi, native.lib, native.err
    if net.protocol not in PROTOCOLS:
        raise LibsimError(f"protocol = {net.protocol!r}: must be one of {', '.join(PROTOCOLS)}")
    if not isinstance(net.seed, int) or not 0 <= net.seed < 2**64:
        raise LibsimError(f"seed = {net.seed!r}: must be an integer in [0, 2^64)")
    tcp = ffi.new("libsim_tcp_config *")
    tcp.initial_window = int(net.tcp.initial_window)
    tcp.min_rto = float(net.tcp.min_rto)
    tcp.delayed_ack = 1 if net.tcp.delayed_ack else 0
    tcp.ack_delay = float(net.tcp.ack_delay)
    tcp.rwnd = int(net.tcp.rwnd)
    tcp.handshake = 1 if net.tcp.handshake else 0
    tcp.idle_restart = 1 if net.tcp.idle_restart else 0
    protocol = lib.LIBSIM_TCP if net.protocol == "tcp" else lib.LIBSIM_UDP
    out = ffi.new("libsim_network **")
    native.check(lib.libsim_network_new(protocol, int(net.mtu), net.seed, tcp, out, err, len(err)))
    native.net = out[0]
    index: dict[str, int] = {}
    slot = ffi.new("int32_t *")
    for name in net.nodes:
        if name in index:
            raise LibsimError(f"node {name!r} is defined twice")
        native.check(lib.libsim_add_node(native.net, slot, err, len(err)))
        index[name] = slot[0]
    for link in net.links:
        if link.kind not in LINK_KINDS:
            raise LibsimError(
                f"link {link.name!r}: kind = {link.kind!r}: must be one of {', '.join(LINK_KINDS)}"
            )
        for node in link.nodes:
            if node not in index:
                raise LibsimError(f"link {link.name!r}: nodes: unknown node {node!r}")
        config = ffi.new("libsim_link_config *")
        config.kind = LINK_KINDS.index(link.kind)
        config.bitrate_bps = float(link.bitrate_bps)
        config.delay_s = float(link.delay_s)
        config.loss = float(link.loss)
        config.overhead_bytes = int(link.overhead_bytes)
        config.queue_packets = int(link.queue_packets)
        if link.burst is not None:
            config.has_burst = 1
            config.p_good_to_bad = float(link.burst.p_good_to_bad)
            config.p_bad_to_good = float(link.burst.p_bad_to_good)
            config.loss_bad = float(link.burst.loss_bad)
            config.loss_good = float(link.burst.loss_good)
        nodes = ffi.new("int32_t[]", [index[n] for n in link.nodes])
        native.check(
            lib.libsim_add_link(native.net, config, nodes, len(link.nodes), err, len(err)),
            net,
        )
    for flow in net.flows:
        name = f"{flow.src}->{flow.dst}"
        for role, node in (("from", flow.src), ("to", flow.dst)):
            if node not in index:
                raise LibsimError(f"flow {name!r}: {role}: unknown node {node!r}")
        config = ffi.new("libsim_flow_config *")
        config.src = index[flow.src]
        config.dst = index[flow.dst]
        config.frames = int(flow.frames)
        config.fps = float(flow.fps)
        config.payload_bytes = int(flow.payload_bytes)
        native.check(lib.libsim_add_flow(native.net, config, err, len(err)), net)
    return index


def _read(native: _Native, net: NetworkSpec, wall_s: float) -> SimResult:
    ffi, lib, err = native.ffi, native.lib, native.err
    stats = ffi.new("libsim_run_stats *")
    native.check(lib.libsim_result_stats(native.result, stats, err, len(err)))
    flows = []
    flow_stats = ffi.new("libsim_flow_stats *")
    for i, spec in enumerate(net.flows):
        native.check(lib.libsim_result_flow(native.result, i, flow_stats, err, len(err)))
        n_frames = flow_stats.frames
        records = ffi.new("libsim_frame_record[]", max(n_frames, 1))
        native.check(lib.libsim_result_frames(native.result, i, records, n_frames, err, len(err)))
        n_ranges = flow_stats.lost_ranges
        ranges = ffi.new("libsim_byte_range[]", max(n_ranges, 1))
        native.check(
            lib.libsim_result_lost_ranges(native.result, i, ranges, n_ranges, err, len(err))
        )
        frames = []
        next_range = 0
        for k in range(n_frames):
            r = records[k]
            lost = tuple(
                (ranges[j].start, ranges[j].end)
                for j in range(next_range, next_range + r.lost_range_count)
            )
            next_range += r.lost_range_count
            delivered = r.delivered_s if r.delivered else None
            frames.append(
                FrameResult(
                    index=k,
                    sent_s=r.sent_s,
                    delivered_s=delivered,
                    latency_s=r.latency_s if delivered is not None else None,
                    complete=bool(r.complete),
                    lost_bytes=r.lost_bytes,
                    lost_ranges=lost,
                )
            )
        summary = summarize(
            frames,
            spec.payload_bytes,
            packets_sent=flow_stats.packets_sent,
            packets_lost=flow_stats.packets_lost,
            retransmissions=flow_stats.retransmissions,
            collisions=flow_stats.collisions,
        )
        flows.append(FlowResult(src=spec.src, dst=spec.dst, frames=tuple(frames), summary=summary))
    return SimResult(
        flows=tuple(flows), events=stats.events, wall_s=wall_s, link_packets=stats.link_packets
    )


def interrupt() -> None:
    """Stop the simulation running in this process, if any (from any thread): its
    `simulate` call raises LibsimError("interrupted"). Later calls are not affected."""
    _, lib = _native()
    lib.libsim_interrupt()


def simulate(net: NetworkSpec) -> SimResult:
    """Run one simulation of `net`. Raises LibsimError for an invalid network."""
    native = _Native()
    with _LOCK:
        try:
            _build(native, net)
            out = native.ffi.new("libsim_result **")
            started = time.perf_counter()
            status = native.lib.libsim_run(native.net, out, native.err, len(native.err))
            wall_s = time.perf_counter() - started
            native.check(status, net)
            native.result = out[0]
            return _read(native, net, wall_s)
        finally:
            native.close()


_WORKER_NETS: Sequence[NetworkSpec] = ()


def _worker_init(nets: Sequence[NetworkSpec]) -> None:
    global _WORKER_NETS
    _WORKER_NETS = nets  # inherited through fork, never pickled


def _worker_run(index: int) -> tuple[int, SimResult]:
    return index, simulate(_WORKER_NETS[index])


def simulate_many(
    nets: Sequence[NetworkSpec],
    processes: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, SimResult]]:
    """Simulate many networks in a pool of forked workers; yields (index, result) as they
    complete, in any order. Stops early (workers terminated) once `cancel()` returns True.
    A LibsimError of any network is raised here.
    """
    nets = list(nets)
    if not nets:
        return
    workers = min(processes or os.cpu_count() or 1, len(nets))
    if workers <= 1:
        for i, net in enumerate(nets):
            if cancel is not None and cancel():
                return
            yield i, simulate(net)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_worker_init, initargs=(nets,)) as pool:
        results = pool.imap_unordered(_worker_run, range(len(nets)))
        remaining = len(nets)
        while remaining:
            if cancel is not None and cancel():
                pool.terminate()
                return
            try:
                # Wake up now and then to look at `cancel` while the workers run.
                index, result = results.next(timeout=_CANCEL_POLL_S)
            except multiprocessing.TimeoutError:
                continue
            remaining -= 1
            yield index, result
