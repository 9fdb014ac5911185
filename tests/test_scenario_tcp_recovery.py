"""[transport.tcp] recovery_exit and rto_ssthresh in the scenario format: defaults, parsing,
saving back, errors naming the key, and `sei simulate` passing them to the simulator."""

from __future__ import annotations

import json

import pytest

from libsim import simulate
from libsim.spec import TcpConfig
from sei_tui.cli import main
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import builtin_scenario, dump_scenario, parse_scenario

SCENARIO = """\
name = "lossy"
[transport]
protocol = "tcp"
seed = 4
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
delay = "5ms"
loss = 0.01
[[flow]]
from = "cam"
to = "srv"
frames = 1
fps = 0
payload_bytes = "2MB"
"""


def _text(**keys: str) -> str:
    lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    return SCENARIO.format(tcp=f"[transport.tcp]\nack_delay = 0.04\n{lines}")


def test_defaults_are_ssthresh_and_flightsize_and_are_not_written():
    scenario = parse_scenario(_text(), "lossy.toml")
    assert scenario.transport.tcp.recovery_exit == "ssthresh"
    assert scenario.transport.tcp.rto_ssthresh == "flightsize"
    dumped = dump_scenario(scenario)
    assert "recovery_exit" not in dumped and "rto_ssthresh" not in dumped


@pytest.mark.parametrize(
    ("recovery_exit", "rto_ssthresh"),
    [("flightsize", "flightsize"), ("ssthresh", "keep"), ("flightsize", "keep")],
)
def test_keys_parse_save_and_round_trip(recovery_exit, rto_ssthresh):
    text = _text(recovery_exit=recovery_exit, rto_ssthresh=rto_ssthresh)
    scenario = parse_scenario(text, "lossy.toml")
    tcp = scenario.to_network().tcp
    assert tcp == TcpConfig(ack_delay=0.04, recovery_exit=recovery_exit, rto_ssthresh=rto_ssthresh)
    dumped = dump_scenario(scenario)
    # only values other than the defaults are written
    assert (f'recovery_exit = "{recovery_exit}"' in dumped) == (recovery_exit != "ssthresh")
    assert (f'rto_ssthresh = "{rto_ssthresh}"' in dumped) == (rto_ssthresh != "flightsize")
    assert parse_scenario(dumped, "lossy.toml") == scenario


def test_with_tcp_sets_the_keys():
    lan = builtin_scenario("lan").with_tcp(recovery_exit="flightsize", rto_ssthresh="keep")
    assert lan.transport.tcp.recovery_exit == "flightsize"
    assert lan.transport.tcp.rto_ssthresh == "keep"
    with pytest.raises(SeiInputError, match=r"transport\.tcp\.rto_ssthresh = \"halve\""):
        builtin_scenario("lan").with_tcp(rto_ssthresh="halve")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'recovery_exit = "option1"',
            'lossy.toml: transport.tcp.recovery_exit = "option1": '
            "must be one of ssthresh, flightsize",
        ),
        (
            "recovery_exit = true",
            "lossy.toml: transport.tcp.recovery_exit = true: must be one of ssthresh, flightsize",
        ),
        (
            'rto_ssthresh = "linux"',
            'lossy.toml: transport.tcp.rto_ssthresh = "linux": must be one of flightsize, keep',
        ),
    ],
)
def test_bad_values_name_file_key_and_value(line, message):
    with pytest.raises(SeiInputError) as caught:
        parse_scenario(SCENARIO.format(tcp=f"[transport.tcp]\n{line}\n"), "lossy.toml")
    assert str(caught.value) == message


def test_sei_simulate_refuses_a_bad_value_with_exit_2(tmp_path, capsys):
    path = tmp_path / "lossy.toml"
    path.write_text(SCENARIO.format(tcp='[transport.tcp]\nrto_ssthresh = "ns3"\n'))
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'transport.tcp.rto_ssthresh = "ns3": must be one of flightsize, keep' in err
    assert "Traceback" not in err


def _simulated_latency(tmp_path, capsys, text: str) -> float:
    path = tmp_path / "lossy.toml"
    path.write_text(text)
    assert main(["simulate", str(path), "--json"]) == 0
    flows = json.loads(capsys.readouterr().out)["flows"]
    return flows[0]["frames"][0]["latency_s"]


def test_sei_simulate_passes_the_rules_to_the_simulator(tmp_path, capsys):
    # The CLI's answer under each rule is the simulator's answer for that TcpConfig (seed 4
    # recovers from several losses, so the two exit rules give different transfer times).
    latencies = {}
    for rule in ("ssthresh", "flightsize"):
        scenario = parse_scenario(_text(recovery_exit=rule), "lossy.toml")
        direct = simulate(scenario.to_network()).flows[0].frames[0].latency_s
        assert scenario.to_network().tcp.recovery_exit == rule
        latencies[rule] = _simulated_latency(tmp_path, capsys, _text(recovery_exit=rule))
        assert latencies[rule] == pytest.approx(direct, abs=1e-12)
    assert latencies["ssthresh"] != latencies["flightsize"]
