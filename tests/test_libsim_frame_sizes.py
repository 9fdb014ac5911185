"""Flows whose frames differ in size (libsim_add_flow_sizes, FlowSpec.payload_bytes as a
sequence), and the delayed-ACK default, against numbers worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest
from libsim._libsim_cffi import ffi, lib

from libsim import (
    FlowSpec,
    LibsimError,
    LinkSpec,
    NetworkSpec,
    TcpConfig,
    check_network,
    simulate,
    simulate_many,
)

OVERHEAD = 38  # LinkSpec's default link-layer bytes per packet
NS = 1e-9


def wire(ip_bytes: int, bitrate: float) -> float:
    return (ip_bytes + OVERHEAD) * 8 / bitrate


def cable(flows, protocol, bitrate=10e6, delay=0.005, loss=0.0, seed=1, tcp=None):
    return NetworkSpec(
        nodes=("a", "b"),
        links=(LinkSpec("l", "full_duplex", ("a", "b"), bitrate, delay, loss=loss),),
        flows=tuple(flows),
        protocol=protocol,
        seed=seed,
        tcp=tcp or TcpConfig(),
    )


def wifi_pair(flows, protocol, loss=0.0):
    return NetworkSpec(
        nodes=("cam", "ap", "srv"),
        links=(
            LinkSpec("air", "wireless", ("cam", "ap"), 54e6, 1e-6, loss=loss, overhead_bytes=36),
            LinkSpec("eth", "full_duplex", ("ap", "srv"), 1e9, 0.002),
        ),
        flows=tuple(flows),
        protocol=protocol,
    )


def without_wall(result):
    return replace(result, wall_s=0.0)


# --- equal sizes: the one-size run, bit for bit -----------------------------------------


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
@pytest.mark.parametrize("medium", ["cable", "wifi"])
def test_equal_sizes_give_the_one_size_run_bit_for_bit(protocol, medium):
    def build(payload, frames):
        if medium == "cable":
            return cable([FlowSpec("a", "b", frames, 20, payload)], protocol, loss=0.03, seed=7)
        return wifi_pair([FlowSpec("cam", "srv", frames, 20, payload)], protocol, loss=0.02)

    scalar = simulate(build(7000, 6))
    sized = simulate(build([7000] * 6, None))
    summary = scalar.flows[0].summary
    assert summary.packets_sent > 6  # several packets per frame
    if medium == "cable":
        assert summary.packets_lost > 0  # the comparison covers losses too
    assert without_wall(sized) == without_wall(scalar)


# --- two frames of 1000 and 5000 bytes, by hand -----------------------------------------


def test_udp_frames_of_their_own_sizes():
    # 10 Mbit/s, 5 ms, back to back. Frame 0: one datagram of 1000 B. Frame 1: 5000 B =
    # 3 x 1472 + 584, queued behind frame 0 on the wire.
    bitrate, delay = 10e6, 0.005
    result = simulate(cable([FlowSpec("a", "b", 2, 0, (1000, 5000))], "udp", bitrate, delay))
    first, second = result.flows[0].frames
    t0 = wire(1000 + 28, bitrate)
    t1 = 3 * wire(1500, bitrate) + wire(584 + 28, bitrate)
    assert first.sent_s == second.sent_s == 0.0
    assert abs(first.latency_s - (t0 + delay)) < NS
    assert abs(second.latency_s - (t0 + t1 + delay)) < NS
    assert result.flows[0].summary.packets_sent == 1 + 4


def test_tcp_frames_of_their_own_sizes():
    # Handshake: SYN and SYN-ACK (40 B each) one way each, then the third segment (a pure
    # ACK) and frame 0's one segment of 1000 B. Frame 1 is written when frame 0 is handed
    # over (its segment sent, right after the SYN-ACK arrived): 5000 B = 3 x 1460 + 620,
    # 4 segments within the initial window, on the wire after frame 0's segment.
    bitrate, delay = 10e6, 0.005
    result = simulate(cable([FlowSpec("a", "b", 2, 0, (1000, 5000))], "tcp", bitrate, delay))
    first, second = result.flows[0].frames
    ctrl = wire(40, bitrate)
    established = 2 * (ctrl + delay)
    frame0_on_wire = established + ctrl + wire(1000 + 40, bitrate)
    assert abs(first.latency_s - (frame0_on_wire + delay)) < NS
    assert abs(second.sent_s - established) < NS
    frame1_end = frame0_on_wire + 3 * wire(1500, bitrate) + wire(620 + 40, bitrate)
    assert abs(second.latency_s - (frame1_end + delay - established)) < NS
    # goodput counts each frame's own size
    summary = result.flows[0].summary
    assert summary.goodput_bps == pytest.approx(8 * 6000 / (frame1_end + delay), rel=1e-12)


def test_udp_losses_stay_within_each_frames_own_bytes():
    # Datagrams of 1472 B: frame f's lost ranges are whole datagrams of that frame, the
    # last one cut at the frame's own size, and lost_bytes is their total.
    sizes = (100, 3000, 2 * 1472, 50_000, 1)
    result = simulate(cable([FlowSpec("a", "b", None, 0, sizes)], "udp", loss=0.3, seed=3))
    frames = result.flows[0].frames
    assert sum(f.lost_bytes for f in frames) > 0
    for size, frame in zip(sizes, frames, strict=True):
        datagrams = -(-size // 1472)
        lost = set()
        for start, end in frame.lost_ranges:
            assert start % 1472 == 0 and 0 <= start < end <= size
            assert end % 1472 == 0 or end == size
            lost.update(range(start // 1472, -(-end // 1472)))
        assert frame.lost_bytes == sum(e - s for s, e in frame.lost_ranges)
        assert frame.complete == (not lost)
        assert (frame.delivered_s is None) == (len(lost) == datagrams)
    sent = sum(-(-s // 1472) for s in sizes)
    assert result.flows[0].summary.packets_sent == sent


def test_tcp_frames_never_delivered_miss_each_their_own_bytes():
    # A connection that never opens (loss 0.99 on SYNs and SYN-ACKs; it gives up after 15
    # timeouts) leaves every frame missing all of its own bytes.
    sizes = (1000, 5000, 1)
    result = simulate(cable([FlowSpec("a", "b", None, 0, sizes)], "tcp", loss=0.99, seed=2))
    frames = result.flows[0].frames
    assert [f.lost_ranges for f in frames] == [((0, s),) for s in sizes]
    assert [f.lost_bytes for f in frames] == list(sizes)
    assert not any(f.complete for f in frames)


# --- the contract: validation, pickling -------------------------------------------------


def test_per_frame_sizes_are_checked_one_by_one():
    cases = [
        ((1000, 0), None, "payload_bytes[1] = 0: must be between 1 and"),
        ((1000, 2**40 + 1), None, "payload_bytes[1] = 1099511627777"),
        ((1000, 2000), 3, "frames = 3: must equal the number of payload sizes (2)"),
        ((1000, "x"), None, "payload_bytes[1] = 'x'"),
        ((1000, True), None, "payload_bytes[1] = True"),
        ((), None, "frames = 0"),
    ]
    for sizes, frames, message in cases:
        with pytest.raises(LibsimError) as caught:
            check_network(cable([FlowSpec("a", "b", frames, 0, sizes)], "udp"))
        assert message in str(caught.value), str(caught.value)
        assert "flow 'a->b'" in str(caught.value)


def test_udp_datagram_limit_counts_the_real_sizes():
    # 1e8 datagrams per UDP flow: 99_999_999 datagrams of 1472 B plus a frame of one
    # datagram fit exactly; a second frame of two datagrams is one too many.
    limit = int(lib.LIBSIM_UDP_DATAGRAMS_MAX)
    big = 1472 * (limit - 1)
    check_network(cable([FlowSpec("a", "b", None, 0, (big, 1472))], "udp"))
    with pytest.raises(LibsimError, match=f"datagrams of all frames = {limit + 1}: more than"):
        check_network(cable([FlowSpec("a", "b", None, 0, (big, 1473))], "udp"))


def test_raw_c_abi_add_flow_sizes():
    err = ffi.new("char[]", 256)
    out = ffi.new("libsim_network **")
    assert lib.libsim_network_new(lib.LIBSIM_UDP, 1500, 1, ffi.NULL, out, err, 256) == 0
    net = out[0]
    try:
        for _ in range(2):
            assert lib.libsim_add_node(net, ffi.NULL, err, 256) == 0
        link = ffi.new("libsim_link_config *", {"kind": 0, "bitrate_bps": 1e6, "queue_packets": 5})
        assert lib.libsim_add_link(net, link, ffi.new("int32_t[]", [0, 1]), 2, err, 256) == 0
        sizes = ffi.new("int64_t[]", [10, 3000])
        flow = ffi.new("libsim_flow_config *", {"src": 0, "dst": 1, "frames": 2})
        assert lib.libsim_add_flow_sizes(net, flow, ffi.NULL, 2, err, 256) == 1
        assert b"payload_sizes is NULL" in ffi.string(err)
        flow.payload_bytes = 10
        assert lib.libsim_add_flow_sizes(net, flow, sizes, 2, err, 256) == 1
        assert b"payload_bytes = 10: must be 0" in ffi.string(err)
        flow.payload_bytes = 0
        assert lib.libsim_add_flow_sizes(net, flow, sizes, 2, err, 256) == 0
        result = ffi.new("libsim_result **")
        assert lib.libsim_run(net, result, err, 256) == 0
        try:
            stats = ffi.new("libsim_flow_stats *")
            assert lib.libsim_result_flow(result[0], 0, stats, err, 256) == 0
            assert stats.frames == 2 and stats.packets_sent == 1 + 3  # 10 B; 3000 B = 3 datagrams
        finally:
            lib.libsim_result_free(result[0])
    finally:
        lib.libsim_network_free(net)


def test_flowspec_sizes_are_a_tuple_and_frames_their_count():
    flow = FlowSpec("a", "b", None, 0, [1, 2, 3])
    assert flow.payload_bytes == (1, 2, 3) and flow.frames == 3
    assert flow.payload_sizes == (1, 2, 3) and flow.frame_bytes(2) == 3
    one = FlowSpec("a", "b", 4, 0, 9)
    assert one.payload_sizes is None and one.frame_bytes(3) == 9


def test_simulate_many_carries_per_frame_sizes_to_its_workers():
    nets = [cable([FlowSpec("a", "b", None, 0, (1000, 5000 + k))], "udp") for k in range(3)]
    expected = [without_wall(simulate(net)) for net in nets]
    got = dict(simulate_many(nets, processes=2))
    assert [without_wall(got[i]) for i in range(3)] == expected


# --- delayed ACK: the default is 40 ms (Linux's ATO) -----------------------------------


def test_default_ack_delay_avoids_the_spurious_timeout_of_an_odd_last_segment():
    # 100 Mbit/s, 10 ms, 4 frames at 2 fps of 4 x 1460 + 700 B = 5 segments: the receiver
    # ACKs pairs of full segments at once and delays the odd last one. With ack_delay =
    # min_rto = 0.2 s, the sender's RTO (restarted by the previous ACK, max(0.2 s, SRTT +
    # 4 RTTVAR) = 0.2 s with a 20 ms RTT) expires before the delayed ACK is back: a
    # spurious retransmission, ssthresh = 2 segments, and the next frames need more than
    # one round. With 40 ms the ACK is back in time: frames after the first (window
    # 10 segments, no handshake) take 4 full segments + the short one + the delay.
    bitrate, delay = 100e6, 0.010
    flows = [FlowSpec("a", "b", 4, 2, 4 * 1460 + 700)]
    expected = 4 * wire(1500, bitrate) + wire(700 + 40, bitrate) + delay

    old = simulate(cable(flows, "tcp", bitrate, delay, tcp=TcpConfig(ack_delay=0.2))).flows[0]
    assert old.summary.packets_lost == 0 and old.summary.retransmissions >= 1
    # a window below 5 segments: the last segment leaves after an ACK came back, so each
    # later frame takes at least three one-way delays (expected holds only one)
    assert all(f.latency_s > 3 * delay for f in old.frames[1:])

    assert TcpConfig().ack_delay == 0.04
    new = simulate(cable(flows, "tcp", bitrate, delay)).flows[0]
    assert new.summary.retransmissions == 0
    for frame in new.frames[1:]:
        assert abs(frame.latency_s - expected) < NS
        assert frame.latency_s < expected + TcpConfig().ack_delay  # the bound it must meet


def test_c_default_tcp_config_is_the_binding_default():
    # libsim_network_new with a NULL tcp config runs as TcpConfig() does: same latencies on
    # the flow above, where ack_delay 0.2 s and 0.04 s give different ones.
    err = ffi.new("char[]", 256)
    out = ffi.new("libsim_network **")
    assert lib.libsim_network_new(lib.LIBSIM_TCP, 1500, 1, ffi.NULL, out, err, 256) == 0
    net = out[0]
    try:
        for _ in range(2):
            assert lib.libsim_add_node(net, ffi.NULL, err, 256) == 0
        link = ffi.new(
            "libsim_link_config *",
            {
                "kind": 0,
                "bitrate_bps": 100e6,
                "delay_s": 0.01,
                "overhead_bytes": OVERHEAD,
                "queue_packets": 100,
            },
        )
        assert lib.libsim_add_link(net, link, ffi.new("int32_t[]", [0, 1]), 2, err, 256) == 0
        flow = ffi.new(
            "libsim_flow_config *",
            {"src": 0, "dst": 1, "frames": 4, "fps": 2.0, "payload_bytes": 4 * 1460 + 700},
        )
        assert lib.libsim_add_flow(net, flow, err, 256) == 0
        result = ffi.new("libsim_result **")
        assert lib.libsim_run(net, result, err, 256) == 0
        try:
            records = ffi.new("libsim_frame_record[]", 4)
            assert lib.libsim_result_frames(result[0], 0, records, 4, err, 256) == 0
            c_default = [records[i].latency_s for i in range(4)]
        finally:
            lib.libsim_result_free(result[0])
    finally:
        lib.libsim_network_free(net)
    flows = [FlowSpec("a", "b", 4, 2, 4 * 1460 + 700)]
    binding = simulate(cable(flows, "tcp", 100e6, 0.01)).flows[0].frames
    old = simulate(cable(flows, "tcp", 100e6, 0.01, tcp=TcpConfig(ack_delay=0.2))).flows[0]
    assert c_default == [f.latency_s for f in binding]
    assert c_default != [f.latency_s for f in old.frames]
