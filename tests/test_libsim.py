"""libsim behaviour against numbers worked out by hand (formulas in each test)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from libsim import (
    BurstLoss,
    FlowSpec,
    LibsimError,
    LibsimInterrupted,
    LinkSpec,
    NetworkSpec,
    TcpConfig,
    percentile,
    simulate,
    simulate_many,
)

NS = 1e-9
OVERHEAD = 38  # link-layer bytes per packet used throughout


def chain(hops: int, bitrate: float, delay: float, flows, protocol="udp", mtu=1500, **link):
    """n0 - n1 - ... - n<hops>, all links equal."""
    nodes = tuple(f"n{i}" for i in range(hops + 1))
    links = tuple(
        LinkSpec(f"l{i}", "full_duplex", (nodes[i], nodes[i + 1]), bitrate, delay, **link)
        for i in range(hops)
    )
    return NetworkSpec(nodes=nodes, links=links, flows=tuple(flows), protocol=protocol, mtu=mtu)


def wire_time(ip_bytes: int, bitrate: float) -> float:
    return (ip_bytes + OVERHEAD) * 8 / bitrate


# --- UDP: store and forward, exactly ---------------------------------------------------


@pytest.mark.parametrize("hops", [1, 2])
def test_udp_last_datagram_matches_store_and_forward(hops):
    # 50 equal datagrams of 1472 B: the last arrives after (N + H - 1) T + H d.
    mtu, n = 1500, 50
    payload = n * (mtu - 28)
    bitrate, delay = 100e6, 0.005
    net = chain(hops, bitrate, delay, [FlowSpec("n0", f"n{hops}", 1, 0, payload)])
    frame = simulate(net).flows[0].frames[0]
    t = wire_time(mtu, bitrate)
    assert frame.complete and frame.sent_s == 0.0
    assert abs(frame.delivered_s - ((n + hops - 1) * t + hops * delay)) < NS


def test_udp_short_last_datagram_on_two_hops():
    # 9 full datagrams then one of 100 B. Hop 1 ends at 9T + t; hop 2 is still busy with
    # datagram 9 until 10T + d, so the short one leaves the relay then: 10T + t + 2d.
    mtu, bitrate, delay = 1500, 10e6, 0.002
    payload = 9 * (mtu - 28) + 100
    big, small = wire_time(mtu, bitrate), wire_time(100 + 28, bitrate)
    one = simulate(chain(1, bitrate, delay, [FlowSpec("n0", "n1", 1, 0, payload)]))
    two = simulate(chain(2, bitrate, delay, [FlowSpec("n0", "n2", 1, 0, payload)]))
    assert abs(one.flows[0].frames[0].delivered_s - (9 * big + small + delay)) < NS
    assert abs(two.flows[0].frames[0].delivered_s - (10 * big + small + 2 * delay)) < NS
    assert two.link_packets == 2 * 10


def test_udp_frames_at_fps_are_sent_on_schedule():
    net = chain(1, 100e6, 0.001, [FlowSpec("n0", "n1", 5, 20, 3000)])
    frames = simulate(net).flows[0].frames
    # 3000 B = 1472 + 1472 + 56: three datagrams per frame, no queueing between frames.
    expected = 2 * wire_time(1500, 100e6) + wire_time(56 + 28, 100e6) + 0.001
    for i, frame in enumerate(frames):
        assert frame.sent_s == pytest.approx(i / 20, abs=1e-12)
        assert abs(frame.latency_s - expected) < NS
    # Latency comes from exact integer times: identical frames, identical latencies.
    assert len({frame.latency_s for frame in frames}) == 1


def test_source_blocks_instead_of_dropping_and_relay_drops_tail():
    # A 1 Gbit/s access link feeding a 10 Mbit/s link through a relay with a 5-packet queue:
    # the source's own interface never drops; the relay must.
    nodes = ("cam", "relay", "srv")
    links = (
        LinkSpec("fast", "full_duplex", ("cam", "relay"), 1e9, 1e-4, queue_packets=5),
        LinkSpec("slow", "full_duplex", ("relay", "srv"), 10e6, 1e-4, queue_packets=5),
    )
    burst = NetworkSpec(nodes, links, (FlowSpec("cam", "srv", 1, 0, 200_000),), protocol="udp")
    result = simulate(burst).flows[0]
    assert result.summary.packets_lost > 0
    assert result.frames[0].lost_bytes > 0
    # Reversed: the slow link is the source's own; nothing is lost anywhere.
    reverse = NetworkSpec(nodes, links, (FlowSpec("srv", "cam", 1, 0, 200_000),), protocol="udp")
    back = simulate(reverse).flows[0]
    assert back.summary.packets_lost == 0 and back.frames[0].complete


def test_udp_lost_ranges_add_up_to_lost_bytes():
    datagram = 1500 - 28
    net = chain(2, 50e6, 0.001, [FlowSpec("n0", "n2", 20, 30, 50_000)], loss=0.05)
    flow = simulate(replace(net, seed=7)).flows[0]
    assert flow.summary.packets_lost > 0
    for frame in flow.frames:
        assert sum(end - start for start, end in frame.lost_ranges) == frame.lost_bytes
        edges = [x for r in frame.lost_ranges for x in r]
        assert edges == sorted(edges) and all(0 <= x <= 50_000 for x in edges)
        assert all(start % datagram == 0 for start, _ in frame.lost_ranges)
        assert frame.complete == (frame.lost_bytes == 0)
    # Every lost datagram is one lost range piece: lost bytes match the lost packet count.
    lost = sum(f.lost_bytes for f in flow.frames)
    short = 50_000 % datagram
    n_short_lost = sum(1 for f in flow.frames for _, end in f.lost_ranges if end == 50_000)
    assert lost == (flow.summary.packets_lost - n_short_lost) * datagram + n_short_lost * short


def test_gilbert_elliott_loss_rate_and_bursts():
    # Stationary bad-state share = p_gb / (p_gb + p_bg); loss = share * loss_bad.
    burst = BurstLoss(p_good_to_bad=0.02, p_bad_to_good=0.25, loss_bad=0.6)
    expected = 0.02 / 0.27 * 0.6
    datagram = 1500 - 28
    frames, per_frame = 100, 100
    net = chain(1, 1e9, 1e-5, [FlowSpec("n0", "n1", frames, 0, per_frame * datagram)])
    bursty = simulate(replace(net, links=(replace(net.links[0], burst=burst),))).flows[0]
    rate = bursty.summary.packets_lost / (frames * per_frame)
    assert rate == pytest.approx(expected, rel=0.2)
    # Same mean loss without memory: losses come in shorter runs.
    bernoulli = simulate(replace(net, links=(replace(net.links[0], loss=expected),))).flows[0]

    def mean_run(flow):
        runs = [(end - start) // datagram for f in flow.frames for start, end in f.lost_ranges]
        return sum(runs) / len(runs)

    assert mean_run(bursty) > 1.5 * mean_run(bernoulli)


# --- TCP -------------------------------------------------------------------------------

BITRATE, DELAY, MTU = 100e6, 0.005, 1500
MSS = MTU - 40


def tcp_link(size, frames=1, loss=0.0, tcp=TcpConfig(), seed=1):
    net = chain(1, BITRATE, DELAY, [FlowSpec("n0", "n1", frames, 0, size)], "tcp", loss=loss)
    return replace(net, tcp=tcp, seed=seed)


def payload_capacity(size: int) -> float:
    """Payload bit/s when the wire is always busy with this frame's segments."""
    segments = math.ceil(size / MSS)
    return BITRATE * size / (size + segments * (40 + OVERHEAD))


def test_tcp_without_loss_fills_the_link_after_slow_start():
    size = 100_000
    flow = simulate(tcp_link(size, frames=60)).flows[0]
    delivered = [f.delivered_s for f in flow.frames]
    assert all(f.complete for f in flow.frames)
    steady = 8 * size * (59 - 20) / (delivered[59] - delivered[20])
    assert steady == pytest.approx(payload_capacity(size), rel=0.005)
    assert flow.summary.packets_lost == 0


def test_tcp_10mb_transfer_time_and_goodput():
    size = 10_000_000
    rtt = 2 * DELAY
    flow = simulate(tcp_link(size)).flows[0]
    capacity = BITRATE * MSS / (MSS + 40 + OVERHEAD)
    # At least the handshake RTT plus the payload at full capacity; slow start from 10
    # segments to the ~86-segment pipe costs a few more RTTs, not more.
    assert size * 8 / capacity + rtt < flow.frames[0].latency_s < size * 8 / capacity + 8 * rtt
    assert flow.summary.goodput_bps == pytest.approx(capacity, rel=0.07)
    assert flow.summary.goodput_bps < capacity


def test_tcp_with_loss_is_slower_and_retransmits():
    size = 2_000_000
    clean = simulate(tcp_link(size)).flows[0]
    lossy = simulate(tcp_link(size, loss=0.01)).flows[0]
    assert lossy.frames[0].complete
    assert lossy.summary.retransmissions > 0 and lossy.summary.packets_lost > 0
    assert lossy.frames[0].latency_s > 1.5 * clean.frames[0].latency_s
    # Each lost data segment is sent again at least once.
    assert lossy.summary.retransmissions >= lossy.summary.packets_lost


def test_tcp_handshake_costs_one_round_trip():
    # SYN and SYN-ACK: 40 B each plus framing, one propagation delay each way; the pure ACK
    # that completes the handshake goes on the wire just before the first segment.
    handshake_rtt = 2 * DELAY + 3 * wire_time(40, BITRATE)
    with_handshake = simulate(tcp_link(1_000_000)).flows[0].frames
    without = simulate(tcp_link(1_000_000, tcp=TcpConfig(handshake=False))).flows[0].frames
    assert abs(with_handshake[0].latency_s - without[0].latency_s - handshake_rtt) < NS


def test_tcp_single_segment_latency():
    # One 1000 B frame without handshake: one segment, one hop.
    flow = simulate(tcp_link(1000, tcp=TcpConfig(handshake=False))).flows[0]
    assert abs(flow.frames[0].latency_s - (wire_time(1040, BITRATE) + DELAY)) < NS
    assert flow.summary.packets_sent == 1


def test_tcp_initial_window_limits_the_first_flight():
    # No handshake, IW = 4 segments, 8 segments to send on a long link. The receiver ACKs
    # the first segment at once, then every second one: ACK 1 (after segment 1) makes cwnd 5
    # with una 1, so segments 5-6 leave; ACK 3 (after segment 3) makes it 6 with una 3, so
    # segments 7-8 follow when the wire is free.
    tcp = TcpConfig(handshake=False, initial_window=4)
    d = 0.05
    net = chain(1, BITRATE, d, [FlowSpec("n0", "n1", 1, 0, 8 * MSS)], "tcp")
    flow = simulate(replace(net, tcp=tcp)).flows[0]
    t = wire_time(MTU, BITRATE)
    ack = wire_time(40, BITRATE)
    ack_1_back = t + d + ack + d
    ack_3_back = 3 * t + d + ack + d
    expected = max(ack_1_back + 2 * t, ack_3_back) + 2 * t + d
    assert abs(flow.frames[0].latency_s - expected) < NS
    assert flow.summary.packets_sent == 8


# --- wireless --------------------------------------------------------------------------


def wifi(stations: int, protocol="udp", frames=6, size=60_000, fps=10, seed=1):
    cams = tuple(f"cam{i}" for i in range(stations))
    links = (
        LinkSpec("wifi", "wireless", (*cams, "ap"), 54e6, 1e-6),
        LinkSpec("lan", "full_duplex", ("ap", "srv"), 1e9, 1e-4),
    )
    flows = tuple(FlowSpec(c, "srv", frames, fps, size) for c in cams)
    return NetworkSpec((*cams, "ap", "srv"), links, flows, protocol=protocol, seed=seed)


def test_one_wireless_station_matches_dcf_timing():
    # One datagram per frame, alone on the medium (802.11g: 20 us preamble + SIGNAL,
    # 4 us symbols of 216 bits at 54 Mbit/s, 6 us signal extension), then the LAN hop.
    # Every frame finds the medium idle, its post-backoff long over (10 ms between frames):
    # immediate access, DIFS after its arrival without a backoff (more cases in
    # test_libsim_wifi_access.py).
    size, difs = 1000, 28e-6
    flow = simulate(wifi(1, frames=20, size=size, fps=100)).flows[0]
    symbols = math.ceil((16 + 6 + 8 * (size + 28 + OVERHEAD)) / 216)
    air = 20e-6 + 4e-6 * symbols + 6e-6
    lan = wire_time(size + 28, 1e9) + 1e-4
    for frame in flow.frames:
        assert abs(frame.latency_s - (difs + air + 1e-6 + lan)) < NS
    assert flow.summary.collisions == 0 and flow.summary.complete == 20


def test_more_stations_share_the_medium_latency_grows_and_collisions_counted():
    means = []
    for n in (1, 2, 4):
        result = simulate(wifi(n))
        flows = result.flows
        means.append(sum(f.summary.mean_s for f in flows) / n)
        collisions = sum(f.summary.collisions for f in flows)
        if n == 1:
            assert collisions == 0
        else:
            assert collisions > 0
    assert means[0] < means[1] < means[2]


def test_tcp_over_wifi_completes():
    result = simulate(wifi(2, protocol="tcp", frames=4, size=30_000))
    for flow in result.flows:
        assert flow.summary.complete == 4


def test_half_duplex_is_slower_than_full_duplex_for_tcp():
    full = simulate(tcp_link(1_000_000)).flows[0].frames[0].latency_s
    net = tcp_link(1_000_000)
    half_net = replace(net, links=(replace(net.links[0], kind="half_duplex"),))
    half = simulate(half_net).flows[0].frames[0].latency_s
    assert half > full


# --- determinism, parallel runs, statistics -----------------------------------------------


def strip_wall(result):
    return replace(result, wall_s=0.0)


def test_same_seed_same_result_other_seed_other_result():
    net = replace(wifi(3, protocol="tcp", frames=3, size=20_000), seed=11)
    lossy = replace(net, links=(replace(net.links[0], loss=0.02), net.links[1]))
    a, b = simulate(lossy), simulate(lossy)
    assert strip_wall(a) == strip_wall(b)
    assert strip_wall(simulate(replace(lossy, seed=12))) != strip_wall(a)


def test_simulate_many_matches_simulate():
    nets = [replace(wifi(2, frames=2, size=10_000), seed=s) for s in range(6)]
    got = dict(simulate_many(nets, processes=2))
    assert sorted(got) == list(range(6))
    for i, net in enumerate(nets):
        assert strip_wall(got[i]) == strip_wall(simulate(net))


def test_simulate_many_workers_come_from_a_fork_server_not_from_the_caller():
    # the caller may run torch or Textual threads: its workers must not be forks of it
    import multiprocessing

    from libsim import binding

    assert binding._pool_context().get_start_method() == "forkserver"
    binding.prepare_workers()  # optional warm-up; idempotent
    before = set(multiprocessing.active_children())
    nets = [replace(wifi(1, frames=1, size=1000), seed=s) for s in range(4)]
    assert sorted(index for index, _ in simulate_many(nets, processes=2)) == [0, 1, 2, 3]
    assert set(multiprocessing.active_children()) == before  # the pool is gone afterwards


def test_simulate_many_cancelled_before_any_result_returns_promptly():
    import time

    slow = tcp_link(20_000_000_000)  # seconds of work per network
    started = time.perf_counter()
    assert list(simulate_many([slow] * 4, processes=2, cancel=lambda: True)) == []
    asked = []

    def cancel_after_a_moment():
        asked.append(time.perf_counter())
        return time.perf_counter() - started > 0.3

    started = time.perf_counter()
    assert list(simulate_many([slow] * 4, processes=2, cancel=cancel_after_a_moment)) == []
    assert time.perf_counter() - started < 2.0
    assert len(asked) > 2  # polled while the workers ran


def test_simulate_many_stops_when_cancelled():
    nets = [wifi(1, frames=1, size=1000)] * 20
    seen = []
    for index, _ in simulate_many(nets, processes=2, cancel=lambda: len(seen) >= 3):
        seen.append(index)
    assert len(seen) == 3


def test_percentile_is_nearest_rank():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 25) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 26) == 2.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 1) == 7.0


def test_summary_statistics_follow_the_frames():
    flow = simulate(wifi(1, frames=20, size=5000)).flows[0]
    latencies = sorted(f.latency_s for f in flow.frames)
    s = flow.summary
    assert s.frames == 20 and s.complete == 20
    assert s.mean_s == pytest.approx(sum(latencies) / 20)
    assert s.p50_s == latencies[9] and s.p95_s == latencies[18] and s.p99_s == latencies[19]
    assert s.max_s == latencies[-1]
    span = max(f.delivered_s for f in flow.frames) - flow.frames[0].sent_s
    assert s.goodput_bps == pytest.approx(8 * 20 * 5000 / span)


def test_tcp_restarts_slow_start_after_an_idle_rto():
    # Frames 2 s apart (idle >> RTO): RFC 5681 4.1 cuts cwnd back to IW for every frame, so
    # each later frame is slower than with the window kept open. (Immediate ACKs: a delayed
    # ACK of a frame's last odd segment would race a 0.2 s RTO and blur the comparison.)
    net = chain(1, BITRATE, DELAY, [FlowSpec("n0", "n1", 4, 0.5, 1_000_000)], "tcp")
    restart = simulate(replace(net, tcp=TcpConfig(delayed_ack=False))).flows[0].frames
    keep_tcp = TcpConfig(delayed_ack=False, idle_restart=False)
    keep = simulate(replace(net, tcp=keep_tcp)).flows[0].frames
    assert restart[0].latency_s == keep[0].latency_s
    for k in (1, 2, 3):
        assert restart[k].latency_s > keep[k].latency_s + DELAY
        # Restarting from IW each time: every later frame costs about the same.
        assert restart[k].latency_s == pytest.approx(restart[1].latency_s, rel=0.01)


def test_simulate_many_raises_the_error_of_a_bad_network():
    good = wifi(1, frames=1, size=1000)
    bad = replace(good, links=(replace(good.links[0], bitrate_bps=0.0), good.links[1]))
    with pytest.raises(LibsimError, match="bitrate = 0"):
        list(simulate_many([good, bad, good], processes=2))


def test_saturated_wireless_station_matches_the_dcf_cycle():
    # One station, back-to-back datagrams, nobody else on the medium: every frame costs
    # DIFS + backoff (mean CWmin / 2 = 7.5 slots) + data + propagation + SIFS + ACK +
    # propagation. ACK: 14 B at 24 Mbit/s (96 bits per symbol). The first frame goes by
    # immediate access, without a backoff: 7.5 slots less in 2000 frames, far inside 0.5 %.
    n = 2000
    net = wifi(1, frames=1, size=n * 1472, fps=0)
    frame = simulate(net).flows[0].frames[0]
    slot, sifs, difs, prop = 9e-6, 10e-6, 28e-6, 1e-6

    def ofdm(octets, bits_per_symbol):
        return 20e-6 + 4e-6 * math.ceil((22 + 8 * octets) / bits_per_symbol) + 6e-6

    cycle = difs + 7.5 * slot + ofdm(1500 + OVERHEAD, 216) + prop + sifs + ofdm(14, 96) + prop
    lan = wire_time(1500, 1e9) + 1e-4
    expected = n * cycle - (sifs + ofdm(14, 96) + prop) + lan
    assert frame.complete
    assert frame.latency_s == pytest.approx(expected, rel=0.005)


def test_two_tcp_flows_share_a_bottleneck():
    # Two senders behind one relay, 10 Mbit/s to the server: together they keep the
    # bottleneck busy; neither starves.
    nodes = ("a", "b", "relay", "srv")
    links = (
        LinkSpec("la", "full_duplex", ("a", "relay"), 100e6, 1e-3),
        LinkSpec("lb", "full_duplex", ("b", "relay"), 100e6, 1e-3),
        LinkSpec("neck", "full_duplex", ("relay", "srv"), 10e6, 5e-3, queue_packets=30),
    )
    size = 2_000_000
    flows = (FlowSpec("a", "srv", 1, 0, size), FlowSpec("b", "srv", 1, 0, size))
    result = simulate(NetworkSpec(nodes, links, flows, protocol="tcp"))
    done = max(f.frames[0].delivered_s for f in result.flows)
    capacity = 10e6 * MSS / (MSS + 40 + OVERHEAD)
    assert all(f.frames[0].complete for f in result.flows)
    assert 8 * 2 * size / done == pytest.approx(capacity, rel=0.1)
    assert 8 * 2 * size / done < capacity
    first = min(f.frames[0].delivered_s for f in result.flows)
    assert first > 0.5 * done  # shared, not one after the other


def test_delayed_ack_equal_to_min_rto_fires_one_spurious_timeout_per_frame():
    # 1 MB = 684 full segments + 1360 B: after the last ACK of a full pair the timer restarts
    # with RTO = max(0.2 s, SRTT + 4 RTTVAR) = 0.2 s, while the odd last segment's ACK waits
    # ack_delay = 0.2 s at the receiver plus the way back: the timer fires first (RFC 6298),
    # once per frame. A 40 ms delayed ACK (the default) comes back in time.
    net = chain(1, BITRATE, DELAY, [FlowSpec("n0", "n1", 4, 0.5, 1_000_000)], "tcp")
    slow = simulate(replace(net, tcp=TcpConfig(ack_delay=0.2))).flows[0].summary
    fast = simulate(net).flows[0].summary
    assert slow.retransmissions == 4 and slow.packets_lost == 0
    assert fast.retransmissions == 0
    assert slow.mean_s > 2 * fast.mean_s


def test_calls_from_many_threads_are_serialised():
    from concurrent.futures import ThreadPoolExecutor

    nets = [replace(wifi(2, protocol="tcp", frames=2, size=8000), seed=s) for s in range(8)]
    expected = [strip_wall(simulate(net)) for net in nets]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda net: strip_wall(simulate(net)), nets * 2))
    assert got == expected * 2


def bianchi(stations: int, payload_bits: float, ts: float, tc: float, slot: float):
    """Saturation throughput and collision probability of 802.11 DCF (Bianchi, IEEE JSAC
    2000): W = CWmin + 1 = 16, m = 6 backoff stages (CWmax 1023)."""
    w, m, p = 16, 6, 0.0
    for _ in range(500):  # fixed point of tau(p), p(tau)
        tau = 2 * (1 - 2 * p) / ((1 - 2 * p) * (w + 1) + p * w * (1 - (2 * p) ** m))
        p = 0.5 * p + 0.5 * (1 - (1 - tau) ** (stations - 1))
    busy = 1 - (1 - tau) ** stations
    success = stations * tau * (1 - tau) ** (stations - 1) / busy
    mean_slot = (1 - busy) * slot + busy * success * ts + busy * (1 - success) * tc
    return success * busy * payload_bits / mean_slot, p


@pytest.mark.parametrize("stations", [2, 4])
def test_saturated_stations_match_bianchi(stations):
    slot, sifs, difs, prop = 9e-6, 10e-6, 28e-6, 1e-6

    def ofdm(octets, bits_per_symbol):
        return 20e-6 + 4e-6 * math.ceil((22 + 8 * octets) / bits_per_symbol) + 6e-6

    data, ack = ofdm(1500 + OVERHEAD, 216), ofdm(14, 96)
    ts = difs + data + prop + sifs + ack + prop  # a success, until the next DIFS ends
    # A collision: its senders wait the ACK timeout, then DIFS. Stations outside it defer
    # EIFS (88 us) after the frames, 16 us later than the senders; Bianchi's model has one
    # Tc, and that difference (under 2 slots per collision of 2 among 4) stays in the 4 %.
    tc = difs + data + prop + sifs + slot + 25e-6
    expected, p_collision = bianchi(stations, 1472 * 8, ts, tc, slot)
    per_station = 600
    result = simulate(wifi(stations, frames=1, size=per_station * 1472, fps=0))
    end = max(f.frames[0].delivered_s for f in result.flows)
    throughput = 8 * stations * per_station * 1472 / end
    attempts = result.link_packets - stations * per_station  # minus the Ethernet hop
    collided = sum(f.summary.collisions for f in result.flows)
    # The last frames go with fewer contenders, a little slower than saturation.
    assert throughput == pytest.approx(expected, rel=0.04)
    assert collided / attempts == pytest.approx(p_collision, abs=0.03)


def test_routes_take_fewest_hops_then_the_first_listed_link():
    # a-d directly on a slow link (1 hop) beats a-b-d on fast links (2 hops); between the
    # two 2-hop paths a-c-d and a-b-d the one whose first link is listed first wins.
    size = 1000
    slow = LinkSpec("ad", "full_duplex", ("a", "d"), 1e6, 0.01)
    ac = LinkSpec("ac", "full_duplex", ("a", "c"), 1e8, 0.002)
    cd = LinkSpec("cd", "full_duplex", ("c", "d"), 1e8, 0.002)
    ab = LinkSpec("ab", "full_duplex", ("a", "b"), 1e8, 0.001)
    bd = LinkSpec("bd", "full_duplex", ("b", "d"), 1e8, 0.001)
    flow = (FlowSpec("a", "d", 1, 0, size),)
    nodes = ("a", "b", "c", "d")

    def latency(links):
        net = NetworkSpec(nodes, tuple(links), flow, protocol="udp")
        return simulate(net).flows[0].frames[0].latency_s

    t_slow, t_fast = wire_time(size + 28, 1e6), wire_time(size + 28, 1e8)
    assert abs(latency([ac, cd, ab, bd, slow]) - (t_slow + 0.01)) < NS
    assert abs(latency([ac, cd, ab, bd]) - (2 * t_fast + 0.004)) < NS
    assert abs(latency([ab, bd, ac, cd]) - (2 * t_fast + 0.002)) < NS


def test_a_long_chain_of_relays():
    # One datagram through 3000 store-and-forward hops: 3000 (T + d).
    hops = 3000
    net = chain(hops, 1e9, 1e-6, [FlowSpec("n0", f"n{hops}", 1, 0, 500)])
    frame = simulate(net).flows[0].frames[0]
    assert frame.latency_s == pytest.approx(hops * (wire_time(528, 1e9) + 1e-6), abs=1e-9)


def test_a_network_too_large_to_route_is_refused():
    n = 20_000
    nodes = tuple(f"n{i}" for i in range(n))
    air = LinkSpec("air", "wireless", nodes[:1000], 54e6, 1e-6)
    flows = tuple(FlowSpec(nodes[i], nodes[i + 1], 1, 0, 10) for i in range(0, 400, 2))
    with pytest.raises(LibsimError, match="network too large"):
        simulate(NetworkSpec(nodes, (air,), flows, protocol="udp"))


def test_a_long_run_can_be_interrupted_from_another_thread():
    import threading

    from libsim import interrupt

    # 10 GB: about 1e7 link packets, seconds of work; interrupted after 0.2 s.
    net = tcp_link(10_000_000_000)
    timer = threading.Timer(0.2, interrupt)
    timer.start()
    try:
        with pytest.raises(LibsimInterrupted, match="interrupted") as caught:
            simulate(net)
    finally:
        timer.cancel()
    assert caught.value.status == 5  # LIBSIM_ERR_INTERRUPTED in libsim.h
    # The next run is not affected.
    assert simulate(tcp_link(10_000)).flows[0].frames[0].complete


def test_a_connection_that_never_opens_gives_up_and_reports_every_frame_lost():
    # 95 % loss each way: the SYN exchange keeps failing; after 15 retransmissions (RTO
    # 1, 2, 4, ... capped at 60 s) the connection aborts and no frame arrives.
    net = chain(1, 1e6, 0.001, [FlowSpec("n0", "n1", 5, 2, 1000)], "tcp", loss=0.95)
    flow = simulate(replace(net, seed=3)).flows[0]
    assert flow.summary.retransmissions == 15 and flow.summary.complete == 0
    for i, frame in enumerate(flow.frames):
        assert frame.sent_s == i / 2 and frame.latency_s is None and not frame.complete
        assert frame.lost_bytes == 1000 and frame.lost_ranges == ((0, 1000),)


def test_simulate_many_works_when_the_host_replaced_stderr():
    # Textual replaces sys.stderr with a capture whose fileno() is -1; multiprocessing hands
    # sys.stderr's descriptor to the servers it starts, which failed ("fds_to_keep") in the
    # real TUI. A fresh interpreter, so that no earlier test has started the servers.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        from libsim import simulate, simulate_many
        from libsim.spec import FlowSpec, LinkSpec, NetworkSpec

        class Capture:
            def write(self, text): return len(text)
            def flush(self): pass
            def fileno(self): return -1

        nets = [
            NetworkSpec(
                nodes=("a", "b"),
                links=(LinkSpec("l", "full_duplex", ("a", "b"), 1e7, 0.001),),
                flows=(FlowSpec("a", "b", frames=2, fps=0, payload_bytes=1000 * (i + 1)),),
                protocol="udp",
            )
            for i in range(3)
        ]
        capture = Capture()
        sys.stderr = capture
        results = dict(simulate_many(nets, processes=2))
        assert sys.stderr is capture
        for i, net in enumerate(nets):
            assert results[i].flows[0].frames == simulate(net).flows[0].frames
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
