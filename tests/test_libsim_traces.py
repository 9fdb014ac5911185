"""Trace-driven links in the simulator, checked against formulas worked out by hand:
a constant trace is the fixed-bitrate link bit for bit; a step trace ends a transfer at the
piecewise formula; Mahimahi opportunities carry k * 1500 * 8 * 1000 bit/s and follow
Mahimahi's rule for packets larger than what is left of an opportunity; loop and start;
an 802.11 exchange takes the data rate in force when it starts; the C API's refusals."""

import math
from dataclasses import replace

import pytest

import libsim
from libsim import limits
from libsim.spec import FlowSpec, LinkSpec, NetworkSpec, OpportunityTrace, RateTrace

UDP_HEADER = 28  # IPv4 20 + UDP 8


def _net(
    trace=None,
    *,
    kind="full_duplex",
    bitrate=8e6,
    delay=0.001,
    protocol="udp",
    frames=1,
    fps=0.0,
    payload=1_000_000,
    overhead=0,
    mtu=1500,
    loss=0.0,
    stations=2,
):
    nodes = tuple(f"n{i}" for i in range(stations if kind == "wireless" else 2))
    link = LinkSpec("l", kind, nodes, bitrate, delay, loss, overhead, 100, trace=trace)
    return NetworkSpec(
        nodes=nodes,
        links=(link,),
        flows=(FlowSpec("n0", "n1", frames, fps, payload),),
        protocol=protocol,
        mtu=mtu,
    )


def _outcome(result):
    """Everything a run reports except its wall time."""
    return (result.flows, result.events, result.link_packets)


def _udp_wire_bits(payload, mtu=1500, overhead=0):
    per = mtu - UDP_HEADER
    datagrams = math.ceil(payload / per)
    return 8 * (payload + datagrams * (UDP_HEADER + overhead))


# --- a constant trace is the fixed link -----------------------------------------------------


@pytest.mark.parametrize("kind", ["full_duplex", "half_duplex", "wireless"])
@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_a_constant_trace_gives_bit_identical_results(kind, protocol):
    fixed = _net(kind=kind, protocol=protocol, bitrate=20e6, frames=12, fps=30, payload=90_000,
                 overhead=38, loss=0.01, stations=3)  # fmt: skip
    rows = RateTrace((0.0,), (20e6,), 1.0)
    # the same rate in several rows, looping, and a loss column equal to the link's loss
    repeated = RateTrace((0.0, 0.1, 0.25), (20e6,) * 3, 0.3, loss=(0.01,) * 3, loop=True)
    reference = _outcome(libsim.simulate(fixed))
    assert (
        _outcome(libsim.simulate(replace(fixed, links=(replace(fixed.links[0], trace=rows),))))
        == reference
    )
    with_column = replace(fixed.links[0], loss=0.0, trace=repeated)
    assert _outcome(libsim.simulate(replace(fixed, links=(with_column,)))) == reference  # fmt: skip


# --- a step trace: the piecewise formula ------------------------------------------------------


def _piecewise_end(bits, rows, start=0.0):
    """When `bits` sent from `start` have left: rows = [(from_s, rate)], last holds forever."""
    t = start
    for (begin, rate), (end, _) in zip(rows, [*rows[1:], (math.inf, 0.0)], strict=True):
        if end <= t:
            continue
        span = end - max(t, begin)
        if rate * span >= bits:
            return max(t, begin) + bits / rate
        bits -= rate * span
        t = end
    raise AssertionError("unreachable: the last row holds forever")


@pytest.mark.parametrize(
    ("r1", "t", "r2"),
    [(8e6, 0.5, 4e6), (2e6, 0.25, 20e6), (8e6, 5.0, 1e6)],  # down, up, never reached
)
def test_a_step_trace_ends_a_transfer_at_the_piecewise_formula(r1, t, r2):
    payload, delay = 1_000_000, 0.001
    bits = _udp_wire_bits(payload)
    # B <= r1 t: B / r1; else t + (B - r1 t) / r2; plus the propagation delay
    expected = (bits / r1 if bits <= r1 * t else t + (bits - r1 * t) / r2) + delay
    if (r1, t) == (8e6, 0.5):  # 680 datagrams, 1 019 040 bytes: 0.5 + 4 152 320 / 4e6 + 1 ms
        assert bits == 8_152_320 and math.isclose(expected, 1.53908)
    result = libsim.simulate(_net(RateTrace((0.0, t), (r1, r2), 2 * t), delay=delay))
    assert result.flows[0].frames[0].latency_s == pytest.approx(expected, abs=1e-9)


def test_an_outage_row_pauses_the_packet_on_the_wire():
    # 12e6 bits: 8e6 in [0, 1), nothing in [1, 2), the last 4e6 at 8 Mbit/s: 2.5 s
    payload = 1_470_000  # 1000 datagrams of 1470 + 28 bytes = 1 498 000 bytes
    bits = _udp_wire_bits(payload)
    rows = [(0.0, 8e6), (1.0, 0.0), (2.0, 8e6)]
    trace = RateTrace((0.0, 1.0, 2.0), (8e6, 0.0, 8e6), 3.0)
    result = libsim.simulate(_net(trace, delay=0.0, payload=payload))
    assert result.flows[0].frames[0].latency_s == pytest.approx(
        _piecewise_end(bits, rows), abs=1e-9
    )
    assert _piecewise_end(bits, rows) == pytest.approx(2.0 + (bits - 8e6) / 8e6)


def test_loop_and_start_by_hand():
    # rows: 8 Mbit/s on [0, 1), 2 Mbit/s on [1, 2); duration 2 s. 10e6 bits from trace time 1.5:
    # loop: 0.5 s at 2e6 (1e6) + 1 s at 8e6 (8e6) + 0.5 s at 2e6 (1e6) = 2.0 s
    # no loop: the last row (2e6) holds from 1.5 on: 10e6 / 2e6 = 5 s
    payload = 1_224_000  # 850 datagrams of 1440 + 28: 1 247 800 bytes = 9 982 400 bits
    bits = _udp_wire_bits(payload, mtu=1468)
    assert bits == 9_982_400
    looping = RateTrace((0.0, 1.0), (8e6, 2e6), 2.0, loop=True, start_s=1.5)
    result = libsim.simulate(_net(looping, delay=0.0, payload=payload, mtu=1468))
    # 1e6 + 8e6 in the first 1.5 s, the last 982 400 bits at 2e6
    assert result.flows[0].frames[0].latency_s == pytest.approx(1.5 + 982_400 / 2e6, abs=1e-9)
    holding = replace(looping, loop=False)
    result = libsim.simulate(_net(holding, delay=0.0, payload=payload, mtu=1468))
    assert result.flows[0].frames[0].latency_s == pytest.approx(bits / 2e6, abs=1e-9)
    # a start past the duration of a looping trace wraps: 3.5 s is 1.5 s into the trace
    wrapped = replace(looping, start_s=3.5)
    result = libsim.simulate(_net(wrapped, delay=0.0, payload=payload, mtu=1468))
    assert result.flows[0].frames[0].latency_s == pytest.approx(1.5 + 982_400 / 2e6, abs=1e-9)


def test_loss_and_delay_columns_follow_the_rows():
    # 10 frames at 10 fps, one datagram each: rows switch the delay from 5 ms to 50 ms at
    # 0.45 s and the loss to 1 - 2^-53 (every packet lost) at 0.75 s
    payload = 1000
    wire = (payload + UDP_HEADER) * 8 / 1e6  # 8.224 ms at 1 Mbit/s
    trace = RateTrace(
        (0.0, 0.45, 0.75), (1e6,) * 3, 1.0,
        loss=(0.0, 0.0, math.nextafter(1.0, 0.0)), delay_s=(0.005, 0.05, 0.05),
    )  # fmt: skip
    result = libsim.simulate(_net(trace, delay=0.0, frames=10, fps=10, payload=payload))
    frames = result.flows[0].frames
    for frame in frames[:5]:  # last bit leaves at i / 10 + 8.224 ms < 0.45 s
        assert frame.latency_s == pytest.approx(wire + 0.005, abs=1e-9)
    for frame in frames[5:8]:
        assert frame.latency_s == pytest.approx(wire + 0.05, abs=1e-9)
    assert all(frame.delivered_s is None for frame in frames[8:])


def test_a_shrinking_delay_never_reorders_packets():
    # two datagrams back to back: the first leaves at 1.5 ms (delay 100 ms), the second at
    # 3 ms in a row with delay 0: it waits for the first (arrives at 101.5 ms, not 3 ms)
    trace = RateTrace((0.0, 0.002), (8e6, 8e6), 1.0, delay_s=(0.1, 0.0))
    result = libsim.simulate(_net(trace, delay=0.0, payload=2 * 1472, frames=1))
    assert result.flows[0].frames[0].latency_s == pytest.approx(0.1015, abs=1e-9)


# --- Mahimahi -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 10])
def test_k_opportunities_per_millisecond_deliver_k_1500_8_1000_bits_per_second(k):
    # one period of 1000 ms, k opportunities at each of 1..1000 ms, looping; 1500-byte
    # datagrams use one opportunity each
    trace = OpportunityTrace(tuple(ms for ms in range(1, 1001) for _ in range(k)), loop=True)
    datagrams = 4000 * k  # 4 s of traffic
    result = libsim.simulate(_net(trace, delay=0.0, payload=datagrams * 1472))
    elapsed = result.flows[0].frames[0].latency_s
    rate = datagrams * 1500 * 8 / elapsed
    assert rate == pytest.approx(k * 1500 * 8 * 1000, rel=1e-3)
    assert elapsed == pytest.approx(datagrams / k / 1000, abs=1e-12)  # exactly: ms of the last


def test_a_packet_larger_than_an_opportunity_follows_mahimahis_rule():
    # 2000-byte packets, one 1500-byte opportunity each ms from 1 ms: packet 1 takes opp 1 and
    # 500 bytes of opp 2 (leaves at 2 ms); packet 2 the 1000 left and 1000 of opp 3 (3 ms);
    # packet 3 the 500 left and all of opp 4 (4 ms); packet 4 opp 5 and 500 of opp 6 (6 ms)
    trace = OpportunityTrace(tuple(range(1, 101)), loop=True)
    net = _net(trace, delay=0.0, frames=4, payload=2000 - UDP_HEADER, mtu=2000, overhead=38)
    delivered = [frame.delivered_s for frame in libsim.simulate(net).flows[0].frames]
    assert delivered == pytest.approx([0.002, 0.003, 0.004, 0.006], abs=1e-12)


def test_the_rest_of_an_opportunity_is_lost_when_nothing_is_queued():
    # 750-byte datagrams at 0 and 1.5 ms, opportunities at 1, 2, 3 ms: the first leaves at 1 ms
    # with 750 bytes unused; the second was not queued at 1 ms and leaves at 2 ms
    trace = OpportunityTrace((1, 2, 3, 4), loop=True)
    net = _net(trace, delay=0.0, frames=2, fps=1 / 0.0015, payload=750 - UDP_HEADER)
    delivered = [frame.delivered_s for frame in libsim.simulate(net).flows[0].frames]
    assert delivered == pytest.approx([0.001, 0.002], abs=1e-12)


def test_mahimahi_loop_no_loop_and_start():
    # opportunities at 2 and 10 ms (period 10 ms), four 1500-byte datagrams sent at once:
    # loop: 2, 10, 12, 20 ms; no loop: the mean rate (2 per 10 ms) continues: 2, 10, 15, 20;
    # loop from trace time 5 ms: trace 10, 12, 20, 22 = simulated 5, 7, 15, 17 ms
    def delivered(trace):
        net = _net(trace, delay=0.0, frames=4, payload=1472)
        return [frame.delivered_s for frame in libsim.simulate(net).flows[0].frames]

    assert delivered(OpportunityTrace((2, 10), loop=True)) == pytest.approx(
        [0.002, 0.010, 0.012, 0.020], abs=1e-12
    )
    assert delivered(OpportunityTrace((2, 10))) == pytest.approx(
        [0.002, 0.010, 0.015, 0.020], abs=1e-12
    )
    assert delivered(OpportunityTrace((2, 10), loop=True, start_s=0.005)) == pytest.approx(
        [0.005, 0.007, 0.015, 0.017], abs=1e-12
    )


# --- wireless -----------------------------------------------------------------------------------


def _ofdm_airtime(ip_bytes, rate):
    """802.11g ERP-OFDM: preamble + SIGNAL 20 us, 4 us symbols of rate * 4 us bits carrying
    SERVICE (16) + 8 * bytes + tail (6), signal extension 6 us."""
    return 20e-6 + math.ceil((22 + 8 * ip_bytes) / (rate * 4e-6)) * 4e-6 + 6e-6


def test_a_wireless_exchange_takes_the_rate_when_it_starts():
    # One 1500-byte datagram: the medium is idle, so it goes DIFS (28 us) after 0, when the
    # trace (54 Mbit/s until 10 us) is at 12 Mbit/s: 28 + 20 + 251 * 4 + 6 = 1058 us
    trace = RateTrace((0.0, 1e-5), (54e6, 12e6), 1.0)
    result = libsim.simulate(_net(trace, kind="wireless", delay=0.0, payload=1472))
    expected = 28e-6 + _ofdm_airtime(1500, 12e6)
    assert expected == pytest.approx(1058e-6)
    assert result.flows[0].frames[0].latency_s == pytest.approx(expected, abs=1e-12)
    # at 54 Mbit/s throughout: 28 + 20 + ceil(12022 / 216) * 4 + 6 = 278 us
    fast = libsim.simulate(_net(RateTrace((0.0,), (54e6,), 1.0), kind="wireless", delay=0.0,
                                payload=1472))  # fmt: skip
    assert fast.flows[0].frames[0].latency_s == pytest.approx(278e-6, abs=1e-12)


# --- the C API refuses what it cannot run -------------------------------------------------------


@pytest.mark.parametrize(
    ("trace", "changes", "message"),
    [
        (RateTrace((0.5,), (1e6,), 1.0), {}, "must be 0"),
        (RateTrace((0.0, 2.0, 1.0), (1e6,) * 3, 3.0), {}, "after the previous row"),
        (RateTrace((0.0,), (-1.0,), 1.0), {}, "bitrate = -1"),
        (RateTrace((0.0, 1.0), (1e6, 1e6), 1.0), {}, "duration"),
        (RateTrace((0.0, 1.0), (1e6, 0.0), 2.0), {}, "last rate is 0"),
        (RateTrace((0.0,), (0.0,), 1.0, loop=True), {}, "every rate"),
        (RateTrace((0.0,), (1e6,), 1.0, start_s=-1.0), {}, "start"),
        (RateTrace((0.0,), (1e6,), 1.0, loss=(0.1,)), {"loss": 0.1}, "loss replaces"),
        (RateTrace((0.0,), (1e6,), 1.0, delay_s=(0.1,)), {"delay_s": 0.1}, "delay replaces"),
        (RateTrace((0.0,), (1e6,), 1.0, loss=(1.0,)), {"loss": 0.0}, "loss = 1"),
        (RateTrace((0.0, 1.0), (1e6, 0.0), 2.0, loop=True), {"kind": "wireless"}, "> 0"),
        (OpportunityTrace((2, 1)), {}, "before the previous"),
        (OpportunityTrace((0, 0)), {}, "last a while"),
        (OpportunityTrace((1, -1)), {}, "must be between"),
        (OpportunityTrace((1, 2)), {"kind": "wireless"}, "cannot drive a wireless link"),
        (OpportunityTrace(()), {}, "rows"),
    ],
)
def test_the_c_api_refuses_a_trace_it_cannot_run(trace, changes, message):
    net = _net(trace, delay=0.0)
    net = replace(net, links=(replace(net.links[0], **changes),))
    with pytest.raises(libsim.LibsimInputError, match=message) as caught:
        libsim.check_network(net)
    assert "link 'l'" in str(caught.value)


def test_the_trace_limits_are_the_headers():
    assert (limits.TRACE_ROWS.low, limits.TRACE_ROWS.high) == (1, 10_000_000)
    assert (limits.TRACE_BITRATE.low, limits.TRACE_BITRATE.high) == (0.0, 1e15)
    assert (limits.TRACE_TIME.low, limits.TRACE_TIME.high) == (0.0, 1e6)
    assert (limits.TRACE_MS.low, limits.TRACE_MS.high) == (0, 10**9)
    assert limits.OPPORTUNITY_BYTES == 1500


@pytest.mark.parametrize(
    ("make", "limit", "accepted"),
    [
        (lambda v: RateTrace((0.0,), (v,), 1.0), limits.TRACE_BITRATE.high, True),
        (lambda v: RateTrace((0.0,), (v,), 1.0), math.nextafter(1e15, math.inf), False),
        (lambda v: RateTrace((0.0,), (1e6,), 1.0, start_s=v), limits.TRACE_TIME.high, True),
        (lambda v: RateTrace((0.0,), (1e6,), 1.0, start_s=v), 1e6 * (1 + 1e-15), False),
        (lambda v: RateTrace((0.0,), (1e6,), v), limits.TRACE_TIME.high, True),
        (lambda v: RateTrace((0.0,), (1e6,), v), 1e6 * (1 + 1e-15), False),
        (lambda v: OpportunityTrace((v,)), limits.TRACE_MS.high, True),
        (lambda v: OpportunityTrace((v,)), limits.TRACE_MS.high + 1, False),
    ],
)
def test_the_c_api_accepts_exactly_the_header_ranges(make, limit, accepted):
    try:
        libsim.check_network(_net(make(limit)))
    except libsim.LibsimInputError:
        assert not accepted
    else:
        assert accepted


def test_a_trace_network_survives_a_worker_process():
    trace = RateTrace((0.0, 0.5), (8e6, 4e6), 1.0)
    nets = [_net(trace, payload=p) for p in (100_000, 1_000_000)]
    local = [_outcome(libsim.simulate(net)) for net in nets]
    remote = [
        _outcome(r) for _, r in sorted(libsim.simulate_many(nets, processes=2), key=lambda x: x[0])
    ]
    assert remote == local
