"""Every kind of bad scenario input: one line, exit 2, naming the file, key path, value."""

import subprocess
import sys

import pytest

from sei_tui.cli import main
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import parse_scenario

BASE = """\
name = "two hops"

[transport]
protocol = "udp"
mtu = 1500
seed = 7

[transport.tcp]
initial_window = 10

[[node]]
name = "cam"
role = "edge"
compute = "edge-cpu"

[[node]]
name = "sw"
role = "relay"

[[node]]
name = "srv"
role = "server"

[[link]]
name = "first"
kind = "full_duplex"
nodes = ["cam", "sw"]
bitrate = "100Mbps"
delay = "10us"

[[link]]
name = "second"
kind = "half_duplex"
nodes = ["sw", "srv"]
bitrate = "1Gbps"
delay = "2ms"
loss = 0.01

[[flow]]
from = "cam"
to = "srv"
frames = 3
fps = 5
payload_bytes = "10kB"

[compute.edge-cpu]
gflops = 10.0
"""

# (name, text to replace in BASE, replacement, key path named, value shown, problem)
CASES = [
    (
        "unknown unit",
        'bitrate = "100Mbps"',
        'bitrate = "100Mbs"',
        "link[0].bitrate",
        '"100Mbs"',
        "unknown unit",
    ),
    (
        "negative with unit",
        'delay = "2ms"',
        'delay = "-2ms"',
        "link[1].delay",
        '"-2ms"',
        "negative",
    ),
    ("negative number", 'delay = "10us"', "delay = -0.5", "link[0].delay", "-0.5", "negative"),
    (
        "unknown top-level key",
        'name = "two hops"',
        'name = "two hops"\ncolour = "red"',
        "colour",
        '"red"',
        "unknown key",
    ),
    ("unknown link key", "loss = 0.01", "los = 0.01", "link[1].los", "0.01", "did you mean 'loss'"),
    (
        "unknown tcp key",
        "initial_window = 10",
        "initial_windo = 10",
        "transport.tcp.initial_windo",
        "10",
        "unknown key",
    ),
    (
        "idle_restart not a bool",
        "initial_window = 10",
        'idle_restart = "no"',
        "transport.tcp.idle_restart",
        '"no"',
        "expected true or false",
    ),
    (
        "recovery_exit unknown",
        "initial_window = 10",
        'recovery_exit = "cwnd"',
        "transport.tcp.recovery_exit",
        '"cwnd"',
        "must be one of ssthresh, flightsize",
    ),
    (
        "rto_ssthresh not a string",
        "initial_window = 10",
        "rto_ssthresh = 1",
        "transport.tcp.rto_ssthresh",
        "1",
        "must be one of flightsize, keep",
    ),
    (
        "wrong type int",
        "frames = 3",
        "frames = 2.5",
        "flow[0].frames",
        "2.5",
        "expected an integer",
    ),
    ("wrong type string", 'name = "sw"', "name = 4", "node[1].name", "4", "expected a string"),
    (
        "wrong type bool",
        "seed = 7",
        'seed = "seven"',
        "transport.seed",
        '"seven"',
        "expected an integer",
    ),
    (
        "wrong type table",
        'nodes = ["cam", "sw"]',
        'nodes = "cam"',
        "link[0].nodes",
        '"cam"',
        "array",
    ),
    (
        "unknown node in link",
        'nodes = ["sw", "srv"]',
        'nodes = ["sw", "server"]',
        "link[1].nodes[1]",
        '"server"',
        "no such node",
    ),
    (
        "unknown node in flow",
        'to = "srv"',
        'to = "server"',
        "flow[0].to",
        '"server"',
        "no such node",
    ),
    (
        "bitrate zero",
        'bitrate = "1Gbps"',
        "bitrate = 0",
        "link[1].bitrate",
        "0",
        "must be in (0, 1e15] bit/s",
    ),
    (
        "bitrate zero with unit",
        'bitrate = "1Gbps"',
        'bitrate = "0Gbps"',
        "link[1].bitrate",
        '"0Gbps"',
        "must be in (0, 1e15]",
    ),
    ("loss one", "loss = 0.01", "loss = 1.0", "link[1].loss", "1.0", "[0, 1)"),
    ("loss negative", "loss = 0.01", "loss = -0.01", "link[1].loss", "-0.01", "[0, 1)"),
    ("mtu too small", "mtu = 1500", "mtu = 67", "transport.mtu", "67", "68..65535"),
    ("mtu too large", "mtu = 1500", "mtu = 65536", "transport.mtu", "65536", "68..65535"),
    (
        "full duplex with 3 nodes",
        'nodes = ["cam", "sw"]',
        'nodes = ["cam", "sw", "srv"]',
        "link[0].nodes",
        '["cam", "sw", "srv"]',
        "exactly 2",
    ),
    (
        "half duplex with 1 node",
        'nodes = ["sw", "srv"]',
        'nodes = ["sw"]',
        "link[1].nodes",
        '["sw"]',
        "exactly 2",
    ),
    (
        "wireless with 1 node",
        'kind = "full_duplex"\nnodes = ["cam", "sw"]',
        'kind = "wireless"\nnodes = ["cam"]',
        "link[0].nodes",
        '["cam"]',
        "a wireless medium joins 1 node: must be 2..1000 nodes",
    ),
    (
        "node twice on a link",
        'nodes = ["cam", "sw"]',
        'nodes = ["cam", "cam"]',
        "link[0].nodes[1]",
        '"cam"',
        "twice",
    ),
    ("duplicate node", 'name = "sw"', 'name = "cam"', "node[1].name", '"cam"', "duplicate"),
    ("duplicate link", 'name = "second"', 'name = "first"', "link[1].name", '"first"', "duplicate"),
    (
        "missing compute profile",
        'compute = "edge-cpu"',
        'compute = "pi4"',
        "node[0].compute",
        '"pi4"',
        "no [compute.pi4] profile",
    ),
    (
        "relay with an unknown compute profile",
        'role = "relay"',
        'role = "relay"\ncompute = "jetson"',
        "node[1].compute",
        '"jetson"',
        "no [compute.jetson] profile",
    ),
    (
        "two compute forms",
        "gflops = 10.0",
        "gflops = 10.0\nhost = true",
        "compute.edge-cpu",
        "{ gflops = 10.0, host = true }",
        "exactly one",
    ),
    (
        "slowdown on gflops",
        "gflops = 10.0",
        "gflops = 10.0\nslowdown = 2.0",
        "compute.edge-cpu.slowdown",
        "2.0",
        "measured",
    ),
    ("gflops zero", "gflops = 10.0", "gflops = 0", "compute.edge-cpu.gflops", "0", "> 0"),
    ("bad role", 'role = "server"', 'role = "cloud"', "node[2].role", '"cloud"', "one of"),
    ("bad kind", 'kind = "half_duplex"', 'kind = "fibre"', "link[1].kind", '"fibre"', "one of"),
    (
        "bad protocol",
        'protocol = "udp"',
        'protocol = "quic"',
        "transport.protocol",
        '"quic"',
        "one of",
    ),
    ("missing bitrate", 'bitrate = "1Gbps"\n', "", "link[1].bitrate", None, "missing"),
    (
        "no route",
        'nodes = ["sw", "srv"]',
        'nodes = ["sw", "cam"]',
        "flow[0].to",
        '"srv"',
        "no route",
    ),
    ("flow from a relay", 'from = "cam"', 'from = "sw"', "flow[0].from", '"sw"', "relay"),
    ("flow to itself", 'to = "srv"', 'to = "cam"', "flow[0].to", '"cam"', "two different"),
    ("zero frames", "frames = 3", "frames = 0", "flow[0].frames", "0", "must be 1..10000000"),
    (
        "bitrate above 1e15",
        'bitrate = "1Gbps"',
        'bitrate = "2000Tbps"',
        "link[1].bitrate",
        '"2000Tbps"',
        "must be in (0, 1e15] bit/s",
    ),
    (
        "delay above 1000 s",
        'delay = "2ms"',
        'delay = "1001s"',
        "link[1].delay",
        '"1001s"',
        "must be in [0, 1000] s",
    ),
    (
        "zero ack delay",
        "initial_window = 10",
        "ack_delay = 0",
        "transport.tcp.ack_delay",
        "0",
        "must be in (0, 60] s",
    ),
    (
        "min_rto above 60 s",
        "initial_window = 10",
        'min_rto = "61s"',
        "transport.tcp.min_rto",
        '"61s"',
        "must be in [0, 60] s",
    ),
    (
        "overhead above 65535",
        'delay = "2ms"',
        'delay = "2ms"\noverhead_bytes = "64KiB"',
        "link[1].overhead_bytes",
        '"64KiB"',
        "0..65535",
    ),
    (
        "zero payload",
        'payload_bytes = "10kB"',
        "payload_bytes = 0",
        "flow[0].payload_bytes",
        "0",
        "must be 1..2^40 bytes",
    ),
    (
        "fractional payload",
        'payload_bytes = "10kB"',
        'payload_bytes = "1.5B"',
        "flow[0].payload_bytes",
        '"1.5B"',
        "whole number",
    ),
    (
        "burst out of range",
        "loss = 0.01",
        "[link.burst]\np_good_to_bad = 1.5\np_bad_to_good = 0.3\nloss_bad = 0.5",
        "link[1].burst.p_good_to_bad",
        "1.5",
        "[0, 1]",
    ),
    (
        "burst and loss",
        'delay = "2ms"\nloss = 0.01',
        'delay = "2ms"\nloss = 0.01\n[link.burst]\np_good_to_bad = 0.1\np_bad_to_good = 0.3\n'
        "loss_bad = 0.5",
        "link[1].loss",
        "0.01",
        "not both",
    ),
    (
        "rwnd below one segment",
        "initial_window = 10",
        "rwnd = 1000",
        "transport.tcp.rwnd",
        "1000",
        "MSS = 1460",
    ),
    ("nan", "loss = 0.01", "loss = nan", "link[1].loss", "nan", "finite"),
    (
        "control character in a name",
        'name = "sw"',
        'name = "s\\nw"',
        "node[1].name",
        '"s\\nw"',
        "control",
    ),
]


def _mutate(old: str, new: str) -> str:
    assert BASE.count(old) >= 1, old
    return BASE.replace(old, new, 1)


def test_base_scenario_is_valid():
    scenario = parse_scenario(BASE, "base.toml")
    assert [node.name for node in scenario.nodes] == ["cam", "sw", "srv"]


@pytest.mark.parametrize(
    ("old", "new", "key", "value", "problem"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_error_is_exit_2_one_line_naming_file_key_value(
    tmp_path, capsys, old, new, key, value, problem
):
    path = tmp_path / "bad.toml"
    path.write_text(_mutate(old, new), encoding="utf-8")
    code = main(["simulate", str(path), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    line = lines[0]
    assert line.startswith(f"sei simulate: error: {path}: {key}")
    if value is not None:
        assert f"{key} = {value}" in line
    assert problem in line


def test_toml_syntax_error_names_line_and_column(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text(_mutate('bitrate = "1Gbps"', "bitrate = 1Gbps"), encoding="utf-8")
    line_number = path.read_text().splitlines().index("bitrate = 1Gbps") + 1
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sei simulate: error: {path}: TOML syntax error")
    # "bitrate = 1" is a whole statement; the parser stops at "G", the 12th character
    assert f"line {line_number}, column 12" in err


def test_no_flow_is_an_error(tmp_path):
    start = BASE.index("[[flow]]")
    end = BASE.index("[compute.edge-cpu]")
    with pytest.raises(SeiInputError, match=r"^x\.toml: flow: no \[\[flow\]\]"):
        parse_scenario(BASE[:start] + BASE[end:], "x.toml")


def test_missing_file_and_unknown_builtin_are_exit_2(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert "nope.toml: no such file" in err and "demo" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--payload-bytes", "0"], "error: --payload-bytes = 0: must be 1..2^40 bytes"),
        (["--payload-bytes", "5KB"], '--payload-bytes = "5KB": ambiguous'),
        (["--frames", "0"], "error: --frames = 0: must be 1..10000000"),
        (["--frames", "two"], "--frames = 'two': expected an integer"),
        (["--fps", "-1"], "error: --fps = -1: must be in [0, 1e9]"),
        (["--fps", "inf"], "--fps = 'inf': must be a finite number"),
        (["--protocol", "sctp"], "error: --protocol = 'sctp': must be one of tcp, udp"),
        (["--seed", "-3"], "error: --seed = -3: must be 0..2^63 - 1"),
    ],
)
def test_bad_overrides_are_exit_2(tmp_path, capsys, flags, message):
    path = tmp_path / "ok.toml"
    path.write_text(BASE, encoding="utf-8")
    assert main(["simulate", str(path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_real_process_exit_code_and_no_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(_mutate('bitrate = "100Mbps"', 'bitrate = "100 furlongs"'), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "sei_tui", "simulate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f'sei simulate: error: {path}: link[0].bitrate = "100 furlongs": unknown unit '
        "'furlongs' for a bit rate (known: bps, bit/s, kbps, Kbps, kbit/s, Mbps, Mbit/s, "
        "Gbps, Gbit/s, Tbps)"
    )


def test_toml_dates_are_shown_as_written(tmp_path):
    with pytest.raises(SeiInputError, match=r"^x\.toml: link\[0\]\.delay = 1979-05-27: "):
        parse_scenario(_mutate('delay = "10us"', "delay = 1979-05-27"), "x.toml")
