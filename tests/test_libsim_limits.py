"""Limits are defined once (libsim.h): the scenario layer and the C API accept and refuse the
same values at every boundary, and the error kinds carry the C status."""

import copy
import math
import pickle
from dataclasses import replace

import pytest
import tomli_w

import libsim
from libsim import limits
from libsim.spec import BurstLoss, FlowSpec, LinkSpec, NetworkSpec, TcpConfig
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import parse_scenario

BASE_DOC = {
    "name": "limits",
    "transport": {"protocol": "tcp", "mtu": 1500, "seed": 1, "tcp": {}},
    "node": [{"name": "a", "role": "edge"}, {"name": "b", "role": "server"}],
    "link": [{"name": "l", "kind": "full_duplex", "nodes": ["a", "b"], "bitrate": 1e6}],
    "flow": [{"from": "a", "to": "b", "frames": 1, "fps": 0, "payload_bytes": 1000}],
}
BASE_NET = NetworkSpec(
    nodes=("a", "b"),
    links=(LinkSpec("l", "full_duplex", ("a", "b"), 1e6, 0.0),),
    flows=(FlowSpec("a", "b", 1, 0.0, 1000),),
)
BURST = {"p_good_to_bad": 0.1, "p_bad_to_good": 0.5, "loss_bad": 0.5, "loss_good": 0.0}


def _set_link(net, **changes):
    return replace(net, links=(replace(net.links[0], **changes),))


def _set_flow(net, **changes):
    return replace(net, flows=(replace(net.flows[0], **changes),))


def _set_burst(net, **changes):
    burst = replace(BurstLoss(**BURST), **changes)
    return _set_link(net, burst=burst)


# name -> (limit, where the value goes in the TOML document, where it goes in the NetworkSpec)
SETTINGS = {
    "mtu": (limits.MTU, ("transport", "mtu"), lambda n, v: replace(n, mtu=v)),
    "seed": (limits.SEED, ("transport", "seed"), lambda n, v: replace(n, seed=v)),
    "initial_window": (
        limits.INITIAL_WINDOW,
        ("transport", "tcp", "initial_window"),
        lambda n, v: replace(n, tcp=TcpConfig(initial_window=v)),
    ),
    "min_rto": (
        limits.MIN_RTO,
        ("transport", "tcp", "min_rto"),
        lambda n, v: replace(n, tcp=TcpConfig(min_rto=v)),
    ),
    "ack_delay": (
        limits.ACK_DELAY,
        ("transport", "tcp", "ack_delay"),
        lambda n, v: replace(n, tcp=TcpConfig(ack_delay=v)),
    ),
    "rwnd": (
        limits.RWND,
        ("transport", "tcp", "rwnd"),
        lambda n, v: replace(n, tcp=TcpConfig(rwnd=v)),
    ),
    "bitrate": (limits.BITRATE, ("link", 0, "bitrate"), lambda n, v: _set_link(n, bitrate_bps=v)),
    "delay": (limits.DELAY, ("link", 0, "delay"), lambda n, v: _set_link(n, delay_s=v)),
    "loss": (limits.LOSS, ("link", 0, "loss"), lambda n, v: _set_link(n, loss=v)),
    "overhead_bytes": (
        limits.OVERHEAD_BYTES,
        ("link", 0, "overhead_bytes"),
        lambda n, v: _set_link(n, overhead_bytes=v),
    ),
    "queue_packets": (
        limits.QUEUE_PACKETS,
        ("link", 0, "queue_packets"),
        lambda n, v: _set_link(n, queue_packets=v),
    ),
    "burst.p_good_to_bad": (
        limits.PROBABILITY,
        ("link", 0, "burst", "p_good_to_bad"),
        lambda n, v: _set_burst(n, p_good_to_bad=v),
    ),
    "burst.loss_bad": (
        limits.PROBABILITY,
        ("link", 0, "burst", "loss_bad"),
        lambda n, v: _set_burst(n, loss_bad=v),
    ),
    "burst.loss_good": (
        limits.LOSS,
        ("link", 0, "burst", "loss_good"),
        lambda n, v: _set_burst(n, loss_good=v),
    ),
    "frames": (limits.FRAMES, ("flow", 0, "frames"), lambda n, v: _set_flow(n, frames=v)),
    "fps": (limits.FPS, ("flow", 0, "fps"), lambda n, v: _set_flow(n, fps=v)),
    "payload_bytes": (
        limits.PAYLOAD_BYTES,
        ("flow", 0, "payload_bytes"),
        lambda n, v: _set_flow(n, payload_bytes=v),
    ),
}


def _step(value, direction):
    """The next representable value past `value` in `direction` (+1 / -1)."""
    if isinstance(value, int):
        return value + direction
    return math.nextafter(value, math.inf * direction)


def _boundary_cases():
    """(setting, value, accepted) at each bound of each limit and just past it, with the
    expectation read from the bound's kind in libsim.h (_MIN/_MAX inclusive, _ABOVE/_BELOW
    exclusive)."""
    for name, (limit, _, _) in SETTINGS.items():
        if limit.low is not None:
            yield name, limit.low, not limit.low_open
            yield name, _step(limit.low, -1 if not limit.low_open else +1), limit.low_open
        if limit.high is not None:
            yield name, limit.high, not limit.high_open
            yield name, _step(limit.high, +1 if not limit.high_open else -1), limit.high_open


def _document(path, value):
    doc = copy.deepcopy(BASE_DOC)
    if path[:3] == ("link", 0, "burst"):
        doc["link"][0]["burst"] = dict(BURST)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def _scenario_accepts(doc) -> bool:
    try:
        parse_scenario(tomli_w.dumps(doc), "limits.toml")
    except SeiInputError:
        return False
    return True


def _c_api_accepts(net) -> bool:
    try:
        libsim.check_network(net)
    except libsim.LibsimInputError:
        return False
    return True


@pytest.mark.parametrize(("name", "value", "accepted"), list(_boundary_cases()))
def test_scenario_and_c_api_agree_at_every_boundary(name, value, accepted):
    limit, path, set_net = SETTINGS[name]
    assert _scenario_accepts(_document(path, value)) is accepted
    assert _c_api_accepts(set_net(BASE_NET, value)) is accepted


def test_the_reconciled_drifts_have_one_answer():
    # min_rto = 0 (no floor: the RTO keeps RFC 6298's G term) is accepted everywhere;
    # a flow of 0 frames is refused everywhere.
    for name, value, accepted in (("min_rto", 0.0, True), ("frames", 0, False)):
        limit, path, set_net = SETTINGS[name]
        assert limit.admits(value) is accepted
        assert _scenario_accepts(_document(path, value)) is accepted
        assert _c_api_accepts(set_net(BASE_NET, value)) is accepted


def test_rwnd_must_hold_one_segment_in_both_layers():
    mss = 1500 - 40  # IPv4 + TCP headers, no options
    for rwnd, accepted in ((mss, True), (mss - 1, False)):
        doc = _document(("transport", "tcp", "rwnd"), rwnd)
        assert _scenario_accepts(doc) is accepted
        assert _c_api_accepts(replace(BASE_NET, tcp=TcpConfig(rwnd=rwnd))) is accepted


def test_frames_of_all_flows_together_and_udp_datagrams_agree():
    half = 10_000_000 // 2
    for second, accepted in ((half, True), (half + 1, False)):
        doc = _document(("flow", 0, "frames"), half)
        doc["flow"].append({"from": "a", "to": "b", "frames": second, "payload_bytes": 10})
        net = replace(
            BASE_NET, flows=(FlowSpec("a", "b", half, 0.0, 10), FlowSpec("a", "b", second, 0.0, 10))
        )
        assert _scenario_accepts(doc) is accepted
        assert _c_api_accepts(net) is accepted
    # UDP: 1e6 frames x ceil(payload / 1472) datagrams against 1e8 per flow
    for payload, accepted in ((100 * 1472, True), (100 * 1472 + 1, False)):
        doc = _document(("flow", 0, "payload_bytes"), payload)
        doc["flow"][0]["frames"] = 1_000_000
        doc["transport"]["protocol"] = "udp"
        net = replace(_set_flow(BASE_NET, frames=1_000_000, payload_bytes=payload), protocol="udp")
        assert _scenario_accepts(doc) is accepted
        assert _c_api_accepts(net) is accepted


def test_wireless_station_count_agrees():
    for count, accepted in ((1, False), (2, True), (1000, True), (1001, False)):
        names = [f"n{i}" for i in range(max(count, 2))]
        doc = copy.deepcopy(BASE_DOC)
        doc["node"] = [
            {"name": n, "role": "edge" if i == 0 else "server"} for i, n in enumerate(names)
        ]
        doc["link"] = [{"name": "air", "kind": "wireless", "nodes": names[:count], "bitrate": 1e6}]
        doc["flow"][0].update({"from": "n0", "to": "n1"})
        if count == 1:  # n1 exists but is not on the medium: both layers refuse the medium first
            doc["link"].append(
                {"name": "l", "kind": "full_duplex", "nodes": ["n0", "n1"], "bitrate": 1e6}
            )
        net = NetworkSpec(
            nodes=tuple(names),
            links=(LinkSpec("air", "wireless", tuple(names[:count]), 1e6, 0.0),),
            flows=(FlowSpec("n0", "n1", 1, 0.0, 1000),),
        )
        assert _scenario_accepts(doc) is accepted, count
        assert _c_api_accepts(net) is accepted, count


def test_burst_that_never_recovers_is_refused_by_both():
    for p_good_to_bad, accepted in ((0.1, False), (0.0, True)):
        doc = _document(("link", 0, "burst", "p_bad_to_good"), 0.0)
        doc["link"][0]["burst"]["p_good_to_bad"] = p_good_to_bad
        net = _set_burst(BASE_NET, p_bad_to_good=0.0, p_good_to_bad=p_good_to_bad)
        assert _scenario_accepts(doc) is accepted
        assert _c_api_accepts(net) is accepted


def test_limits_read_the_header_values():
    # spot checks against libsim.h as written (a changed header must change this test too)
    assert (limits.MTU.low, limits.MTU.high) == (68, 65535)
    assert limits.BITRATE.low == 0.0 and limits.BITRATE.low_open and limits.BITRATE.high == 1e15
    assert limits.LOSS.high == 1.0 and limits.LOSS.high_open
    assert limits.PAYLOAD_BYTES.high == 2**40 and limits.SEED.high == 2**63 - 1
    assert limits.FRAMES.describe() == "must be 1..10000000"
    assert limits.BITRATE.describe() == "must be in (0, 1e15] bit/s"
    assert limits.LOSS.describe() == "must be in [0, 1)"


# --- error kinds ---------------------------------------------------------------------------


def test_every_c_status_has_an_error_kind():
    from libsim._libsim_cffi import lib

    statuses = {name for name in dir(lib) if name.startswith("LIBSIM_ERR_")}
    assert statuses == {f"LIBSIM_ERR_{suffix}" for suffix in libsim.errors.KIND_OF_STATUS}
    expected = {
        "ARGUMENT": libsim.LibsimInputError,
        "RUNTIME": libsim.LibsimInputError,
        "INTERRUPTED": libsim.LibsimInterrupted,
        "MEMORY": libsim.LibsimInternalError,
        "INTERNAL": libsim.LibsimInternalError,
    }
    for suffix, cls in expected.items():
        status = getattr(lib, f"LIBSIM_ERR_{suffix}")
        error = libsim.errors.error_for_status(lib, status, "m")
        assert type(error) is cls and error.status == status and str(error) == "m"
    assert type(libsim.errors.error_for_status(lib, 99, "")) is libsim.LibsimInternalError


def test_invalid_input_carries_the_argument_status():
    from libsim._libsim_cffi import lib

    with pytest.raises(libsim.LibsimInputError) as caught:
        libsim.simulate(_set_link(BASE_NET, bitrate_bps=0.0))
    assert caught.value.status == lib.LIBSIM_ERR_ARGUMENT and caught.value.kind == "input"
    assert isinstance(caught.value, ValueError)  # as LibsimError was before the kinds


def test_a_run_past_the_time_horizon_is_input_with_the_runtime_status():
    from libsim._libsim_cffi import lib

    with pytest.raises(libsim.LibsimInputError, match="exceed") as caught:
        libsim.simulate(
            replace(_set_link(BASE_NET, bitrate_bps=1e-3), flows=(FlowSpec("a", "b", 1, 0, 10**6),))
        )
    assert caught.value.status == lib.LIBSIM_ERR_RUNTIME


def test_errors_survive_the_trip_from_a_worker_process():
    error = libsim.LibsimInterrupted("interrupted", 5)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is libsim.LibsimInterrupted
    assert (str(again), again.status, again.kind) == ("interrupted", 5, "interrupted")


def test_a_value_c_cannot_hold_is_input_not_a_crash():
    with pytest.raises(libsim.LibsimInputError, match="queue_packets"):
        libsim.check_network(_set_link(BASE_NET, queue_packets=2**40))
