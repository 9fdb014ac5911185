"""parse(dump(s)) == s for generated scenarios: every value survives the text form exactly."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libsim.spec import LINK_KINDS, RECOVERY_EXITS, RTO_SSTHRESHES, BurstLoss, TcpConfig
from sei_tui.core.network.scenario import (
    ComputeProfile,
    Flow,
    Link,
    Node,
    Scenario,
    Transport,
    dump_scenario,
    parse_scenario,
)

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=10
).filter(lambda text: text == text.strip())
# the ranges the format accepts (libsim.h's limits, read through libsim.limits), edges included
positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
bitrates = st.floats(min_value=0.0, max_value=1e15, exclude_min=True)
delays = st.floats(min_value=0.0, max_value=1000.0)
timers = st.floats(min_value=0.0, max_value=60.0, exclude_min=True)  # tcp.ack_delay
min_rtos = st.floats(min_value=0.0, max_value=60.0)
rates = st.floats(min_value=0.0, max_value=1e9)
probability = st.floats(min_value=0.0, max_value=1.0)
below_one = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@st.composite
def compute_profiles(draw, name):
    kind = draw(st.sampled_from(["gflops", "profile", "host"]))
    if kind == "gflops":
        return ComputeProfile(name, "gflops", gflops=draw(positive))
    slowdown = draw(st.one_of(st.just(1.0), positive))
    if kind == "host":
        return ComputeProfile(name, "host", slowdown=slowdown)
    folder = draw(st.sampled_from(["/profiles", "/srv/sei/p r o f"]))
    return ComputeProfile(
        name, "profile", profile_path=Path(folder) / f"{name}.json", slowdown=slowdown
    )


@st.composite
def burst_losses(draw):
    p_bad_to_good = draw(st.floats(min_value=0.0, max_value=1.0, exclude_min=True))
    return BurstLoss(draw(probability), p_bad_to_good, draw(probability), draw(below_one))


@st.composite
def scenarios(draw):
    node_names = draw(
        st.lists(names.filter(lambda n: "/" not in n), min_size=2, max_size=5, unique=True)
    )
    profile_names = draw(st.lists(names.filter(lambda n: "/" not in n), max_size=3, unique=True))
    compute = {name: draw(compute_profiles(name)) for name in profile_names}
    nodes = []
    for index, name in enumerate(node_names):
        if index == 0:
            role = "edge"
        elif index == len(node_names) - 1:
            role = "server"
        else:
            role = draw(st.sampled_from(["edge", "relay", "server"]))
        profile = None
        if role != "relay" and compute:
            profile = draw(st.one_of(st.none(), st.sampled_from(sorted(compute))))
        nodes.append(Node(name, role, profile))
    links = []
    link_names = draw(
        st.lists(names, min_size=len(node_names) - 1, max_size=len(node_names) - 1, unique=True)
    )
    for index, link_name in enumerate(link_names):
        kind = draw(st.sampled_from(LINK_KINDS))
        ends = (node_names[index], node_names[index + 1])
        if kind == "wireless":
            others = [n for n in node_names if n not in ends]
            ends = (
                ends + tuple(draw(st.lists(st.sampled_from(others), unique=True)))
                if others
                else ends
            )
        burst = draw(st.one_of(st.none(), burst_losses()))
        links.append(
            Link(
                name=link_name,
                kind=kind,
                nodes=ends,
                bitrate_bps=draw(bitrates),
                delay_s=draw(delays),
                loss=0.0 if burst is not None else draw(below_one),
                overhead_bytes=draw(st.integers(0, 65535)),
                queue_packets=draw(st.integers(1, 10**8)),
                burst=burst,
            )
        )
    endpoints = [node.name for node in nodes if node.role != "relay"]
    pairs = [(a, b) for a in endpoints for b in endpoints if a != b]
    mtu = draw(st.integers(68, 65535))
    protocol = draw(st.sampled_from(["tcp", "udp"]))
    ends = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=3))
    flows = []
    for src, dst in ends:
        # at most 10^7 frames in all flows together, and 10^8 datagrams per UDP flow
        frames = draw(st.integers(1, 10**7 // len(ends)))
        largest = 2**40 if protocol == "tcp" else (10**8 // frames) * (mtu - 28)
        payload = draw(st.one_of(st.none(), st.integers(1, largest)))
        if draw(st.booleans()):  # one size per frame: their count is the frame count
            frames = draw(st.integers(1, 5))
            largest = 2**40 if protocol == "tcp" else min(2**40, (10**8 // frames) * (mtu - 28))
            payload = tuple(
                draw(st.lists(st.integers(1, largest), min_size=frames, max_size=frames))
            )
        flows.append(Flow(src, dst, frames=frames, fps=draw(rates), payload_bytes=payload))
    tcp = TcpConfig(
        initial_window=draw(st.integers(1, 10**6)),
        min_rto=draw(min_rtos),
        delayed_ack=draw(st.booleans()),
        ack_delay=draw(timers),
        rwnd=draw(st.integers(mtu - 40, 2**40)),
        handshake=draw(st.booleans()),
        idle_restart=draw(st.booleans()),
        recovery_exit=draw(st.sampled_from(RECOVERY_EXITS)),
        rto_ssthresh=draw(st.sampled_from(RTO_SSTHRESHES)),
    )
    transport = Transport(
        protocol=protocol,
        mtu=mtu,
        seed=draw(st.integers(0, 2**63 - 1)),
        tcp=tcp,
    )
    return Scenario(
        name=draw(names),
        transport=transport,
        nodes=nodes,
        links=links,
        flows=flows,
        compute=compute,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_generated_scenarios_round_trip(scenario):
    scenario.validate()  # the generator builds valid scenarios only
    text = dump_scenario(scenario)
    again = parse_scenario(text)
    assert again == scenario
    assert dump_scenario(again) == text


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_round_trip_through_a_file_keeps_profile_paths(tmp_path_factory, scenario):
    folder = tmp_path_factory.mktemp("rt")
    path = folder / "s.toml"
    path.write_text(dump_scenario(scenario, base_dir=folder), encoding="utf-8")
    again = parse_scenario(path.read_text(encoding="utf-8"), source=path)
    assert again == scenario
    for name, profile in again.compute.items():
        assert profile.profile_path == scenario.compute[name].profile_path
