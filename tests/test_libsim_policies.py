"""Flow policies in the simulator, checked against choices worked out by hand: on a step
trace the perfect-estimate policy makes the oracle's (per-frame best static) choices after
each change plus its hysteresis delay; EWMA and harmonic estimates follow a reference
implementation of their formulas over the deliveries; a constant trace gives no switch and
the best static row; a one-candidate policy is the fixed flow bit for bit; the C API's
refusals are one line."""

import math
from dataclasses import replace

import pytest

import libsim
from libsim import Candidate, FlowPolicy
from libsim.spec import FlowSpec, LinkSpec, NetworkSpec, RateTrace

UDP_HEADER = 28  # IPv4 20 + UDP 8
DATAGRAM = 1500 - UDP_HEADER
DELAY = 0.01
FPS = 2.0  # every transfer below ends well within the 0.5 s between frames: no backlog

# (fixed_s, payload bytes): a remote-like, a split-like and a local-like deployment.
CANDIDATES = ((0.005, 40_000), (0.05, 10_000), (0.12, 1_000))
# Rates every 5 s (10 frames each): 16 Mbit/s, 2 Mbit/s, 0.8 Mbit/s, 16 Mbit/s.
STEP_TIMES = (0.0, 5.0, 10.0, 15.0)
STEP_RATES = (16e6, 2e6, 0.8e6, 16e6)
FRAMES = 40


def _wire_bits(payload):
    return 8 * (payload + math.ceil(payload / DATAGRAM) * UDP_HEADER)


def _net(rates, times, frames, policy=None, protocol="udp", payload=1000):
    trace = RateTrace(tuple(times), tuple(rates), duration_s=times[-1] + 5.0)
    link = LinkSpec("l", "full_duplex", ("a", "b"), 1e6, DELAY, 0.0, 0, 1000, trace=trace)
    flow = FlowSpec("a", "b", frames, FPS, payload, policy=policy)
    return NetworkSpec(nodes=("a", "b"), links=(link,), flows=(flow,), protocol=protocol)


def _policy(estimator="perfect", **settings):
    return FlowPolicy(
        candidates=tuple(Candidate(size, fixed) for fixed, size in CANDIDATES),
        estimator=estimator,
        base_delay_s=DELAY,
        **settings,
    )


def _segment_best(rate):
    """By hand: the candidate with the smallest fixed + UDP transfer + propagation."""
    latency = [fixed + _wire_bits(size) / rate + DELAY for fixed, size in CANDIDATES]
    return min(range(len(CANDIDATES)), key=latency.__getitem__)


def test_the_hand_computed_segment_choices_differ():
    # The test below is only meaningful if the best deployment changes with every step.
    assert [_segment_best(r) for r in STEP_RATES] == [0, 1, 2, 0]


@pytest.mark.parametrize("hold", [1, 3])
def test_perfect_adaptive_makes_the_oracles_choices_after_each_change_plus_its_hold(hold):
    best = [_segment_best(r) for r in STEP_RATES]
    # The oracle: per frame, the static run (one per candidate) with the smallest latency.
    static = []
    for fixed, size in CANDIDATES:
        flow = libsim.simulate(_net(STEP_RATES, STEP_TIMES, FRAMES, payload=size)).flows[0]
        latencies = [fixed + f.latency_s for f in flow.frames]
        for k, latency in enumerate(latencies):  # each static frame at its segment's formula
            rate = STEP_RATES[int(k / FPS // 5)]
            assert latency == pytest.approx(fixed + _wire_bits(size) / rate + DELAY, abs=1e-9)
        static.append(latencies)
    oracle = [min(range(3), key=lambda c, k=k: static[c][k]) for k in range(FRAMES)]
    assert oracle == [best[int(k / FPS // 5)] for k in range(FRAMES)]
    policy = _policy(margin=0.05, hold_frames=hold)
    for protocol in ("udp", "tcp"):
        run = libsim.simulate(_net(STEP_RATES, STEP_TIMES, FRAMES, policy, protocol))
        choices = run.flows[0].choices
        changes = [int(t * FPS) for t in STEP_TIMES[1:]]  # first frame after each change
        for s, first in enumerate([0, *changes]):
            end = changes[s] if s < len(changes) else FRAMES
            settle = first if s == 0 else first + hold - 1
            assert list(choices[settle:end]) == oracle[settle:end], (protocol, s)
            # ... and within the hold, the deployment in use before the change.
            assert list(choices[first:settle]) == [best[s - 1]] * (settle - first)
        assert sum(a != b for a, b in zip(choices, choices[1:], strict=False)) == 3


def _reference_choices(estimator, rates, times, frames, alpha=0.5, window=3, prior=8e6):
    """The policy of libsim.h by hand: no backlog (every frame delivered before the next is
    due), margin 0, hold 1; a delivery's sample is bits / (transfer time)."""
    samples, choices = [], []
    deliveries = []  # (delivered_s, sample)
    for k in range(frames):
        now = k / FPS
        seen = [s for t, s in deliveries if t <= now]
        if not seen:
            estimate = prior
        elif estimator == "ewma":
            estimate = seen[0]
            for s in seen[1:]:
                estimate = alpha * s + (1 - alpha) * estimate
        else:
            last = seen[-window:]
            estimate = len(last) / sum(1 / s for s in last)
        predicted = [fixed + DELAY + size * 8 / estimate for fixed, size in CANDIDATES]
        choice = min(range(len(CANDIDATES)), key=predicted.__getitem__)
        choices.append(choice)
        rate = rates[max(i for i, t in enumerate(times) if t <= now)]
        transfer = _wire_bits(CANDIDATES[choice][1]) / rate
        samples.append(CANDIDATES[choice][1] * 8 / transfer)
        deliveries.append((now + transfer + DELAY, samples[-1]))
    return choices


@pytest.mark.parametrize(
    ("estimator", "settings"),
    [("ewma", {"alpha": 0.5}), ("ewma", {"alpha": 0.2}), ("harmonic", {"window": 3})],
)
def test_estimators_follow_their_formulas_over_the_deliveries(estimator, settings):
    rates, times = (16e6, 2e6, 0.8e6), (0.0, 4.0, 8.0)
    policy = _policy(estimator, margin=0.0, hold_frames=1, prior_bps=8e6, **settings)
    run = libsim.simulate(_net(rates, times, 30, policy))
    expected = _reference_choices(estimator, rates, times, 30, **settings)
    assert list(run.flows[0].choices) == expected
    assert len(set(expected)) == 3  # the estimate crossed both thresholds


def test_ewma_and_harmonic_differ_where_their_formulas_do():
    # After the drop to 2 Mbit/s, alpha = 0.2 keeps the old rate longer than harmonic(1).
    rates, times = (16e6, 2e6, 0.8e6), (0.0, 4.0, 8.0)
    slow = _reference_choices("ewma", rates, times, 30, alpha=0.2)
    fast = _reference_choices("harmonic", rates, times, 30, window=1)
    assert slow != fast
    run = libsim.simulate(
        _net(
            rates,
            times,
            30,
            _policy("harmonic", margin=0.0, hold_frames=1, window=1, prior_bps=8e6),
        )
    )
    assert list(run.flows[0].choices) == fast


@pytest.mark.parametrize("estimator", ["ewma", "harmonic", "perfect"])
def test_a_constant_trace_gives_no_switch_and_the_best_static_row(estimator):
    rate = 2e6
    policy = _policy(estimator, prior_bps=rate)
    run = libsim.simulate(_net((rate,), (0.0,), 20, policy))
    static_mean = []
    for fixed, size in CANDIDATES:
        flow = libsim.simulate(_net((rate,), (0.0,), 20, payload=size)).flows[0]
        static_mean.append(sum(fixed + f.latency_s for f in flow.frames) / 20)
    best = min(range(3), key=static_mean.__getitem__)
    assert best == _segment_best(rate) == 1
    assert run.flows[0].choices == (best,) * 20
    adaptive = [CANDIDATES[best][0] + f.latency_s for f in run.flows[0].frames]
    assert sum(adaptive) / 20 == pytest.approx(static_mean[best], abs=1e-12)


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
@pytest.mark.parametrize("sizes", [3000, (3000, 70_000, 500, 12_000) * 5])
def test_a_one_candidate_policy_runs_exactly_as_the_fixed_flow(protocol, sizes):
    fixed = _net(STEP_RATES, STEP_TIMES, 20, protocol=protocol, payload=sizes)
    policy = FlowPolicy(candidates=(Candidate(sizes, 0.01),), estimator="ewma")
    adaptive = replace(fixed, flows=(replace(fixed.flows[0], policy=policy),))
    a, b = libsim.simulate(fixed), libsim.simulate(adaptive)
    assert a.flows[0].frames == b.flows[0].frames
    assert a.flows[0].summary == b.flows[0].summary
    assert (a.events, a.link_packets) == (b.events, b.link_packets)
    assert a.flows[0].choices is None and b.flows[0].choices == (0,) * 20


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"alpha": 0.0}, "alpha = 0: must be in (0, 1]"),
        ({"alpha": 1.5}, "alpha = 1.5"),
        ({"window": 0}, "window = 0"),
        ({"margin": 1.0}, "margin = 1: must be in [0, 1)"),
        ({"hold_frames": 0}, "hold_frames = 0"),
        ({"prior_bps": 0.0}, "prior_bps = 0"),
        ({"base_delay_s": -1.0}, "base_delay_s = -1"),
        ({"candidates": ()}, "0 candidates: must be between 1 and"),
        ({"candidates": (Candidate(0, 0.0),)}, "candidate 0: payload_bytes = 0"),
        ({"candidates": (Candidate(10, -1.0),)}, "candidate 0: fixed_s = -1"),
        ({"candidates": (Candidate((1, 2), 0.0),)}, "candidate 0: 2 payload sizes"),
        ({"estimator": "oracle"}, "estimator = 'oracle': must be one of ewma, harmonic"),
    ],
)
def test_bad_policies_are_refused_in_one_line(changes, fragment):
    policy = replace(_policy(), **changes)
    with pytest.raises(libsim.LibsimInputError) as info:
        libsim.simulate(_net(STEP_RATES, STEP_TIMES, 4, policy))
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert "a->b" in message  # the flow is named


def test_the_c_api_refuses_without_aborting():
    from libsim._libsim_cffi import ffi, lib

    err = ffi.new("char[]", 256)
    out = ffi.new("libsim_network **")
    assert lib.libsim_network_new(lib.LIBSIM_UDP, 1500, 1, ffi.NULL, out, err, 256) == 0
    net = out[0]
    try:
        for _ in range(2):
            assert lib.libsim_add_node(net, ffi.NULL, err, 256) == 0
        link = ffi.new("libsim_link_config *", {"kind": 0, "bitrate_bps": 1e6, "queue_packets": 5})
        nodes = ffi.new("int32_t[]", [0, 1])
        assert lib.libsim_add_link(net, link, nodes, 2, err, 256) == 0
        flow = ffi.new(
            "libsim_flow_config *", {"src": 0, "dst": 1, "frames": 2, "payload_bytes": 10}
        )
        assert lib.libsim_add_flow(net, flow, err, 256) == 0
        config = ffi.new(
            "libsim_policy_config *",
            {
                "estimator": 1,
                "alpha": 0.3,
                "window": 5,
                "margin": 0.1,
                "hold_frames": 2,
                "prior_bps": 1e6,
            },
        )
        candidate = ffi.new("libsim_candidate[]", [{"payload_bytes": 100, "fixed_s": 0.0}])
        bad = lib.LIBSIM_ERR_ARGUMENT
        assert lib.libsim_set_flow_policy(ffi.NULL, 0, config, candidate, 1, err, 256) == bad
        assert lib.libsim_set_flow_policy(net, 3, config, candidate, 1, err, 256) == bad
        assert b"flow index 3 out of range" in ffi.string(err)
        assert lib.libsim_set_flow_policy(net, 0, ffi.NULL, candidate, 1, err, 256) == bad
        assert lib.libsim_set_flow_policy(net, 0, config, ffi.NULL, 1, err, 256) == bad
        assert b"candidates is NULL" in ffi.string(err)
        assert lib.libsim_set_flow_policy(net, 0, config, candidate, 0, err, 256) == bad
        config.estimator = 9
        assert lib.libsim_set_flow_policy(net, 0, config, candidate, 1, err, 256) == bad
        assert b"estimator = 9" in ffi.string(err)
        config.estimator = 0
        config.alpha = math.nan
        assert lib.libsim_set_flow_policy(net, 0, config, candidate, 1, err, 256) == bad
        config.alpha = 0.5
        sizes = ffi.new("int64_t[]", [5, 0])
        per_frame = ffi.new("libsim_candidate[]", [{"payload_sizes": sizes, "fixed_s": 0.0}])
        assert lib.libsim_set_flow_policy(net, 0, config, per_frame, 1, err, 256) == bad
        assert b"payload_sizes[1] = 0" in ffi.string(err)
        assert lib.libsim_set_flow_policy(net, 0, config, candidate, 1, err, 256) == 0
        assert lib.libsim_set_flow_policy(net, 0, config, candidate, 1, err, 256) == bad
        assert b"already has one" in ffi.string(err)
        result = ffi.new("libsim_result **")
        assert lib.libsim_run(net, result, err, 256) == 0
        try:
            chosen = ffi.new("int32_t[]", 2)
            assert lib.libsim_result_choices(result[0], 0, chosen, 2, err, 256) == 0
            assert list(chosen) == [0, 0]
            assert lib.libsim_result_choices(result[0], 1, chosen, 2, err, 256) == bad
            assert lib.libsim_result_choices(result[0], 0, ffi.NULL, 2, err, 256) == bad
        finally:
            lib.libsim_result_free(result[0])
    finally:
        lib.libsim_network_free(net)


def test_the_perfect_estimate_counts_mahimahi_opportunities_in_the_next_second():
    # 1 opportunity per ms (12 Mbit/s) for 4 s, then 1 per 10 ms (1.2 Mbit/s) until 8 s.
    times = tuple(range(1, 4001)) + tuple(range(4010, 8001, 10))
    trace = libsim.OpportunityTrace(times)
    link = LinkSpec("l", "full_duplex", ("a", "b"), 1e6, DELAY, 0.0, 0, 1000, trace=trace)
    policy = _policy(margin=0.0, hold_frames=1)
    flow = FlowSpec("a", "b", 16, FPS, 1000, policy=policy)
    net = NetworkSpec(nodes=("a", "b"), links=(link,), flows=(flow,), protocol="udp")
    choices = libsim.simulate(net).flows[0].choices

    def by_hand(rate):  # predicted as the policy does: fixed + propagation + bits / rate
        predicted = [fixed + DELAY + size * 8 / rate for fixed, size in CANDIDATES]
        return min(range(3), key=predicted.__getitem__)

    # Frames whose next second lies within one part of the trace (t <= 3 s, 4 s <= t <= 7 s).
    assert list(choices[:7]) == [by_hand(12e6)] * 7 == [0] * 7
    assert list(choices[8:15]) == [by_hand(1.2e6)] * 7 == [1] * 7
