"""Scenario model: built-ins, typed values, routing, network spec, compute profiles, saving."""

import os
import stat
from pathlib import Path

import pytest

from libsim.spec import BurstLoss, FlowSpec, LinkSpec, TcpConfig
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import (
    ComputeProfile,
    Flow,
    Link,
    Node,
    Transport,
    builtin_scenario,
    builtin_scenario_names,
    dump_scenario,
    load_scenario,
    parse_scenario,
    resolve_scenario,
    save_scenario,
)

REPO = Path(__file__).resolve().parent.parent


def test_builtin_names_and_top_level_symlink():
    assert builtin_scenario_names() == ["demo", "four-cameras", "lan", "lte", "three-tier"]
    link = REPO / "scenarios"
    assert link.is_symlink()
    assert os.readlink(link) == "sei_tui/scenarios"
    assert sorted(p.name for p in link.glob("*.toml")) == [
        "demo.toml",
        "four-cameras.toml",
        "lan.toml",
        "lte.toml",
        "three-tier.toml",
    ]


def test_demo_is_camera_wifi_ap_ethernet_server():
    demo = builtin_scenario("demo")
    assert [(n.name, n.role) for n in demo.nodes] == [
        ("camera", "edge"),
        ("ap", "relay"),
        ("server", "server"),
    ]
    wifi, ethernet = demo.links
    assert (wifi.kind, wifi.nodes, wifi.bitrate_bps, wifi.delay_s) == (
        "wireless",
        ("camera", "ap"),
        54_000_000.0,
        0.000001,
    )
    assert (ethernet.kind, ethernet.bitrate_bps, ethernet.delay_s) == (
        "full_duplex",
        1_000_000_000.0,
        0.002,
    )
    assert demo.route("camera", "server") == ["camera", "ap", "server"]
    assert demo.edge_node().name == "camera"
    assert demo.server_node().name == "server"
    assert demo.compute_of("camera") == ComputeProfile(
        "pi4", "gflops", gflops=8.0, active_w=6.4, idle_w=2.7
    )
    assert demo.compute_of("server").gflops == 8100.0
    assert demo.compute_of("ap") is None


def test_builtin_character():
    lan, lte, four = (builtin_scenario(n) for n in ("lan", "lte", "four-cameras"))
    assert all(link.kind == "full_duplex" for link in lan.links)
    # LTE: long round trip, slower uplink than the LAN, some loss
    rtt_lte = 2 * sum(link.delay_s for link in lte.links)
    rtt_lan = 2 * sum(link.delay_s for link in lan.links)
    assert rtt_lte >= 0.04 > rtt_lan
    assert min(link.bitrate_bps for link in lte.links) < min(k.bitrate_bps for k in lan.links)
    assert any(link.loss > 0 for link in lte.links)
    wifi = next(link for link in four.links if link.kind == "wireless")
    cameras = [n.name for n in four.nodes if n.role == "edge"]
    assert len(cameras) == 4 and set(cameras) < set(wifi.nodes)
    assert sorted(flow.src for flow in four.flows) == sorted(cameras)


def test_resolve_accepts_builtin_name_or_path(tmp_path, monkeypatch):
    assert resolve_scenario("lan") == builtin_scenario("lan")
    path = tmp_path / "lan"
    path.write_text(dump_scenario(builtin_scenario("demo")))
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("lan").name == builtin_scenario("demo").name  # a file wins
    with pytest.raises(SeiInputError, match="no such built-in scenario"):
        builtin_scenario("mars")


MINIMAL = """
[[node]]
name = "a"
role = "edge"
[[node]]
name = "b"
role = "server"
[[link]]
name = "ab"
kind = "full_duplex"
nodes = ["a", "b"]
bitrate = 1e6
[[flow]]
from = "a"
to = "b"
"""


def test_defaults_follow_the_format():
    scenario = parse_scenario(MINIMAL, "/somewhere/minimal.toml")
    assert scenario.name == "minimal"  # no name: the file's stem
    assert scenario.transport == Transport("tcp", 1500, 1, TcpConfig())
    assert scenario.transport.tcp == TcpConfig(10, 0.2, True, 0.04, 4_194_304, True)
    assert scenario.links == [Link("ab", "full_duplex", ("a", "b"), 1e6, 0.0, 0.0, 38, 100)]
    assert scenario.flows == [Flow("a", "b", frames=1, fps=0.0, payload_bytes=None)]
    with pytest.raises(SeiInputError, match=r"flow\[0\]\.payload_bytes: not set"):
        scenario.to_network()


def test_to_network_applies_overrides_to_every_flow():
    four = builtin_scenario("four-cameras")
    plain = four.to_network()
    assert plain.protocol == "udp" and plain.seed == 1 and plain.mtu == 1500
    assert plain.flows[0] == FlowSpec("camera-1", "server", 20, 5.0, 150_528)
    assert plain.links[0] == LinkSpec(
        "wifi",
        "wireless",
        ("camera-1", "camera-2", "camera-3", "camera-4", "ap"),
        54e6,
        1e-6,
        0.0,
        36,
        100,
        None,
    )
    changed = four.to_network(payload_bytes="1.5MB", frames=3, fps=0, protocol="tcp", seed=9)
    assert changed.protocol == "tcp" and changed.seed == 9
    assert {f.payload_bytes for f in changed.flows} == {1_500_000}
    assert {(f.frames, f.fps) for f in changed.flows} == {(3, 0.0)}
    assert changed.nodes == ("camera-1", "camera-2", "camera-3", "camera-4", "ap", "server")


def test_route_is_shortest_by_hops():
    text = (
        MINIMAL
        + """
[[node]]
name = "r1"
role = "relay"
[[node]]
name = "r2"
role = "relay"
[[link]]
name = "a-r1"
kind = "half_duplex"
nodes = ["a", "r1"]
bitrate = "1Gbps"
[[link]]
name = "r1-r2"
kind = "wireless"
nodes = ["r1", "r2", "b"]
bitrate = "1Gbps"
"""
    )
    scenario = parse_scenario(text)
    assert scenario.route("a", "b") == ["a", "b"]
    assert scenario.route("r2", "a") == ["r2", "r1", "a"]
    assert scenario.route("a", "a") == ["a"]
    unlinked = scenario.add_node("lonely", "relay")
    assert unlinked.route("a", "lonely") is None


def test_compute_profile_forms_and_relative_profile_path(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    text = MINIMAL.replace('role = "edge"', 'role = "edge"\ncompute = "board"').replace(
        'role = "server"', 'role = "server"\ncompute = "rack"'
    )
    text += """
[compute.board]
profile = "profiles/board.json"
slowdown = 4.0
[compute.rack]
host = true
[compute."spare one"]
gflops = 13.5
"""
    path = folder / "site.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    board = scenario.compute["board"]
    assert board == ComputeProfile(
        "board", "profile", profile_path=folder / "profiles" / "board.json", slowdown=4.0
    )
    assert scenario.compute["rack"] == ComputeProfile("rack", "host")
    assert scenario.compute["spare one"].gflops == 13.5
    # written back relative to the file, so the folder can move
    assert 'profile = "profiles/board.json"' in dump_scenario(scenario)
    assert '[compute."spare one"]' in dump_scenario(scenario)
    moved = tmp_path / "elsewhere" / "copy.toml"
    moved.parent.mkdir()
    saved = save_scenario(scenario, moved)
    assert saved.compute["board"].profile_path == folder / "profiles" / "board.json"
    assert 'profile = "../site/profiles/board.json"' in moved.read_text()


@pytest.mark.parametrize("name", ["demo", "lan", "lte", "four-cameras", "three-tier"])
def test_builtin_round_trip(name):
    scenario = builtin_scenario(name)
    again = parse_scenario(dump_scenario(scenario), scenario.source)
    assert again == scenario
    assert dump_scenario(again) == dump_scenario(scenario)


def test_round_trip_keeps_burst_tcp_and_unusual_names():
    scenario = (
        builtin_scenario("demo")
        .with_link("wifi", burst=BurstLoss(0.01, 0.3, 0.5, 0.001))
        .with_tcp(min_rto="1s", delayed_ack=False, rwnd="64KiB")
        .with_node("ap", name='ap "north" \\ 1')
        .with_name('quotes " and ünïcode ✓')
    )
    text = dump_scenario(scenario)
    assert "[link.burst]" in text and "[transport.tcp]" in text
    again = parse_scenario(text, scenario.source)
    assert again == scenario
    assert again.transport.tcp.rwnd == 65_536
    assert again.links[0].burst == BurstLoss(0.01, 0.3, 0.5, 0.001)
    assert again.route("camera", "server") == ["camera", 'ap "north" \\ 1', "server"]


def test_save_is_atomic_and_keeps_permissions(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    demo = builtin_scenario("demo")
    saved = save_scenario(demo, path)
    assert saved == demo and saved.source == path
    assert load_scenario(path) == demo
    os.chmod(path, 0o640)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SeiInputError, match="cannot write: disk full"):
        save_scenario(demo.with_protocol("udp"), path)
    assert path.read_text() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]  # no temp left
    monkeypatch.undo()
    save_scenario(demo.with_protocol("udp"), path)
    assert load_scenario(path).transport.protocol == "udp"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(SeiInputError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SeiInputError, match="not UTF-8"):
        load_scenario(bad)


def test_nodes_links_flows_are_typed():
    demo = builtin_scenario()
    assert isinstance(demo.nodes[0], Node)
    assert isinstance(demo.links[0].nodes, tuple)
    assert isinstance(demo.flows[0].payload_bytes, int)
    assert isinstance(demo.links[0].bitrate_bps, float)


IDLE_SCENARIO = """\
name = "idle gaps"
[transport]
protocol = "tcp"
{tcp}
[[node]]
name = "cam"
role = "edge"
[[node]]
name = "srv"
role = "server"
[[link]]
name = "cable"
kind = "full_duplex"
nodes = ["cam", "srv"]
bitrate = "100Mbps"
delay = "10ms"
[[flow]]
from = "cam"
to = "srv"
frames = 3
fps = 2
payload_bytes = "200kB"
"""


def test_tcp_idle_restart_defaults_to_true_and_is_not_written():
    scenario = parse_scenario(IDLE_SCENARIO.format(tcp=""), "idle.toml")
    assert scenario.transport.tcp.idle_restart is True
    assert scenario.to_network().tcp.idle_restart is True
    assert "idle_restart" not in dump_scenario(scenario)


def test_tcp_idle_restart_false_parses_dumps_and_round_trips():
    text = IDLE_SCENARIO.format(tcp="[transport.tcp]\nidle_restart = false\n")
    scenario = parse_scenario(text, "idle.toml")
    assert scenario.transport.tcp.idle_restart is False
    assert scenario.to_network().tcp == TcpConfig(idle_restart=False)
    dumped = dump_scenario(scenario)
    assert "idle_restart = false" in dumped
    assert parse_scenario(dumped, "idle.toml") == scenario
    assert builtin_scenario("lan").with_tcp(idle_restart=False).transport.tcp.idle_restart is False


def test_tcp_idle_restart_reaches_the_simulator():
    from libsim import simulate

    # A 40 ms delayed ACK (the default, written out): with 0.2 s (= min_rto) spurious
    # timeouts collapse the window after every frame, idle or not, and hide the difference.
    tcp = "[transport.tcp]\nack_delay = 0.04\n"
    restart = parse_scenario(IDLE_SCENARIO.format(tcp=tcp), "idle.toml")
    keep = parse_scenario(IDLE_SCENARIO.format(tcp=tcp + "idle_restart = false\n"), "idle.toml")
    with_restart = simulate(restart.to_network()).flows[0].frames
    without = simulate(keep.to_network()).flows[0].frames
    # 500 ms of idle > RTO: with restart every frame slow-starts from the initial window again,
    # without it later frames reuse the window the first one grew, so they finish sooner.
    assert with_restart[0].latency_s == without[0].latency_s
    assert restart.to_network().tcp.idle_restart and not keep.to_network().tcp.idle_restart
    for a, b in zip(with_restart[1:], without[1:], strict=True):
        assert b.latency_s < a.latency_s


def test_save_into_a_directory_is_one_clear_error(tmp_path):
    with pytest.raises(SeiInputError, match=r"is a directory \(name a file"):
        save_scenario(builtin_scenario("demo"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_edge_and_server_compute_names_the_node_without_one():
    demo = builtin_scenario("demo")
    edge, server = demo.edge_and_server_compute()
    assert (edge.gflops, server.gflops) == (8.0, 8100.0)
    bare = parse_scenario(IDLE_SCENARIO.format(tcp=""), "bare.toml")
    bare.to_network()  # simulating needs no compute
    with pytest.raises(SeiInputError, match=r"bare.toml: node\[0\].compute: the edge node \"cam\""):
        bare.edge_and_server_compute()


@pytest.mark.parametrize(
    ("override", "key", "shown", "problem"),
    [
        ({"payload_bytes": 0}, "payload_bytes", "0", "must be 1..2^40 bytes"),
        ({"frames": 10_000_001}, "frames", "10000001", "must be 1..10000000"),
        ({"fps": -0.5}, "fps", "-0.5", "must be in [0, 1e9]"),
        ({"protocol": "sctp"}, "protocol", '"sctp"', "must be one of tcp, udp"),
        ({"seed": 2**63}, "seed", str(2**63), "must be 0..2^63 - 1"),
    ],
)
def test_override_errors_name_the_key_so_front_ends_can_name_their_flag(
    override, key, shown, problem
):
    with pytest.raises(SeiInputError) as caught:
        builtin_scenario("demo").to_network(**override)
    error = caught.value
    assert (error.key, error.shown, error.problem) == (key, shown, problem)
    assert str(error).endswith(f"{key} = {shown}: {problem}")
    assert str(error.renamed("--flag")) == f"--flag = {shown}: {problem}"
    assert str(error.renamed("--flag", "typed")) == f"--flag = typed: {problem}"


def test_overrides_that_exceed_the_run_limits_together_are_refused():
    # UDP at mtu 1500: 1472 payload bytes per datagram; 10^8 datagrams per flow at most
    scenario = builtin_scenario("demo").with_protocol("udp")
    scenario.to_network(payload_bytes=100 * 1472, frames=1_000_000)  # exactly 10^8
    with pytest.raises(SeiInputError, match=r"flow\[0\]: 1000000 frames x 101 datagrams"):
        scenario.to_network(payload_bytes=100 * 1472 + 1, frames=1_000_000)


def test_three_tier_has_an_edge_box_with_compute_and_energy():
    scenario = builtin_scenario("three-tier")
    roles = [(n.name, n.role) for n in scenario.nodes]
    assert roles == [("camera", "edge"), ("edgebox", "relay"), ("cloud", "server")]
    box = scenario.compute_of("edgebox")
    assert box is not None and box.kind == "gflops" and box.gflops == 236.0
    assert box.active_w == 10.0 and box.idle_w == 1.25
    links = {link.name: link for link in scenario.links}
    assert links["wifi"].kind == "wireless" and links["wifi"].bitrate_bps == 54e6
    assert links["wan"].bitrate_bps == 20e6 and links["wan"].delay_s == 0.015
    assert links["wifi"].tx_j_per_byte == 1.9e-6
    edge, server = scenario.edge_and_server_compute()
    assert (edge.gflops, server.gflops) == (8.0, 8100.0)
