"""TCP leaving fast recovery (`recovery_exit`) and ssthresh after a timeout during recovery
(`rto_ssthresh`): timings worked out by hand on a path with one deterministic loss, the
options' values at the C boundary, and the previous release's results under the old rules."""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import pytest

from libsim import (
    RECOVERY_EXITS,
    RTO_SSTHRESHES,
    FlowSpec,
    LibsimInputError,
    LinkSpec,
    NetworkSpec,
    TcpConfig,
    simulate,
)

MSS = 1460
WIRE = MSS + 40 + 38  # IP packet + link-layer overhead (default 38 bytes)
ACK_WIRE = 40 + 38
FAST, SLOW = 1e9, 10e6  # bit/s
D1, D2 = 0.0001, 0.001  # s: propagation delay of each link

ALL_RULES = [
    TcpConfig(recovery_exit=exit_rule, rto_ssthresh=rto_rule)
    for exit_rule, rto_rule in product(RECOVERY_EXITS, RTO_SSTHRESHES)
]


def one_drop_path(recovery_exit: str, rto_ssthresh: str = "flightsize") -> NetworkSpec:
    """sender -(1 Gbit/s)- router -(10 Mbit/s, 8 queued packets)- receiver; two frames of
    19 segments, one second apart; the receive window holds 10 segments.

    Frame 0: the initial window (10 segments) reaches the router within 10 x 12 us, while
    the slow link needs 1.23 ms per packet: 1 in service + 8 queued, segment 10 is dropped.
    Segments 11..19 leave as ACKs open the receive window; 11, 12, 13 give three duplicate
    ACKs, with 10 segments (10..19) in flight: ssthresh = 5 MSS. Nothing new can be sent
    during recovery (window full, frame written), so the retransmitted segment 10 brings
    the full ACK of all 19 segments with FlightSize = 0: cwnd = ssthresh = 5 MSS, or
    min(ssthresh, max(0, MSS) + MSS) = 2 MSS under option 1. No timeout (min_rto 1 s).
    """
    return NetworkSpec(
        nodes=("sender", "router", "receiver"),
        links=(
            LinkSpec("fast", "full_duplex", ("sender", "router"), FAST, D1, queue_packets=1000),
            LinkSpec("slow", "full_duplex", ("router", "receiver"), SLOW, D2, queue_packets=8),
        ),
        flows=(FlowSpec("sender", "receiver", 2, 1.0, 19 * MSS),),
        tcp=TcpConfig(
            handshake=False,
            rwnd=10 * MSS,
            idle_restart=False,
            min_rto=1.0,
            ack_delay=0.04,
            recovery_exit=recovery_exit,
            rto_ssthresh=rto_ssthresh,
        ),
    )


# Per packet: t1 on the fast link, t2 on the slow one; a1, a2 for a 40-byte ACK.
T1, T2 = WIRE * 8 / FAST, WIRE * 8 / SLOW
A1, A2 = ACK_WIRE * 8 / FAST, ACK_WIRE * 8 / SLOW
TAU = T1 + D1  # a segment sent at T is at the router at T + TAU
# A window opened at T: the 2nd segment is acknowledged at once and that ACK is back at
# the sender after ROUND (the slow link is idle when the first segment arrives).
ROUND = TAU + 2 * T2 + D2 + A2 + D2 + A1 + D1


def test_one_drop_path_loses_exactly_segment_ten_once():
    for rule in RECOVERY_EXITS:
        flow = simulate(one_drop_path(rule)).flows[0]
        assert flow.summary.packets_lost == 1
        assert flow.summary.retransmissions == 1
        assert flow.summary.packets_sent == 2 * 19 + 1
        assert all(frame.complete for frame in flow.frames)


def test_recovery_exit_ssthresh_restarts_at_five_segments():
    # cwnd = ssthresh = 5 MSS keeps the slow link busy from frame 1's first segment to its
    # last (5 x t2 = 6.2 ms > the 2.3 ms the ACK clock needs): 19 back-to-back packets.
    # A cwnd above 9 segments would have overflowed the router's queue (a second loss).
    frames = simulate(one_drop_path("ssthresh")).flows[0].frames
    assert frames[1].latency_s == pytest.approx(TAU + 19 * T2 + D2, abs=2e-9)


def test_recovery_exit_flightsize_restarts_at_two_segments():
    # cwnd = 2 MSS, slow start up to ssthresh = 5: round 1 sends 2 segments, the ACK of
    # both (2 full segments: at once) is back after ROUND, cwnd 3: segments 3, 4, 5; the
    # ACK of 3+4 is back after another ROUND, cwnd 4: segments 6, 7, 8. From then on the
    # ACK clock keeps the slow link busy: the link ends segment 8 at 2 ROUND + TAU + 3 t2,
    # then carries segments 9..19 back to back.
    frames = simulate(one_drop_path("flightsize")).flows[0].frames
    assert frames[1].latency_s == pytest.approx(2 * ROUND + TAU + 14 * T2 + D2, abs=2e-9)


def test_recovery_exit_only_changes_what_follows_the_full_ack():
    # Frame 0 ends with the full ACK: the same under both rules (and equal to the 19 packets
    # back to back on the slow link: the retransmission fills the slot of the dropped one).
    ssthresh = simulate(one_drop_path("ssthresh")).flows[0].frames[0]
    flightsize = simulate(one_drop_path("flightsize")).flows[0].frames[0]
    assert ssthresh.latency_s == flightsize.latency_s
    assert ssthresh.latency_s == pytest.approx(TAU + 19 * T2 + D2, abs=2e-9)


def test_rto_ssthresh_does_nothing_without_a_timeout_in_recovery():
    for exit_rule in RECOVERY_EXITS:
        keep = simulate(one_drop_path(exit_rule, "keep")).flows[0]
        halve = simulate(one_drop_path(exit_rule, "flightsize")).flows[0]
        assert keep == halve


def _lossless(protocol: str = "tcp", tcp: TcpConfig | None = None) -> NetworkSpec:
    return NetworkSpec(
        nodes=("a", "b", "c"),
        links=(
            LinkSpec("ab", "full_duplex", ("a", "b"), 20e6, 0.003),
            LinkSpec("bc", "full_duplex", ("b", "c"), 5e6, 0.01, queue_packets=1000),
        ),
        flows=(FlowSpec("a", "c", 6, 4.0, 200_000), FlowSpec("c", "a", 3, 0.0, 50_000)),
        protocol=protocol,
        tcp=tcp or TcpConfig(),
    )


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_lossless_runs_are_identical_under_every_rule(protocol):
    # No loss: no recovery and no timeout, so the rules never apply.
    results = [simulate(_lossless(protocol, tcp)) for tcp in ALL_RULES]
    for result in results[1:]:
        assert result.flows == results[0].flows
        assert result.events == results[0].events


def _lossy(loss: float, seed: int, tcp: TcpConfig) -> NetworkSpec:
    link = LinkSpec("l", "full_duplex", ("s", "r"), 100e6, 0.005, loss=loss, overhead_bytes=2)
    link = replace(link, queue_packets=10_000)
    return NetworkSpec(
        nodes=("s", "r"),
        links=(link,),
        flows=(FlowSpec("s", "r", 1, 0.0, 2_000_000),),
        seed=seed,
        tcp=tcp,
    )


# (loss, seed) -> (transfer time s, retransmissions) of the release before recovery_exit
# and rto_ssthresh existed (main at 1dede9d, tcp defaults), which used option 1 and RFC
# 5681's ssthresh: the old rules must reproduce them bit for bit.
PREVIOUS_RELEASE = {
    (0.005, 1): (0.93079712, 7),
    (0.005, 3): (1.35174928, 12),
    (0.005, 6): (0.48826848, 14),
    (0.02, 1): (2.586308, 22),
    (0.02, 4): (3.22783056, 29),
    (0.02, 6): (4.08361504, 39),
}


def test_old_rules_reproduce_the_previous_release():
    # the previous release: its rules and its default ack_delay (0.2 s, now 0.04 s)
    old = TcpConfig(recovery_exit="flightsize", rto_ssthresh="flightsize", ack_delay=0.2)
    for (loss, seed), (seconds, retransmissions) in PREVIOUS_RELEASE.items():
        flow = simulate(_lossy(loss, seed, old)).flows[0]
        assert flow.frames[0].latency_s == seconds
        assert flow.summary.retransmissions == retransmissions


def test_rto_ssthresh_changes_runs_with_timeouts_during_recovery():
    # At 2 % loss on data and ACKs, some recoveries end in a timeout: "keep" must change
    # some runs (the option reaches the engine).
    differ = 0
    for seed in range(1, 21):
        keep = simulate(_lossy(0.02, seed, TcpConfig(rto_ssthresh="keep"))).flows[0]
        halve = simulate(_lossy(0.02, seed, TcpConfig())).flows[0]
        differ += keep.frames[0].latency_s != halve.frames[0].latency_s
    assert differ > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recovery_exit", "cwnd"),
        ("recovery_exit", 0),
        ("recovery_exit", None),
        ("rto_ssthresh", "ns3"),
        ("rto_ssthresh", "Keep"),
        ("rto_ssthresh", 1),
    ],
)
def test_bad_rule_is_input_error_naming_the_field(field, value):
    net = replace(_lossless(), tcp=replace(TcpConfig(), **{field: value}))
    with pytest.raises(LibsimInputError, match=rf"^tcp\.{field} = .*must be one of"):
        simulate(net)


def test_c_api_refuses_unknown_rule_values():
    from libsim import native

    ffi, lib = native.load()
    err = ffi.new("char[]", 256)
    out = ffi.new("libsim_network **")
    for field, bad, message in (
        ("recovery_exit", 2, b"tcp.recovery_exit = 2: must be ssthresh (0) or flightsize (1)"),
        ("rto_ssthresh", -1, b"tcp.rto_ssthresh = -1: must be flightsize (0) or keep (1)"),
    ):
        tcp = ffi.new("libsim_tcp_config *")
        tcp.initial_window, tcp.min_rto, tcp.ack_delay, tcp.rwnd = 10, 0.2, 0.2, 65535
        setattr(tcp, field, bad)
        status = lib.libsim_network_new(lib.LIBSIM_TCP, 1500, 1, tcp, out, err, len(err))
        assert status == lib.LIBSIM_ERR_ARGUMENT
        assert ffi.string(err) == message
    # The C values: zero (a zeroed struct, as from older callers' memset) is the default.
    assert lib.LIBSIM_RECOVERY_EXIT_SSTHRESH == 0 and lib.LIBSIM_RECOVERY_EXIT_FLIGHTSIZE == 1
    assert lib.LIBSIM_RTO_SSTHRESH_FLIGHTSIZE == 0 and lib.LIBSIM_RTO_SSTHRESH_KEEP == 1


def test_defaults_are_ssthresh_exit_and_rfc5681_timeout():
    assert TcpConfig().recovery_exit == "ssthresh"
    assert TcpConfig().rto_ssthresh == "flightsize"
    assert RECOVERY_EXITS == ("ssthresh", "flightsize")
    assert RTO_SSTHRESHES == ("flightsize", "keep")
