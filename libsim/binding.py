"""Python face of the native simulator: NetworkSpec in, SimResult out.

Calls into the engine are serialised by a lock (SystemC state is process-wide and cffi
releases the GIL). Parallel sweeps run in worker processes started by a fork server (a
clean single-threaded process), never forked from the caller, which may run torch or
Textual threads; each worker runs many simulations one after the other.
"""

from __future__ import annotations

import math
import multiprocessing
import operator
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from libsim import native
from libsim.errors import (
    LibsimError,
    LibsimInputError,
    LibsimInternalError,
    LibsimInterrupted,
    error_for_status,
)
from libsim.spec import (
    ESTIMATORS,
    FLOW_IO_FIELDS,
    LINK_KINDS,
    PROTOCOLS,
    RECOVERY_EXITS,
    RTO_SSTHRESHES,
    FlowIO,
    FlowResult,
    FlowSpec,
    FlowSummary,
    FrameResult,
    NetworkSpec,
    OpportunityTrace,
    RateTrace,
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


__all__ = [
    "LibsimError",
    "LibsimInputError",
    "LibsimInternalError",
    "LibsimInterrupted",
    "check_network",
    "interrupt",
    "percentile",
    "prepare_workers",
    "simulate",
    "simulate_many",
    "summarize",
]


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


def summarize(
    frames: Sequence[FrameResult], payload_bytes: int | Sequence[int], **counters: int
) -> FlowSummary:
    """Latency statistics over the frames that arrived (at least partly), and goodput.

    Goodput = payload bytes that arrived, in bits, over the time from the first frame's
    `sent_s` to the last delivery. `payload_bytes`: every frame's size, or one per frame.
    """
    latencies = sorted(f.latency_s for f in frames if f.latency_s is not None)
    delivered = [(k, f) for k, f in enumerate(frames) if f.delivered_s is not None]
    goodput = 0.0
    if delivered:
        span = max(f.delivered_s for _, f in delivered) - min(f.sent_s for f in frames)
        if isinstance(payload_bytes, int):
            useful = sum(payload_bytes - f.lost_bytes for _, f in delivered)
        else:
            useful = sum(payload_bytes[k] - f.lost_bytes for k, f in delivered)
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
        self.ffi, self.lib = native.load()
        self.err = self.ffi.new("char[]", _ERROR_BUFFER_BYTES)
        self.net = None
        self.result = None

    def check(self, status: int, net: NetworkSpec | None = None) -> None:
        if status != self.lib.LIBSIM_OK:
            message = self.ffi.string(self.err).decode("utf-8", "replace")
            if net is not None:
                message = _rename(message, net)
            raise error_for_status(self.lib, status, message)

    def refuse(self, message: str) -> LibsimInputError:
        """An invalid description found here, before C saw it."""
        return LibsimInputError(message, self.lib.LIBSIM_ERR_ARGUMENT)

    def close(self) -> None:
        if self.result is not None:
            self.lib.libsim_result_free(self.result)
            self.result = None
        if self.net is not None:
            self.lib.libsim_network_free(self.net)
            self.net = None


def _fill(
    handle: _Native, struct: Any, where: str, convert: Callable[[Any], Any], **values: Any
) -> None:
    """Set C struct fields (through `convert`, int or float); a value a field cannot hold is
    bad input, not a crash."""
    for field, value in values.items():
        try:
            setattr(struct, field, convert(value))
        except (OverflowError, TypeError, ValueError) as exc:
            raise handle.refuse(f"{where}{field} = {value!r}: not representable ({exc})") from None


def _build(handle: _Native, net: NetworkSpec) -> dict[str, int]:
    ffi, lib, err = handle.ffi, handle.lib, handle.err
    if net.protocol not in PROTOCOLS:
        raise handle.refuse(f"protocol = {net.protocol!r}: must be one of {', '.join(PROTOCOLS)}")
    if not isinstance(net.seed, int) or not 0 <= net.seed < 2**64:
        raise handle.refuse(f"seed = {net.seed!r}: must be an integer in [0, 2^64)")
    if not isinstance(net.mtu, int) or not -(2**31) <= net.mtu < 2**31:
        raise handle.refuse(f"mtu = {net.mtu!r}: must be a 32-bit integer")
    for name, choices in (
        ("recovery_exit", RECOVERY_EXITS),
        ("rto_ssthresh", RTO_SSTHRESHES),
    ):
        value = getattr(net.tcp, name)
        if not isinstance(value, str) or value not in choices:
            raise handle.refuse(f"tcp.{name} = {value!r}: must be one of {', '.join(choices)}")
    tcp = ffi.new("libsim_tcp_config *")
    _fill(
        handle,
        tcp,
        "tcp.",
        int,
        initial_window=net.tcp.initial_window,
        delayed_ack=1 if net.tcp.delayed_ack else 0,
        rwnd=net.tcp.rwnd,
        handshake=1 if net.tcp.handshake else 0,
        idle_restart=1 if net.tcp.idle_restart else 0,
        recovery_exit={
            "ssthresh": lib.LIBSIM_RECOVERY_EXIT_SSTHRESH,
            "flightsize": lib.LIBSIM_RECOVERY_EXIT_FLIGHTSIZE,
        }[net.tcp.recovery_exit],
        rto_ssthresh={
            "flightsize": lib.LIBSIM_RTO_SSTHRESH_FLIGHTSIZE,
            "keep": lib.LIBSIM_RTO_SSTHRESH_KEEP,
        }[net.tcp.rto_ssthresh],
    )
    _fill(handle, tcp, "tcp.", float, min_rto=net.tcp.min_rto, ack_delay=net.tcp.ack_delay)
    protocol = lib.LIBSIM_TCP if net.protocol == "tcp" else lib.LIBSIM_UDP
    out = ffi.new("libsim_network **")
    handle.check(lib.libsim_network_new(protocol, net.mtu, net.seed, tcp, out, err, len(err)))
    handle.net = out[0]
    index: dict[str, int] = {}
    slot = ffi.new("int32_t *")
    for name in net.nodes:
        if name in index:
            raise handle.refuse(f"node {name!r} is defined twice")
        handle.check(lib.libsim_add_node(handle.net, slot, err, len(err)))
        index[name] = slot[0]
    for position, link in enumerate(net.links):
        where = f"link {link.name!r}: "
        if link.kind not in LINK_KINDS:
            raise handle.refuse(
                f"{where}kind = {link.kind!r}: must be one of {', '.join(LINK_KINDS)}"
            )
        for node in link.nodes:
            if node not in index:
                raise handle.refuse(f"{where}nodes: unknown node {node!r}")
        config = ffi.new("libsim_link_config *")
        config.kind = LINK_KINDS.index(link.kind)
        _fill(
            handle,
            config,
            where,
            float,
            bitrate_bps=link.bitrate_bps,
            delay_s=link.delay_s,
            loss=link.loss,
        )
        _fill(
            handle,
            config,
            where,
            int,
            overhead_bytes=link.overhead_bytes,
            queue_packets=link.queue_packets,
        )
        if link.burst is not None:
            config.has_burst = 1
            _fill(
                handle,
                config,
                f"{where}burst.",
                float,
                p_good_to_bad=link.burst.p_good_to_bad,
                p_bad_to_good=link.burst.p_bad_to_good,
                loss_bad=link.burst.loss_bad,
                loss_good=link.burst.loss_good,
            )
        nodes = ffi.new("int32_t[]", [index[n] for n in link.nodes])
        handle.check(
            lib.libsim_add_link(handle.net, config, nodes, len(link.nodes), err, len(err)),
            net,
        )
        if link.trace is not None:
            _set_trace(handle, net, position, link)
    for flow in net.flows:
        where = f"flow {flow.src + '->' + flow.dst!r}: "
        for role, node in (("from", flow.src), ("to", flow.dst)):
            if node not in index:
                raise handle.refuse(f"{where}{role}: unknown node {node!r}")
        config = ffi.new("libsim_flow_config *")
        config.src = index[flow.src]
        config.dst = index[flow.dst]
        _fill(handle, config, where, float, fps=flow.fps)
        sizes = flow.payload_sizes
        if sizes is None:
            _fill(handle, config, where, int, frames=flow.frames, payload_bytes=flow.payload_bytes)
            handle.check(lib.libsim_add_flow(handle.net, config, err, len(err)), net)
            continue
        _fill(handle, config, where, int, frames=flow.frames)
        config.payload_bytes = 0
        array = _int64_array(handle, sizes, where)
        handle.check(
            lib.libsim_add_flow_sizes(handle.net, config, array, len(sizes), err, len(err)), net
        )
    for position, flow in enumerate(net.flows):
        if flow.policy is not None:
            _set_policy(handle, net, position, flow)
    return index


def _int64_array(handle: _Native, sizes: Sequence[Any], where: str) -> Any:
    """A C int64_t array of per-frame payload sizes; a value C cannot hold is refused."""
    array = handle.ffi.new("int64_t[]", max(len(sizes), 1))
    for i, size in enumerate(sizes):
        try:
            if isinstance(size, bool):
                raise TypeError("a boolean")
            array[i] = operator.index(size)
        except (OverflowError, TypeError) as exc:
            raise handle.refuse(
                f"{where}payload_bytes[{i}] = {size!r}: not representable ({exc})"
            ) from None
    return array


def _set_policy(handle: _Native, net: NetworkSpec, position: int, flow: FlowSpec) -> None:
    ffi, lib, err = handle.ffi, handle.lib, handle.err
    policy = flow.policy
    assert policy is not None
    where = f"flow {flow.src + '->' + flow.dst!r}: policy: "
    if policy.estimator not in ESTIMATORS:
        raise handle.refuse(
            f"{where}estimator = {policy.estimator!r}: must be one of {', '.join(ESTIMATORS)}"
        )
    config = ffi.new("libsim_policy_config *")
    config.estimator = ESTIMATORS.index(policy.estimator)
    _fill(handle, config, where, float, alpha=policy.alpha, margin=policy.margin)
    _fill(handle, config, where, float, prior_bps=policy.prior_bps)
    _fill(handle, config, where, float, base_delay_s=policy.base_delay_s)
    _fill(handle, config, where, int, window=policy.window, hold_frames=policy.hold_frames)
    candidates = ffi.new("libsim_candidate[]", max(len(policy.candidates), 1))
    keep = []  # the per-frame arrays live until the call returns
    for c, candidate in enumerate(policy.candidates):
        here = f"{where}candidate {c}: "
        _fill(handle, candidates[c], here, float, fixed_s=candidate.fixed_s)
        sizes = candidate.payload_bytes
        if not isinstance(sizes, tuple):
            _fill(handle, candidates[c], here, int, payload_bytes=sizes)
            continue
        if len(sizes) != flow.frames:
            raise handle.refuse(
                f"{here}{len(sizes)} payload sizes: must be one per frame ({flow.frames})"
            )
        array = _int64_array(handle, sizes, here)
        keep.append(array)
        candidates[c].payload_bytes = 0
        candidates[c].payload_sizes = array
    handle.check(
        lib.libsim_set_flow_policy(
            handle.net, position, config, candidates, len(policy.candidates), err, len(err)
        ),
        net,
    )


def _set_trace(handle: _Native, net: NetworkSpec, position: int, link: Any) -> None:
    """Attach `link.trace` to the link just added (at `position`)."""
    ffi, lib, err = handle.ffi, handle.lib, handle.err
    trace = link.trace
    where = f"link {link.name!r}: trace: "
    try:
        if isinstance(trace, RateTrace):
            rows = len(trace.times_s)
            columns = [trace.loss, trace.delay_s]
            for name, column in (("loss", trace.loss), ("delay_s", trace.delay_s)):
                if column is not None and len(column) != rows:
                    raise handle.refuse(f"{where}{name} has {len(column)} rows, not {rows}")
            times = ffi.new("double[]", [float(t) for t in trace.times_s] or [0.0])
            rates = ffi.new("double[]", [float(r) for r in trace.bitrate_bps] or [0.0])
            if len(trace.bitrate_bps) != rows:
                raise handle.refuse(f"{where}bitrate_bps has {len(trace.bitrate_bps)} rows")
            loss, delay = (
                ffi.NULL if c is None else ffi.new("double[]", [float(v) for v in c])
                for c in columns
            )
            status = lib.libsim_set_link_rate_trace(
                handle.net, position, times, rates, loss, delay, rows,
                float(trace.duration_s), 1 if trace.loop else 0, float(trace.start_s),
                err, len(err),
            )  # fmt: skip
        elif isinstance(trace, OpportunityTrace):
            times_ms = ffi.new("int64_t[]", [operator.index(t) for t in trace.times_ms] or [0])
            status = lib.libsim_set_link_opportunities(
                handle.net, position, times_ms, len(trace.times_ms),
                1 if trace.loop else 0, float(trace.start_s), err, len(err),
            )  # fmt: skip
        else:
            raise handle.refuse(f"{where}{type(trace).__name__}: not a libsim trace")
    except (OverflowError, TypeError, ValueError) as exc:
        raise handle.refuse(f"{where}not representable ({exc})") from None
    handle.check(status, net)


def _read(handle: _Native, net: NetworkSpec, wall_s: float) -> SimResult:
    ffi, lib, err = handle.ffi, handle.lib, handle.err
    stats = ffi.new("libsim_run_stats *")
    handle.check(lib.libsim_result_stats(handle.result, stats, err, len(err)))
    flows = []
    flow_stats = ffi.new("libsim_flow_stats *")
    for i, spec in enumerate(net.flows):
        handle.check(lib.libsim_result_flow(handle.result, i, flow_stats, err, len(err)))
        n_frames = flow_stats.frames
        records = ffi.new("libsim_frame_record[]", max(n_frames, 1))
        handle.check(lib.libsim_result_frames(handle.result, i, records, n_frames, err, len(err)))
        n_ranges = flow_stats.lost_ranges
        ranges = ffi.new("libsim_byte_range[]", max(n_ranges, 1))
        handle.check(
            lib.libsim_result_lost_ranges(handle.result, i, ranges, n_ranges, err, len(err))
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
        choices = None
        payload: int | tuple[int, ...] = spec.payload_bytes  # an int, or one size per frame
        if spec.policy is not None:
            chosen = ffi.new("int32_t[]", max(n_frames, 1))
            handle.check(
                lib.libsim_result_choices(handle.result, i, chosen, n_frames, err, len(err))
            )
            choices = tuple(chosen[k] for k in range(n_frames))
            payload = tuple(spec.policy.candidates[c].frame_bytes(k) for k, c in enumerate(choices))
        summary = summarize(
            frames,
            payload,
            packets_sent=flow_stats.packets_sent,
            packets_lost=flow_stats.packets_lost,
            retransmissions=flow_stats.retransmissions,
            collisions=flow_stats.collisions,
        )
        flow_io = ffi.new("libsim_flow_io *")
        handle.check(lib.libsim_result_flow_io(handle.result, i, flow_io, err, len(err)))
        io = FlowIO(**{name: getattr(flow_io, name) for name in FLOW_IO_FIELDS})
        flows.append(
            FlowResult(
                src=spec.src,
                dst=spec.dst,
                frames=tuple(frames),
                summary=summary,
                choices=choices,
                io=io,
            )
        )
    return SimResult(
        flows=tuple(flows), events=stats.events, wall_s=wall_s, link_packets=stats.link_packets
    )


def interrupt() -> None:
    """Stop the simulation running in this process, if any (from any thread): its
    `simulate` call raises LibsimInterrupted. Later calls are not affected."""
    _, lib = native.load()
    lib.libsim_interrupt()


def check_network(net: NetworkSpec) -> None:
    """Build `net` in the simulator without running it: LibsimInputError names what the C
    API refuses (every limit of libsim.h except routing size, checked when a run starts)."""
    handle = _Native()
    with _LOCK:
        try:
            _build(handle, net)
        finally:
            handle.close()


def simulate(net: NetworkSpec) -> SimResult:
    """Run one simulation of `net`. Raises LibsimInputError for an invalid network,
    LibsimInterrupted after `interrupt()`, LibsimInternalError when the engine fails."""
    handle = _Native()
    with _LOCK:
        try:
            _build(handle, net)
            out = handle.ffi.new("libsim_result **")
            started = time.perf_counter()
            status = handle.lib.libsim_run(handle.net, out, handle.err, len(handle.err))
            wall_s = time.perf_counter() - started
            handle.check(status, net)
            handle.result = out[0]
            return _read(handle, net, wall_s)
        finally:
            handle.close()


def _worker_run(task: tuple[int, NetworkSpec]) -> tuple[int, SimResult]:
    index, net = task
    return index, simulate(net)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server: a fresh single-threaded process that imported only
    libsim, so no worker inherits the caller's threads (torch, Textual) or their locks."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["libsim.binding"])
    return context


_SERVERS_LOCK = threading.Lock()


def prepare_workers() -> None:
    """Start the fork server now (it boots in the background, about 0.1 s), so that the first
    `simulate_many` does not wait for it; optional, idempotent.

    multiprocessing hands its servers `sys.stderr`'s descriptor; a host that replaced
    sys.stderr with an object without one (Textual's capture says -1) would make the start
    fail ("bad value(s) in fds_to_keep"), so the servers are started with the process's real
    stderr in that case."""
    from multiprocessing import forkserver

    _pool_context()
    with _SERVERS_LOCK:
        replaced = sys.stderr
        if not _has_descriptor(replaced):
            sys.stderr = sys.__stderr__
        try:
            forkserver.ensure_running()
        finally:
            sys.stderr = replaced


def _has_descriptor(stream: Any) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def simulate_many(
    nets: Sequence[NetworkSpec],
    processes: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, SimResult]]:
    """Simulate many networks in a pool of worker processes; yields (index, result) as they
    complete, in any order. Stops early (workers terminated) once `cancel()` returns True.
    A LibsimError of any network is raised here (same class, message and status).
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
    prepare_workers()
    with _pool_context().Pool(workers) as pool:
        results = pool.imap_unordered(_worker_run, enumerate(nets))
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
