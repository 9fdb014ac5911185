"""libsim's edges: argument validation, the raw C ABI, fuzzing, memory over many runs."""

from __future__ import annotations

import math
import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libsim._libsim_cffi import ffi, lib

from libsim import (
    BurstLoss,
    FlowSpec,
    LibsimError,
    LinkSpec,
    NetworkSpec,
    TcpConfig,
    simulate,
)


def two_nodes(**link) -> NetworkSpec:
    spec = {"bitrate_bps": 10e6, "delay_s": 0.001, **link}
    return NetworkSpec(
        nodes=("a", "b"),
        links=(LinkSpec(name="cable", kind="full_duplex", nodes=("a", "b"), **spec),),
        flows=(FlowSpec("a", "b", 1, 0, 5000),),
        protocol="udp",
    )


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (two_nodes(bitrate_bps=0.0), "link 'cable': bitrate = 0: must be > 0"),
        (two_nodes(bitrate_bps=-5.0), "bitrate = -5"),
        (two_nodes(bitrate_bps=math.nan), "bitrate = nan"),
        (two_nodes(loss=1.0), "link 'cable': loss = 1: must be in [0, 1)"),
        (two_nodes(loss=-0.1), "loss = -0.10000000000000001"),
        (two_nodes(delay_s=-1.0), "delay = -1"),
        (two_nodes(queue_packets=0), "queue_packets = 0"),
        (two_nodes(overhead_bytes=-1), "overhead_bytes = -1"),
        (two_nodes(burst=BurstLoss(1.5, 0.1, 0.5)), "burst.p_good_to_bad = 1.5"),
        (replace(two_nodes(), mtu=67), "mtu = 67: must be between 68 and 65535"),
        (replace(two_nodes(), protocol="sctp"), "protocol = 'sctp'"),
        (replace(two_nodes(), seed=-1), "seed = -1"),
        (replace(two_nodes(), tcp=TcpConfig(initial_window=0)), "tcp.initial_window = 0"),
        (replace(two_nodes(), tcp=TcpConfig(ack_delay=0.0)), "tcp.ack_delay = 0"),
        (replace(two_nodes(), tcp=TcpConfig(rwnd=0)), "tcp.rwnd = 0"),
        (replace(two_nodes(), nodes=("a", "b", "a")), "node 'a' is defined twice"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(net, message):
    with pytest.raises(LibsimError) as caught:
        simulate(net)
    assert message in str(caught.value)


def test_topology_errors_are_rejected():
    base = two_nodes()
    three = replace(base, nodes=("a", "b", "c"))
    cases = [
        (
            replace(three, links=(replace(base.links[0], nodes=("a", "b", "c")),)),
            "link 'cable': nodes: a duplex link needs exactly 2 nodes, got 3",
        ),
        (
            replace(base, links=(replace(base.links[0], nodes=("a", "x")),)),
            "link 'cable': nodes: unknown node 'x'",
        ),
        (replace(base, flows=(FlowSpec("a", "z", 1, 0, 10),)), "flow 'a->z': to: unknown node"),
        (
            replace(three, flows=(FlowSpec("a", "c", 1, 0, 10),)),
            "flow 'a->c': no route from node 'a' to node 'c'",
        ),
        (replace(base, flows=(FlowSpec("a", "a", 1, 0, 10),)), "from and to are the same node"),
        (replace(base, flows=(FlowSpec("a", "b", 1, 0, 0),)), "payload_bytes = 0"),
        (replace(base, flows=(FlowSpec("a", "b", -1, 0, 10),)), "frames = -1"),
        (replace(base, flows=(FlowSpec("a", "b", 1, -2.0, 10),)), "fps = -2"),
        (
            replace(base, flows=(FlowSpec("a", "b", 20_000_000, 0, 10),)),
            "frames = 20000000: must be between 1 and 10000000",
        ),
        (
            replace(base, flows=(FlowSpec("a", "b", 6_000_000, 0, 10),) * 2),
            "all flows together send 12000000 frames, more than 10000000",
        ),
        (
            # ceil(1e12 / 1472) = 679347827 datagrams per frame, 1000 frames
            replace(base, flows=(FlowSpec("a", "b", 1000, 0, 10**12),)),
            "flow 'a->b': frames x datagrams per frame = 679347827000: more than 100000000",
        ),
        (
            replace(base, links=(replace(base.links[0], kind="wireless", nodes=("a",)),)),
            "a wireless link needs between 2 and 1000 nodes, got 1",
        ),
        (replace(base, links=(replace(base.links[0], kind="fibre"),)), "kind = 'fibre'"),
    ]
    for net, message in cases:
        with pytest.raises(LibsimError) as caught:
            simulate(net)
        assert message in str(caught.value), str(caught.value)


def test_too_slow_a_link_is_an_error_not_a_hang():
    with pytest.raises(LibsimError, match="exceed"):
        simulate(replace(two_nodes(bitrate_bps=1e-3), flows=(FlowSpec("a", "b", 1, 0, 10**6),)))


def test_raw_c_abi_rejects_bad_handles_and_indices():
    err = ffi.new("char[]", 256)
    out = ffi.new("libsim_network **")
    assert lib.libsim_network_new(7, 1500, 1, ffi.NULL, out, err, 256) == lib.LIBSIM_ERR_ARGUMENT
    assert out[0] == ffi.NULL
    assert b"protocol = 7" in ffi.string(err)
    assert lib.libsim_add_node(ffi.NULL, ffi.NULL, err, 256) == lib.LIBSIM_ERR_ARGUMENT
    assert lib.libsim_run(ffi.NULL, ffi.NULL, err, 256) == lib.LIBSIM_ERR_ARGUMENT
    assert lib.libsim_network_new(lib.LIBSIM_UDP, 1500, 1, ffi.NULL, out, ffi.NULL, 0) == 0
    net = out[0]
    try:
        link = ffi.new("libsim_link_config *", {"kind": 0, "bitrate_bps": 1e6, "queue_packets": 5})
        nodes = ffi.new("int32_t[]", [0, 1])
        # Nodes 0 and 1 do not exist yet.
        assert lib.libsim_add_link(net, link, nodes, 2, err, 256) == lib.LIBSIM_ERR_ARGUMENT
        assert b"unknown node index 0" in ffi.string(err)
        for _ in range(2):
            assert lib.libsim_add_node(net, ffi.NULL, err, 256) == 0
        assert lib.libsim_add_link(net, link, ffi.NULL, 2, err, 256) == lib.LIBSIM_ERR_ARGUMENT
        assert lib.libsim_add_link(net, link, nodes, 2, err, 256) == 0
        flow = ffi.new(
            "libsim_flow_config *", {"src": 0, "dst": 1, "frames": 2, "payload_bytes": 9}
        )
        assert lib.libsim_add_flow(net, flow, err, 256) == 0
        result = ffi.new("libsim_result **")
        assert lib.libsim_run(net, result, err, 256) == 0
        try:
            stats = ffi.new("libsim_flow_stats *")
            assert lib.libsim_result_flow(result[0], 1, stats, err, 256) == 1
            assert lib.libsim_result_flow(result[0], -1, stats, err, 256) == 1
            assert lib.libsim_result_flow(result[0], 0, ffi.NULL, err, 256) == 1
            assert lib.libsim_result_flow(result[0], 0, stats, err, 256) == 0
            assert stats.frames == 2 and stats.packets_sent == 2
            # A short buffer truncates the message instead of overflowing.
            small = ffi.new("char[]", 8)
            assert lib.libsim_result_frames(result[0], 5, ffi.NULL, 0, small, 8) == 1
            assert len(ffi.string(small)) == 7
            assert lib.libsim_result_frames(result[0], 0, ffi.NULL, 0, err, 256) == 0
        finally:
            lib.libsim_result_free(result[0])
    finally:
        lib.libsim_network_free(net)
    lib.libsim_network_free(ffi.NULL)
    lib.libsim_result_free(ffi.NULL)


# --- fuzzing: random topologies and values must give a result or a LibsimError ---------

NAMES = [f"n{i}" for i in range(6)]
wild_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1.0, 1e-9, 1e15, 1e16]),
)


@st.composite
def random_networks(draw):
    # Half the networks are valid (they must simulate), half carry wild values anywhere.
    valid = draw(st.booleans())

    def pick(good, wild):
        return draw(good if valid else st.one_of(good, wild))

    count = draw(st.integers(2, 6))
    nodes = tuple(NAMES[:count])
    links = []
    for i in range(draw(st.integers(1 if valid else 0, 5))):
        kind = pick(st.sampled_from(["full_duplex", "half_duplex", "wireless"]), st.just("bogus"))
        size = 2 if kind != "wireless" else draw(st.integers(2, count))
        members = tuple(
            pick(
                st.permutations(nodes).map(lambda p, n=size: p[:n]),
                st.lists(st.sampled_from([*nodes, "ghost"]), max_size=4).map(tuple),
            )
        )
        burst = None
        if draw(st.booleans()):
            burst = BurstLoss(
                pick(st.floats(0, 1), st.floats(-0.5, 1.5)),
                pick(st.floats(0, 1), st.floats(-0.5, 1.5)),
                pick(st.floats(0, 1), wild_numbers),
            )
        links.append(
            LinkSpec(
                name=f"l{i}",
                kind=kind,
                nodes=members,
                bitrate_bps=pick(st.floats(1e5, 1e10), wild_numbers),
                delay_s=pick(st.floats(0, 0.1), wild_numbers),
                loss=pick(st.floats(0, 0.5), wild_numbers),
                overhead_bytes=pick(st.integers(0, 100), st.integers(-5, 100)),
                queue_packets=pick(st.integers(1, 50), st.integers(-1, 0)),
                burst=burst,
            )
        )
    flows = []
    for _ in range(draw(st.integers(0, 3))):
        src = draw(st.sampled_from(nodes))
        frames = pick(st.integers(0, 3), st.just(-1))
        payload = pick(st.integers(1, 30_000), st.integers(-1, 0))
        if draw(st.booleans()):  # one size per frame (a wild list may miscount them)
            count = max(frames, 0) if valid else draw(st.integers(0, 4))
            size = pick(st.integers(1, 30_000), st.integers(-1, 0))
            payload = tuple(
                draw(
                    st.lists(st.just(size) | st.integers(1, 30_000), min_size=count, max_size=count)
                )
            )
        flows.append(
            FlowSpec(
                src=src,
                dst=pick(st.sampled_from([n for n in nodes if n != src]), st.just("ghost")),
                frames=frames,
                fps=pick(st.floats(0, 100), st.sampled_from([-1.0, math.inf, math.nan])),
                payload_bytes=payload,
            )
        )
    tcp = TcpConfig(
        initial_window=pick(st.integers(1, 20), st.integers(-1, 0)),
        min_rto=pick(st.floats(0, 1), wild_numbers),
        delayed_ack=draw(st.booleans()),
        ack_delay=pick(st.floats(0.001, 0.5), wild_numbers),
        rwnd=pick(st.integers(1, 10**6), st.integers(-1, 0)),
        handshake=draw(st.booleans()),
    )
    return NetworkSpec(
        nodes=nodes,
        links=tuple(links),
        flows=tuple(flows),
        protocol=draw(st.sampled_from(["tcp", "udp"])),
        mtu=pick(st.integers(68, 9000), st.integers(-1, 100_000)),
        seed=draw(st.integers(0, 2**64 - 1)),
        tcp=tcp,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_networks())
def test_random_networks_never_crash(net):
    try:
        result = simulate(net)
    except LibsimError as exc:
        assert str(exc)
        return
    assert len(result.flows) == len(net.flows)
    for flow, spec in zip(result.flows, net.flows, strict=True):
        assert len(flow.frames) == spec.frames
        for index, frame in enumerate(flow.frames):
            assert 0 <= frame.lost_bytes <= spec.frame_bytes(index)
            assert sum(b - a for a, b in frame.lost_ranges) == frame.lost_bytes
            if frame.latency_s is not None:
                assert frame.latency_s >= 0


# --- memory: many runs in one process --------------------------------------------------


def resident_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_thousand_runs_keep_memory_flat():
    cams = ("c0", "c1")
    net = NetworkSpec(
        nodes=(*cams, "ap", "srv"),
        links=(
            LinkSpec("wifi", "wireless", (*cams, "ap"), 54e6, 1e-6, loss=0.01),
            LinkSpec("lan", "full_duplex", ("ap", "srv"), 1e9, 1e-4),
        ),
        flows=tuple(FlowSpec(c, "srv", 2, 30, 20_000) for c in cams),
        protocol="tcp",
    )
    first = simulate(net)
    for _ in range(100):
        simulate(net)
    warm = resident_bytes()
    for _ in range(900):
        last = simulate(net)
    grown = resident_bytes() - warm
    assert grown < 2 * 1024 * 1024, f"resident memory grew by {grown} bytes over 900 runs"
    assert replace(last, wall_s=0.0) == replace(first, wall_s=0.0)


ints = st.one_of(st.integers(-3, 8), st.integers(-(2**31), 2**31 - 1))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1e9))


@settings(max_examples=200, deadline=None)
@given(
    protocol=ints,
    mtu=st.one_of(st.integers(60, 2000), ints),
    nodes=st.integers(0, 5),
    links=st.lists(
        st.tuples(ints, floats, floats, floats, ints, ints, st.lists(ints, max_size=5)),
        max_size=4,
    ),
    flows=st.lists(st.tuples(ints, ints, st.integers(-1, 3), floats, ints), max_size=3),
)
def test_raw_c_abi_survives_random_arguments(protocol, mtu, nodes, links, flows):
    """Straight into the C API, below the binding's own checks: statuses, never a crash."""
    err = ffi.new("char[]", 128)
    out = ffi.new("libsim_network **")
    if lib.libsim_network_new(protocol, mtu, 3, ffi.NULL, out, err, 128) != lib.LIBSIM_OK:
        assert out[0] == ffi.NULL and ffi.string(err)
        return
    net = out[0]
    try:
        for _ in range(nodes):
            assert lib.libsim_add_node(net, ffi.NULL, err, 128) == lib.LIBSIM_OK
        for kind, bitrate, delay, loss, overhead, queue, members in links:
            config = ffi.new(
                "libsim_link_config *",
                {
                    "kind": kind,
                    "bitrate_bps": bitrate,
                    "delay_s": delay,
                    "loss": loss,
                    "overhead_bytes": overhead,
                    "queue_packets": queue,
                },
            )
            array = ffi.new("int32_t[]", members or [0])
            status = lib.libsim_add_link(net, config, array, len(members), err, 128)
            assert status in (lib.LIBSIM_OK, lib.LIBSIM_ERR_ARGUMENT)
        for src, dst, frames, fps, payload in flows:
            config = ffi.new(
                "libsim_flow_config *",
                {
                    "src": src,
                    "dst": dst,
                    "frames": frames,
                    "fps": fps,
                    "payload_bytes": payload % 20_000,
                },
            )
            status = lib.libsim_add_flow(net, config, err, 128)
            assert status in (lib.LIBSIM_OK, lib.LIBSIM_ERR_ARGUMENT)
        result = ffi.new("libsim_result **")
        status = lib.libsim_run(net, result, err, 128)
        assert status in (lib.LIBSIM_OK, lib.LIBSIM_ERR_ARGUMENT, lib.LIBSIM_ERR_RUNTIME)
        if status == lib.LIBSIM_OK:
            stats = ffi.new("libsim_run_stats *")
            assert lib.libsim_result_stats(result[0], stats, err, 128) == lib.LIBSIM_OK
            records = ffi.new("libsim_frame_record[]", 8)
            for flow in range(-1, stats.flows + 1):
                ok = 0 <= flow < stats.flows
                status = lib.libsim_result_frames(result[0], flow, records, 8, err, 128)
                assert (status == lib.LIBSIM_OK) == ok
            lib.libsim_result_free(result[0])
        else:
            assert result[0] == ffi.NULL and ffi.string(err)
    finally:
        lib.libsim_network_free(net)
