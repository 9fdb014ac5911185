"""`sei simulate`: JSON shape per cli.md, overrides, human tables, and end to end on libsim."""

import json
import math

import pytest

import libsim
from libsim.spec import FlowResult, FlowSummary, FrameResult, SimResult
from sei_tui.cli import main

CLI_TOP_KEYS = {"scenario", "protocol", "seed", "flows", "events", "wall_s"}
CLI_FLOW_KEYS = {"from", "to", "frames", "summary"}
CLI_FRAME_KEYS = {"index", "sent_s", "delivered_s", "latency_s", "complete", "lost_bytes"}
CLI_SUMMARY_KEYS = {
    "frames",
    "complete",
    "mean_s",
    "p50_s",
    "p95_s",
    "p99_s",
    "max_s",
    "packets_sent",
    "packets_lost",
    "retransmissions",
    "goodput_bps",
}


def _canned_result(net):
    """A SimResult with recognisable values, one per flow of `net`."""
    flows = []
    for number, flow in enumerate(net.flows):
        frames = (
            FrameResult(0, 0.0, 0.0125, 0.0125, True, 0, ()),
            FrameResult(1, 0.1, None, None, False, flow.payload_bytes, ((0, flow.payload_bytes),)),
        )
        summary = FlowSummary(2, 1, 0.0125, 0.0125, 0.0125, 0.0125, 0.0125, 7, 3, 0, 1e6, number)
        flows.append(FlowResult(flow.src, flow.dst, frames, summary))
    return SimResult(tuple(flows), events=1234, wall_s=0.5, link_packets=99)


@pytest.fixture
def captured_nets(monkeypatch):
    nets = []

    def fake_simulate(net):
        nets.append(net)
        return _canned_result(net)

    monkeypatch.setattr(libsim, "simulate", fake_simulate)
    return nets


def test_json_shape_matches_cli_contract(captured_nets, capsys):
    assert main(["simulate", "four-cameras", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= CLI_TOP_KEYS
    assert (doc["scenario"], doc["protocol"], doc["seed"]) == (
        "four cameras sharing one Wi-Fi",
        "udp",
        1,
    )
    assert (doc["events"], doc["wall_s"], doc["link_packets"]) == (1234, 0.5, 99)
    assert [(f["from"], f["to"]) for f in doc["flows"]] == [
        (f"camera-{i}", "server") for i in range(1, 5)
    ]
    for number, flow in enumerate(doc["flows"]):
        assert set(flow) >= CLI_FLOW_KEYS
        assert set(flow["summary"]) == CLI_SUMMARY_KEYS | {"collisions"}
        assert flow["summary"]["collisions"] == number
        assert flow["summary"]["packets_lost"] == 3
        first, second = flow["frames"]
        assert set(first) == CLI_FRAME_KEYS | {"lost_ranges"}
        assert first == {
            "index": 0,
            "sent_s": 0.0,
            "delivered_s": 0.0125,
            "latency_s": 0.0125,
            "complete": True,
            "lost_bytes": 0,
            "lost_ranges": [],
        }
        assert second["delivered_s"] is None and second["latency_s"] is None
        assert second["lost_ranges"] == [[0, 150_528]]


def test_overrides_reach_the_simulator(captured_nets, capsys):
    args = ["--payload-bytes", "1.5MB", "--frames", "4", "--fps", "2.5"]
    args += ["--protocol", "tcp", "--seed", "77", "--json"]
    assert main(["simulate", "demo", *args]) == 0
    (net,) = captured_nets
    assert (net.protocol, net.seed) == ("tcp", 77)
    assert [(f.payload_bytes, f.frames, f.fps) for f in net.flows] == [(1_500_000, 4, 2.5)]
    doc = json.loads(capsys.readouterr().out)
    assert (doc["protocol"], doc["seed"]) == ("tcp", 77)
    assert doc["flows"][0]["payload_bytes"] == 1_500_000


def test_human_output_has_summary_and_frames(captured_nets, capsys):
    assert main(["simulate", "demo", "--payload-bytes", "150528"]) == 0
    out = capsys.readouterr().out
    assert "camera to edge server over Wi-Fi" in out
    assert "Latency per flow" in out and "Packets per flow" in out
    assert "Frames camera → server" in out
    assert "12.5 ms" in out  # the canned latency, formatted for people
    assert "1/2" in out  # frames complete


# ----------------------------------------------------------------- end to end on libsim

UDP_IP_HEADERS = 28  # IPv4 20 + UDP 8


def _datagrams(payload: int, mtu: int) -> list[int]:
    size = mtu - UDP_IP_HEADERS
    return [min(size, payload - start) for start in range(0, payload, size)]


def _chain_arrival(datagrams, hops, overhead, bitrate, delay):
    """Store-and-forward reference: when the last datagram has fully arrived after `hops`
    equal links, the source sending back to back from t = 0."""
    ready = [0.0] * len(datagrams)  # when each datagram is at the current hop's input
    for _ in range(hops):
        free = 0.0  # the hop's transmitter
        for i, payload in enumerate(datagrams):
            start = max(ready[i], free)
            free = start + (payload + UDP_IP_HEADERS + overhead) * 8 / bitrate
            ready[i] = free + delay
    return ready[-1]


def _chain_scenario(hops: int, mtu: int, bitrate: str, delay: str, overhead: int) -> str:
    names = ["src"] + [f"relay{i}" for i in range(1, hops)] + ["dst"]
    text = f'name = "chain"\n[transport]\nprotocol = "udp"\nmtu = {mtu}\n'
    for i, name in enumerate(names):
        role = "edge" if i == 0 else "server" if i == hops else "relay"
        text += f'[[node]]\nname = "{name}"\nrole = "{role}"\n'
    for i in range(hops):
        text += (
            f'[[link]]\nname = "l{i}"\nkind = "full_duplex"\n'
            f'nodes = ["{names[i]}", "{names[i + 1]}"]\n'
            f'bitrate = "{bitrate}"\ndelay = "{delay}"\noverhead_bytes = {overhead}\n'
        )
    text += '[[flow]]\nfrom = "src"\nto = "dst"\nframes = 3\nfps = 4\npayload_bytes = 10000\n'
    return text


@pytest.mark.parametrize(
    ("hops", "mtu", "bitrate", "bitrate_bps", "delay", "delay_s", "overhead"),
    [
        (1, 1500, "10Mbps", 10e6, "3ms", 0.003, 38),
        (1, 576, "54Mbps", 54e6, "250us", 0.00025, 0),
        (2, 1500, "100Mbps", 100e6, "1ms", 0.001, 38),
    ],
)
def test_udp_latency_is_store_and_forward_exactly(
    tmp_path, capsys, hops, mtu, bitrate, bitrate_bps, delay, delay_s, overhead
):
    path = tmp_path / "chain.toml"
    path.write_text(_chain_scenario(hops, mtu, bitrate, delay, overhead), encoding="utf-8")
    assert main(["simulate", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    datagrams = _datagrams(10_000, mtu)
    assert sum(datagrams) == 10_000
    expected = _chain_arrival(datagrams, hops, overhead, bitrate_bps, delay_s)
    # e.g. 1 hop, mtu 1500: 6 x 1538 + 1234 wire bytes at 10 Mbit/s + 3 ms = 11.369 ms
    if (hops, mtu) == (1, 1500):
        assert math.isclose(expected, (6 * 1538 + 1234) * 8 / 10e6 + 0.003)
    (flow,) = doc["flows"]
    assert [frame["index"] for frame in flow["frames"]] == [0, 1, 2]
    for frame in flow["frames"]:
        assert frame["complete"] is True and frame["lost_bytes"] == 0
        assert frame["sent_s"] == pytest.approx(frame["index"] / 4, abs=1e-9)
        assert frame["latency_s"] == pytest.approx(expected, abs=1e-9)
    summary = flow["summary"]
    assert (summary["frames"], summary["complete"], summary["packets_lost"]) == (3, 3, 0)
    assert summary["packets_sent"] == 3 * len(datagrams)


def test_end_to_end_builtin_demo_is_deterministic(capsys):
    runs = []
    for _ in range(2):
        assert main(["simulate", "demo", "--frames", "3", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    for run in runs:
        run.pop("wall_s")
    assert runs[0] == runs[1]
    (flow,) = runs[0]["flows"]
    assert flow["summary"]["complete"] == 3
    # one 150528-byte frame over 54 Mbit/s Wi-Fi cannot arrive faster than its bits
    assert min(f["latency_s"] for f in flow["frames"]) > 150_528 * 8 / 54e6


def test_simulator_refusal_is_exit_2(monkeypatch, capsys):
    def refuse(net):
        raise libsim.LibsimInputError("link 'wifi': bitrate too high for the model", 1)

    monkeypatch.setattr(libsim, "simulate", refuse)
    assert main(["simulate", "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "demo.toml: the simulator refused the network: link 'wifi': bitrate too high for the model"
    )


def test_end_to_end_udp_loss_reports_datagram_ranges(tmp_path, capsys):
    text = _chain_scenario(1, 1500, "10Mbps", "1ms", 38)
    text = text.replace("overhead_bytes = 38\n", "overhead_bytes = 38\nloss = 0.2\n")
    text = text.replace("frames = 3", "frames = 20")
    path = tmp_path / "lossy.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["simulate", str(path), "--json", "--seed", "5"]) == 0
    (flow,) = json.loads(capsys.readouterr().out)["flows"]
    datagram = 1500 - UDP_IP_HEADERS
    lost_total = 0
    for frame in flow["frames"]:
        ranges = frame["lost_ranges"]
        assert frame["lost_bytes"] == sum(end - start for start, end in ranges)
        assert frame["complete"] == (not ranges)
        for start, end in ranges:
            assert start % datagram == 0 and 0 <= start < end <= 10_000
        lost_total += len(ranges)
    summary = flow["summary"]
    assert summary["packets_lost"] >= lost_total > 0  # adjacent lost datagrams may merge
    assert summary["complete"] == sum(frame["complete"] for frame in flow["frames"]) < 20


@pytest.mark.parametrize("name", ["demo", "lan", "lte", "four-cameras"])
def test_every_builtin_simulates(name, capsys):
    from sei_tui.core.network.scenario import builtin_scenario

    scenario = builtin_scenario(name)
    assert main(["simulate", name, "--frames", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scenario"] == scenario.name
    assert [(f["from"], f["to"]) for f in doc["flows"]] == [(f.src, f.dst) for f in scenario.flows]
    for flow, spec in zip(doc["flows"], scenario.flows, strict=True):
        assert len(flow["frames"]) == 2
        # no frame beats the bits of its payload over the slowest link of its route
        slowest = min(link.bitrate_bps for link in scenario.links)
        for frame in flow["frames"]:
            if frame["latency_s"] is not None:
                assert frame["latency_s"] > spec.payload_bytes * 8 / slowest


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (libsim.LibsimInterrupted("interrupted", 5), 130, "sei simulate: interrupted"),
        (
            libsim.LibsimInternalError("SystemC: boom", 4),
            1,
            "sei simulate: internal error: simulator failure: SystemC: boom "
            "(set SEI_DEBUG=1 for the traceback)",
        ),
    ],
)
def test_interrupted_and_internal_simulator_errors_have_their_own_exit_codes(
    monkeypatch, capsys, error, code, line
):
    def fail(net):
        raise error

    monkeypatch.setattr(libsim, "simulate", fail)
    assert main(["simulate", "demo"]) == code
    assert capsys.readouterr().err.strip() == line


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--frames", "-1"], "error: --frames = -1: must be 1..10000000"),
        (["--frames", "0"], "error: --frames = 0: must be 1..10000000"),
        (["--frames", "10000001"], "error: --frames = 10000001: must be 1..10000000"),
        (["--fps", "-2"], "error: --fps = -2: must be in [0, 1e9]"),
        (["--seed", "-1"], "error: --seed = -1: must be 0..2^63 - 1"),
        (["--payload-bytes", "0"], "error: --payload-bytes = 0: must be 1..2^40 bytes"),
        (["--protocol", "sctp"], "error: --protocol = 'sctp': must be one of tcp, udp"),
    ],
)
def test_out_of_range_flags_are_blamed_on_the_flag_not_the_file(capsys, flags, message):
    assert main(["simulate", "demo", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert "demo.toml" not in err


def test_payload_bytes_flag_takes_a_bare_number_in_exponent_form(captured_nets, capsys):
    assert main(["simulate", "demo", "--payload-bytes", "1.5e3", "--json"]) == 0
    assert captured_nets[-1].flows[0].payload_bytes == 1500
    capsys.readouterr()
    assert main(["simulate", "demo", "--payload-bytes", "2.5"]) == 2
    assert "--payload-bytes = 2.5: not a whole number of bytes" in capsys.readouterr().err
    assert main(["simulate", "demo", "--payload-bytes", "1e30"]) == 2
    err = capsys.readouterr().err
    assert "--payload-bytes = 1e30: must be 1..2^40 bytes" in err and "missing unit" not in err
