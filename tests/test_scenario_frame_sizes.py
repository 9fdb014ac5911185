"""Per-frame payload sizes in the scenario format and `sei simulate --payload-sizes`, and
the format's delayed-ACK default (0.04 s) with explicit values kept."""

from __future__ import annotations

import json
import tomllib

import pytest

from libsim import TcpConfig
from sei_tui.cli import main
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import (
    builtin_scenario,
    dump_scenario,
    load_scenario,
    parse_scenario,
    save_scenario,
)

BASE = """
[transport]
protocol = "{protocol}"
{tcp}
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
bitrate = "10Mbps"
delay = "5ms"
[[flow]]
from = "a"
to = "b"
"""


def scenario(flow: str, protocol: str = "udp", tcp: str = "") -> str:
    return BASE.format(protocol=protocol, tcp=tcp) + flow


def test_a_list_of_sizes_is_one_size_per_frame():
    s = parse_scenario(scenario('payload_bytes = [1000, "5kB", 1]\n'), "cams.toml")
    assert s.flows[0].payload_bytes == (1000, 5000, 1)
    assert s.flows[0].frames == 3  # the list's length
    same = parse_scenario(scenario("frames = 3\npayload_bytes = [1000, 5000, 1]\n"), "cams.toml")
    assert same.flows == s.flows
    flow = s.to_network().flows[0]
    assert (flow.frames, flow.payload_bytes) == (3, (1000, 5000, 1))


@pytest.mark.parametrize(
    "flow, message",
    [
        (
            "frames = 2\npayload_bytes = [1000, 5000, 1]\n",
            "cams.toml: flow[0].frames = 2: payload_bytes lists 3 sizes (one per frame)",
        ),
        ("payload_bytes = [1000, 0]\n", "cams.toml: flow[0].payload_bytes[1] = 0: must be 1..2^40"),
        ("payload_bytes = []\n", "cams.toml: flow[0].payload_bytes = []: an empty list"),
        ('payload_bytes = [1, "2 kb"]\n', 'cams.toml: flow[0].payload_bytes[1] = "2 kb"'),
        ("payload_bytes = [1, 2.5]\n", "cams.toml: flow[0].payload_bytes[1] = 2.5: not a whole"),
        ("payload_bytes = [1, true]\n", "cams.toml: flow[0].payload_bytes[1] = true"),
    ],
)
def test_bad_size_lists_name_file_flow_key_and_value(flow, message):
    with pytest.raises(SeiInputError) as caught:
        parse_scenario(scenario(flow), "cams.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_udp_datagram_limit_counts_each_frames_own_size():
    # at most 1e8 datagrams of 1472 B per UDP flow: 99_999_999 + 1 fit, + 2 do not
    big = 1472 * 99_999_999
    parse_scenario(scenario(f"payload_bytes = [{big}, 1472]\n"), "cams.toml")
    with pytest.raises(SeiInputError, match=r"flow\[0\]\.frames = 2: its 2 frames make 100000001"):
        parse_scenario(scenario(f"payload_bytes = [{big}, 1473]\n"), "cams.toml")


def test_sizes_round_trip_as_a_list(tmp_path):
    s = parse_scenario(scenario('payload_bytes = [1000, "5kB", 1]\n'), "cams.toml")
    text = dump_scenario(s)
    assert tomllib.loads(text)["flow"][0]["payload_bytes"] == [1000, 5000, 1]
    assert parse_scenario(text, "cams.toml") == s
    saved = save_scenario(s, tmp_path / "cams.toml")
    assert load_scenario(tmp_path / "cams.toml") == saved == s


def test_editing_a_flow_to_a_list_takes_its_length_as_frames():
    s = parse_scenario(scenario("frames = 7\npayload_bytes = 9\n"), "cams.toml")
    listed = s.with_flow(0, payload_bytes=[5, 6, 7])
    assert (listed.flows[0].frames, listed.flows[0].payload_bytes) == (3, (5, 6, 7))
    back = listed.with_flow(0, payload_bytes=9)
    assert (back.flows[0].frames, back.flows[0].payload_bytes) == (3, 9)


def test_overrides_and_lists():
    s = parse_scenario(scenario("payload_bytes = [1000, 5000, 1]\n"), "cams.toml")
    # a one-size override replaces the list; the frame count stays the file's
    flow = s.to_network(payload_bytes=20).flows[0]
    assert (flow.frames, flow.payload_bytes) == (3, 20)
    # another frame count contradicts the list
    with pytest.raises(SeiInputError) as caught:
        s.to_network(frames=5)
    assert caught.value.key == "frames"
    assert "frames = 5: flow[0].payload_bytes lists 3 sizes" in str(caught.value)
    # a list override: its length is every flow's frame count
    flow = s.to_network(payload_bytes=[7, "1kB"]).flows[0]
    assert (flow.frames, flow.payload_bytes) == (2, (7, 1000))
    # cycled (the evaluation): frame f carries size f mod 2, the flows keep 3 frames
    flow = s.to_network(payload_bytes=[7, 8], cycle=True).flows[0]
    assert (flow.frames, flow.payload_bytes) == (3, (7, 8, 7))


# --- delayed ACK: default 0.04 s, explicit values kept ---------------------------------


def test_default_ack_delay_is_40_ms_and_an_explicit_value_is_kept(tmp_path):
    plain = parse_scenario(scenario("payload_bytes = 1\n", "tcp"), "t.toml")
    assert plain.transport.tcp.ack_delay == 0.04 == TcpConfig().ack_delay
    assert "ack_delay" not in dump_scenario(plain)  # the default is not written
    old = parse_scenario(
        scenario("payload_bytes = 1\n", "tcp", "[transport.tcp]\nack_delay = 0.2\n"), "t.toml"
    )
    assert old.transport.tcp.ack_delay == 0.2
    saved = save_scenario(old, tmp_path / "old.toml")
    written = tomllib.loads((tmp_path / "old.toml").read_text())
    assert written["transport"]["tcp"] == {"ack_delay": "0.2s"}
    assert saved.transport.tcp.ack_delay == 0.2
    assert saved.to_network().tcp.ack_delay == 0.2
    # the built-ins set 40 ms explicitly: the same run as before the default changed
    demo = builtin_scenario("demo")
    assert demo.transport.tcp.ack_delay == 0.04


# --- sei simulate --payload-sizes -------------------------------------------------------


def test_cli_payload_sizes_sends_one_size_per_frame(capsys, tmp_path):
    path = tmp_path / "cable.toml"
    path.write_text(scenario("frames = 5\npayload_bytes = 100\n"))
    assert main(["simulate", str(path), "--payload-sizes", "1000,5000", "--json"]) == 0
    flow = json.loads(capsys.readouterr().out)["flows"][0]
    assert flow["payload_bytes"] == [1000, 5000]
    first, second = flow["frames"]
    # UDP on 10 Mbit/s, 5 ms, 38 B of framing per packet: frame 0 is one datagram of
    # 1028 B; frame 1 (3 x 1472 + 584) follows it on the wire
    t0 = (1000 + 28 + 38) * 8 / 10e6
    t1 = (3 * (1500 + 38) + 584 + 28 + 38) * 8 / 10e6
    assert first["latency_s"] == pytest.approx(t0 + 0.005, abs=1e-9)
    assert second["latency_s"] == pytest.approx(t0 + t1 + 0.005, abs=1e-9)
    assert main(["simulate", str(path), "--payload-sizes", "1000,5000"]) == 0
    assert "1kB–5kB" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--payload-sizes", "1000,x"], '--payload-sizes item 2 = "x": not a byte count'),
        (["--payload-sizes", "1000,0"], "--payload-sizes = '1000,0': size 2 (0): must be"),
        (["--payload-sizes", "1000,,2"], "--payload-sizes = '1000,,2': expected a comma list"),
        (["--payload-sizes", "1,2", "--frames", "3"], "--frames = 3: 2 payload sizes"),
        (["--payload-sizes", "1", "--payload-bytes", "2"], "--payload-sizes: give either"),
    ],
)
def test_cli_bad_payload_sizes_are_one_line_exit_2(flags, message, capsys):
    assert main(["simulate", "demo", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
