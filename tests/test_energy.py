"""Energy per frame: rows against hand computations from the profiles and the bytes, packets
and gaps a lossless fixed-rate link must show; the energy objective of the one ranking."""

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.deployments import DeploymentBuilder, candidate_splits
from sei_tui.core.evaluation.encoding import TensorEncoding, parse_input_encoding
from sei_tui.core.evaluation.prepare import prepare_inputs
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.simulation import NetworkPlan, simulate_rows
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel
from sei_tui.core.network.scenario import builtin_scenario, parse_scenario

IMAGES, FRAMES, FPS = 4, 5, 10
BITRATE, DELAY, OVERHEAD = 50e6, 0.001, 38
GFLOPS, ACTIVE, IDLE = 8.0, 6.0, 2.0  # the camera
SERVER_J_PER_FLOP, SERVER_W = 1e-10, 50.0
TX, RX, PER_PACKET, TAIL_S, TAIL_W = 2e-6, 0.5e-6, 1e-4, 0.5, 1.2

CABLE = f"""
[transport]
protocol = "udp"
[[node]]
name = "cam"
role = "edge"
compute = "cam"
[[node]]
name = "srv"
role = "server"
compute = "srv"
[[link]]
name = "radio"
kind = "full_duplex"
nodes = ["cam", "srv"]
bitrate = {BITRATE}
delay = {DELAY}
overhead_bytes = {OVERHEAD}
tx_j_per_byte = {TX}
rx_j_per_byte = {RX}
per_packet_j = {PER_PACKET}
tail_s = {TAIL_S}
tail_w = {TAIL_W}
[[flow]]
from = "cam"
to = "srv"
frames = {FRAMES}
fps = {FPS}
[compute.cam]
gflops = {GFLOPS}
active_w = {ACTIVE}
idle_w = {IDLE}
[compute.srv]
gflops = 1000.0
active_w = {SERVER_W}
joules_per_flop = {SERVER_J_PER_FLOP}
"""


def tiny_loaded() -> LoadedModel:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()
    return LoadedModel("tiny", module, (3, 32, 32), None, "tiny", None, 5, None)


@pytest.fixture(scope="module")
def rows():
    loaded = tiny_loaded()
    scenario = parse_scenario(CABLE, "cable.toml")
    inputs = prepare_inputs(
        loaded, analyze_model(loaded), scenario, synthetic=IMAGES, saliency=False
    )
    builder = DeploymentBuilder(inputs, [TensorEncoding("fp32")], [parse_input_encoding("raw")])
    deployments = [builder.local(), *builder.remote()]
    for group in builder.split_groups(candidate_splits(inputs.graph, None, all_splits=True)):
        deployments += builder.splits(group, None, lambda _f, _s: None)
    plan = NetworkPlan(scenario)
    return [row for *_, row in simulate_rows(deployments, inputs, plan, [{}], parse_qos(""))]


def udp_by_hand(size: int) -> tuple[int, int, float]:
    """(IP bytes, datagrams, seconds on the cable incl. delay) of one frame alone: 1472 B of
    payload per datagram, 28 B of IP + UDP headers, 38 B of framing on the wire."""
    datagrams = math.ceil(size / 1472)
    ip_bytes = size + 28 * datagrams
    return ip_bytes, datagrams, (ip_bytes + OVERHEAD * datagrams) * 8 / BITRATE + DELAY


def radio_by_hand(size: int, sending: bool) -> float:
    ip_bytes, datagrams, seconds = udp_by_hand(size)
    assert seconds < 1 / FPS  # each frame is through before the next starts
    per_byte = TX if sending else RX
    gap = 1 / FPS - seconds  # from this frame's delivery to the next one's start
    tail = TAIL_W * ((FRAMES - 1) * min(TAIL_S, gap) + TAIL_S) / FRAMES
    return ip_bytes * per_byte + datagrams * PER_PACKET + tail


def test_every_row_has_the_energy_worked_out_by_hand(rows):
    assert {r.strategy for r in rows} == {"local", "remote", "split"}
    for row in rows:
        edge_compute = (ACTIVE - IDLE) * (row.edge_flops / (GFLOPS * 1e9) + row.encode_s)
        edge = edge_compute + radio_by_hand(row.payload_bytes, sending=True)
        assert row.edge_energy_j == pytest.approx(edge, rel=1e-9), row.label
        radio = radio_by_hand(row.payload_bytes, sending=True)
        assert row.edge_radio_energy_j == pytest.approx(radio, rel=1e-9), row.label
        if row.strategy == "local":
            assert row.total_energy_j == pytest.approx(row.edge_energy_j, rel=0.01)
            continue
        server = SERVER_J_PER_FLOP * row.server_flops + SERVER_W * row.decode_s
        total = edge + server + radio_by_hand(row.payload_bytes, sending=False)
        assert row.total_energy_j == pytest.approx(total, rel=1e-9), row.label


def test_energy_is_a_qos_column(rows):
    qos = parse_qos("edge_energy_j<=0.05")
    cheapest = min(rows, key=lambda r: r.edge_energy_j)
    bound = cheapest.edge_energy_j * 1.0001
    feasible = [r for r in rows if not parse_qos(f"edge_energy_j<={bound}").check(r)]
    assert feasible == [r for r in rows if r.edge_energy_j <= bound]
    assert qos.check(Row("local", None, None, "result", 1)) == ["edge_energy_j<=0.05"]


def _row(strategy, index, p95, energy, accuracy=0.9) -> Row:
    row = Row(strategy, index, None, "fp32", 1, p95_latency=p95, accuracy=accuracy)
    row.edge_energy_j = energy
    return row


def test_the_energy_objective_recommends_the_feasible_row_with_the_least_device_energy():
    rows = [
        _row("local", None, 0.30, 0.010),
        _row("remote", None, 0.05, 0.400),
        _row("split", 1, 0.10, 0.020),
        _row("split", 2, 0.20, None),  # unknown energy ranks last
    ]
    by_latency = rank(rows, "p95_latency<=0.25")
    assert by_latency.recommended.strategy == "remote"
    by_energy = rank(rows, "p95_latency<=0.25", objective="energy")
    assert by_energy.recommended.split_index == 1  # local is cheaper but too slow
    assert [r.edge_energy_j for r in by_energy.rows[:3]] == [0.020, 0.400, None]
    assert by_energy.rows[-1].strategy == "local"  # infeasible
    assert "least edge energy" in by_energy.recommendation.why
    # energies within 3 % tie: then accuracy decides
    tied = [_row("split", 1, 0.1, 0.0100, 0.8), _row("split", 2, 0.1, 0.0102, 0.9)]
    assert rank(tied, objective="energy").recommended.split_index == 2
    with pytest.raises(ValueError, match="objective"):
        rank(rows, objective="joules")


def test_energy_keys_are_checked():
    with pytest.raises(SeiInputError, match=r"tail_w.*set tail_s and tail_w together"):
        parse_scenario(CABLE.replace(f"tail_w = {TAIL_W}", "tail_w = 0"))
    with pytest.raises(SeiInputError, match=r"idle_w.*needs active_w >= idle_w"):
        parse_scenario(CABLE.replace(f"idle_w = {IDLE}", "idle_w = 9"))
    with pytest.raises(SeiInputError, match=r"tx_j_per_byte.*>= 0"):
        parse_scenario(CABLE.replace(f"tx_j_per_byte = {TX}", "tx_j_per_byte = -1"))


def test_builtin_scenarios_carry_estimated_power():
    lte = builtin_scenario("lte")
    assert lte.compute["pi4"].active_w == 6.4 and lte.compute["pi4"].idle_w == 2.7
    radio = lte.links[0]
    # Huang et al. 2012: 438.39 mW per Mbit/s uplink = 8 x 0.43839 / 1e6 J per byte
    assert radio.tx_j_per_byte == pytest.approx(8 * 0.43839 / 1e6, rel=1e-3)
    assert (radio.tail_s, radio.tail_w) == (11.576, 1.06)


@pytest.mark.slow
def test_cli_objective_energy_json():
    out = subprocess.run(
        [sys.executable, "-m", "sei_tui", "analyze", "--synthetic", "4", "--images", "4"]
        + ["--frames", "3", "--encoding", "int8", "--objective", "energy", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["objective"] == "energy"
    energies = [r["edge_energy_j"] for r in report["rows"]]
    assert all(isinstance(e, float) and e > 0 for e in energies)
    assert all("total_energy_j" in r for r in report["rows"])
    best = report["rows"][report["recommendation"]["row"]]["edge_energy_j"]
    assert best <= min(energies) * 1.03  # within the energy tie tolerance of the least


def test_the_tui_ranks_by_the_same_function_with_the_objective():
    from sei_tui.tui.services import CoreServices

    rows = [
        _row("local", None, 0.30, 0.010),
        _row("remote", None, 0.05, 0.400),
        _row("split", 1, 0.10, 0.020),
    ]
    tui = CoreServices().rank(rows, parse_qos("p95_latency<=0.25"), "energy")
    cli = rank([_row(r.strategy, r.split_index, r.p95_latency, r.edge_energy_j) for r in rows])
    assert tui.objective == "energy" and tui.recommended.split_index == 1
    assert cli.recommended.strategy == "remote"  # latency, the default, on both sides
    assert CoreServices().rank(rows, parse_qos("")).recommended.strategy == "remote"


def test_the_tui_detail_breaks_the_edge_energy_down():
    from sei_tui.tui.widgets.results import energy_text

    row = _row("split", 1, 0.1, 0.012)
    row.edge_radio_energy_j, row.total_energy_j = 0.004, 0.5
    assert energy_text(row).plain == (
        "energy per frame: edge 12 mJ (compute+enc 8 mJ, radio 4 mJ) · all nodes 500 mJ\n"
    )
    assert energy_text(_row("split", 1, 0.1, None)).plain == ""
