"""split2 rows, per node: FLOPs, parameters and memory of each segment counted by hand on an
analytic model; energy of device, edge box and server from the profiles and the bytes,
datagrams and gaps of the simulated hops; accuracy under loss on either hop; and the fast
accuracy of every deployment against the one-deployment reference."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from test_tiers import CHAIN, SkipNet, frame_bytes, small_graph
from torch import nn

from sei_tui.core.evaluation.accuracy import EVERYTHING
from sei_tui.core.evaluation.encoding import parse_tensor_encoding
from sei_tui.core.evaluation.energy import TwoCutEnergy
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.rows import Row
from sei_tui.core.evaluation.tiers import (
    build_two_cuts,
    cut_pairs,
    hop_roundtrip,
    segment_figures,
    simulate_two_cuts,
    two_cut_row,
    two_cut_top1,
)
from sei_tui.core.evaluation.tiers_accuracy import lossless_top1s, lossy_top1
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel
from sei_tui.core.network.toml_io import parse_scenario

# ---------------------------------------------------------------- per-node figures


class Chain(nn.Module):
    """conv 3->4 (3x3), relu, conv 4->6 (3x3), relu, conv 6->2 (1x1), relu, mean, linear 2->5
    on 3x8x8: every count below follows from these shapes."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1)
        self.c3 = nn.Conv2d(6, 2, 1)
        self.fc = nn.Linear(2, 5)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = torch.relu(self.c3(x))
        return self.fc(x.mean(dim=(2, 3)))


PIXELS = 8 * 8
C1_FLOPS = 2 * (4 * PIXELS) * (3 * 9)  # 2 per multiply-add, bias free
C2_FLOPS = 2 * (6 * PIXELS) * (4 * 9)
C3_FLOPS = 2 * (2 * PIXELS) * 6
FC_FLOPS = 2 * 2 * 5
C1_PARAMS, C2_PARAMS, C3_PARAMS, FC_PARAMS = 4 * 27 + 4, 6 * 36 + 6, 2 * 6 + 2, 2 * 5 + 5
B = 4 * PIXELS  # bytes of one fp32 channel at batch 1


def test_segment_figures_are_the_hand_counts_and_qos_columns():
    graph = analyze_model(Chain().eval(), (3, 8, 8))
    at = {sp.after: sp.index for sp in graph.split_points}
    k1, k2 = at["relu"], at["relu_2"]  # device: c1 relu | box: c2 relu c3 relu | server
    figures = segment_figures(graph, k1, k2)
    # live bytes at a node = its input's + its output's (nothing else is kept alive)
    head_peak = max(3 * B, 3 * B + 4 * B, 4 * B + 4 * B)  # x; c1; relu
    middle_peak = max(4 * B + 6 * B, 6 * B + 6 * B, 6 * B + 2 * B, 2 * B + 2 * B)
    assert figures == {
        "edge_flops": C1_FLOPS,
        "edge_params": C1_PARAMS,
        "edge_memory_bytes": 4 * C1_PARAMS + head_peak,
        "middle_flops": C2_FLOPS + C3_FLOPS,
        "middle_params": C2_PARAMS + C3_PARAMS,
        "middle_memory_bytes": 4 * (C2_PARAMS + C3_PARAMS) + middle_peak,
        "server_flops": FC_FLOPS,
        "server_params": FC_PARAMS,
        # the server's positions: mean (relu_2's 2 channels + 2 floats), fc (2 + 5 floats)
        "server_memory_bytes": 4 * FC_PARAMS + max(2 * B + 4 * 2, 4 * 2 + 4 * 5),
    }
    row = Row("split2", k1, "relu", "fp32", 100, cuts=[k1, k2], **figures)
    bound = 4 * (C2_PARAMS + C3_PARAMS) + middle_peak
    assert (
        parse_qos(f"middle_memory_bytes<={bound}, middle_flops<={C2_FLOPS + C3_FLOPS}").check(row)
        == []
    )
    assert parse_qos(f"middle_memory_bytes<={bound - 1}").check(row) != []
    # a deployment the edge box does not compute on uses none of it
    local = Row("local", None, None, "result", 1)
    assert (local.middle_flops, local.middle_params, local.middle_memory_bytes) == (0, 0, 0)
    assert parse_qos("middle_memory_bytes<=0").check(local) == []
    assert "middle_memory_bytes" in local.to_dict()


@pytest.mark.parametrize("seed", range(3))
def test_the_heads_peak_is_the_prefix_peak_of_the_live_activation_bytes(seed):
    graph = small_graph(30 + seed)
    assert len(graph.activation_bytes) == len(graph.nodes)
    for sp in graph.split_points:
        assert max(graph.activation_bytes[: sp.position + 1]) == sp.head_peak_activation_bytes
    # head, middle and tail FLOPs add up to the whole model's on every pair
    for a, b in cut_pairs(graph.split_points):
        f = segment_figures(graph, a.index, b.index)
        assert f["edge_flops"] + f["middle_flops"] + f["server_flops"] == graph.total_flops
        assert 0 <= f["middle_params"] <= graph.total_params


# ---------------------------------------------------------------- energy

GFLOPS = {"dev": 2.0, "box": 10.0, "srv": 40.0}  # as CHAIN's profiles
DEV_ACTIVE, DEV_IDLE, BOX_ACTIVE, BOX_IDLE = 5.0, 1.5, 12.0, 2.0
SRV_J_PER_FLOP, SRV_ACTIVE = 3e-10, 60.0
L1 = {"tx": 2e-6, "rx": 0.7e-6, "packet": 2e-4, "tail_s": 3.0, "tail_w": 0.9}
L2 = {"tx": 1e-6, "rx": 0.3e-6, "packet": 5e-5}
MTU_PAYLOAD, IP_UDP, FPS, FRAMES = 1472, 28, 0.5, 3
ENCODE, DECODE = (0.001, 0.002), (0.003, 0.004)  # hop 1, hop 2


def powered_chain() -> str:
    text = CHAIN.replace(
        f"[compute.dev]\ngflops = {GFLOPS['dev']}",
        f"[compute.dev]\ngflops = {GFLOPS['dev']}\nactive_w = {DEV_ACTIVE}\nidle_w = {DEV_IDLE}",
    )
    text = text.replace(
        f"[compute.box]\ngflops = {GFLOPS['box']}",
        f"[compute.box]\ngflops = {GFLOPS['box']}\nactive_w = {BOX_ACTIVE}\nidle_w = {BOX_IDLE}",
    )
    text = text.replace(
        f"[compute.srv]\ngflops = {GFLOPS['srv']}",
        f"[compute.srv]\ngflops = {GFLOPS['srv']}\nactive_w = {SRV_ACTIVE}\n"
        f"joules_per_flop = {SRV_J_PER_FLOP}",
    )
    l1 = (
        f"tx_j_per_byte = {L1['tx']}\nrx_j_per_byte = {L1['rx']}\nper_packet_j = {L1['packet']}\n"
        f"tail_s = {L1['tail_s']}\ntail_w = {L1['tail_w']}\n"
    )
    l2 = f"tx_j_per_byte = {L2['tx']}\nrx_j_per_byte = {L2['rx']}\nper_packet_j = {L2['packet']}\n"
    text = text.replace('nodes = ["dev", "box"]\n', 'nodes = ["dev", "box"]\n' + l1)
    text = text.replace('nodes = ["box", "srv"]\n', 'nodes = ["box", "srv"]\n' + l2)
    assert text.count("active_w") == 3 and text.count("tx_j_per_byte") == 2
    return text


def udp_frame(size: int, bitrate: float, delay: float) -> tuple[int, int, float]:
    """(IP bytes, datagrams, seconds until the last datagram arrives) of one frame alone on
    a link: 1472 B of payload per datagram, 28 B of IP + UDP, 38 B of link framing."""
    datagrams = math.ceil(size / MTU_PAYLOAD)
    ip_bytes = size + IP_UDP * datagrams
    return ip_bytes, datagrams, (ip_bytes + 38 * datagrams) * 8 / bitrate + delay


def radio(link: dict, size: int, sending: bool, bitrate: float, delay: float) -> float:
    """One end's radio energy per frame: bytes, datagrams and, with a tail, the time from
    each frame's delivery to the next frame's start (at most tail_s; the last: tail_s)."""
    ip_bytes, datagrams, seconds = udp_frame(size, bitrate, delay)
    energy = ip_bytes * link["tx" if sending else "rx"] + datagrams * link["packet"]
    if "tail_s" in link:
        gap = 1 / FPS - seconds
        assert 0 < gap < link["tail_s"]  # the gap, not tail_s, bounds every tail but the last
        energy += link["tail_w"] * ((FRAMES - 1) * gap + link["tail_s"]) / FRAMES
    return energy


def test_split2_energy_is_the_hand_sum_over_the_three_nodes_and_both_hops():
    scenario = parse_scenario(powered_chain())
    graph = small_graph(2)
    encodings = [parse_tensor_encoding("fp32"), parse_tensor_encoding("int8")]
    deployments = [
        replace(d, encode_s=ENCODE, decode_s=DECODE)
        for d in build_two_cuts(
            graph, scenario, graph.split_points, encodings, torch.rand(2, 3, 8, 8),
            time_codecs=False,
        )
    ]  # fmt: skip
    energy = TwoCutEnergy.of(scenario, "box")
    flops = [n.flops for n in graph.nodes]
    (bit1, delay1), (bit2, delay2) = (10e6, 0.001), (4e6, 0.003)  # CHAIN's links
    results = list(simulate_two_cuts(deployments, scenario, processes=1))
    assert len(results) == len(deployments) > 0
    for result in results:
        d = result.deployment
        top1 = torch.zeros(2, dtype=torch.long)
        row = two_cut_row(result, graph, top1, top1, top1, energy)
        p1, p2 = (graph.split_points[k] for k in d.cuts)
        head = sum(flops[: p1.position + 1])
        middle = sum(flops[p1.position + 1 : p2.position + 1])
        tail = sum(flops[p2.position + 1 :])
        hop1, hop2 = (frame_bytes(p, d.encoding) for p in (p1, p2))
        device_radio = radio(L1, hop1, True, bit1, delay1)
        device = (DEV_ACTIVE - DEV_IDLE) * (head / (GFLOPS["dev"] * 1e9) + ENCODE[0])
        device += device_radio
        box = (BOX_ACTIVE - BOX_IDLE) * (middle / (GFLOPS["box"] * 1e9) + DECODE[0] + ENCODE[1])
        box += radio(L1, hop1, False, bit1, delay1) + radio(L2, hop2, True, bit2, delay2)
        server = SRV_J_PER_FLOP * tail + SRV_ACTIVE * DECODE[1]
        server += radio(L2, hop2, False, bit2, delay2)
        label = f"{d.cuts} {d.encoding}"
        assert row.edge_radio_energy_j == pytest.approx(device_radio, rel=1e-9), label
        assert row.edge_energy_j == pytest.approx(device, rel=1e-9), label
        assert row.total_energy_j == pytest.approx(device + box + server, rel=1e-9), label
        assert (row.edge_flops, row.middle_flops, row.server_flops) == (head, middle, tail)
    # a node without power: the device's figure stays, the total is unknown
    box_power = f"active_w = {BOX_ACTIVE}\nidle_w = {BOX_IDLE}\n"
    unpowered = parse_scenario(powered_chain().replace(box_power, ""))
    row = two_cut_row(results[0], graph, top1, top1, top1, TwoCutEnergy.of(unpowered, "box"))
    assert row.edge_energy_j is not None and row.total_energy_j is None


# ---------------------------------------------------------------- accuracy


ENCODINGS = ("fp32", "fp16", "int8", "int8+zlib")


@pytest.mark.parametrize("seed", range(3))
def test_every_deployments_accuracy_at_once_equals_the_one_deployment_reference(seed):
    graph = small_graph(20 + seed)
    images = torch.rand(6, *graph.input_shape) * 4 - 2
    pairs = cut_pairs(graph.split_points)
    encodings = [parse_tensor_encoding(e) for e in ENCODINGS]
    fast = lossless_top1s(graph, images, pairs, encodings)
    assert len(fast) == len(pairs) * len(encodings)
    for a, b in pairs:
        for enc in encodings:
            reference = two_cut_top1(graph, images, a.index, b.index, hop_roundtrip(enc))
            assert torch.equal(fast[(a.index, b.index), enc.name], reference), (a, b, enc)


def lossless_answer(graph, images, cuts):
    return two_cut_top1(graph, images, *cuts, hop_roundtrip(parse_tensor_encoding("fp32")))


def test_a_hop_that_lost_everything_gives_the_concealed_zero_answer():
    graph = small_graph(5)
    images = torch.rand(4, *graph.input_shape)
    k1, k2 = 1, len(graph.split_points) - 2
    a, b = graph.split_points[k1], graph.split_points[k2]
    fp32 = parse_tensor_encoding("fp32")
    lossless = lossless_answer(graph, images, (k1, k2))
    whole, nothing = [EVERYTHING] * 4, [()] * 4
    with torch.inference_mode():
        zeros1 = [torch.zeros(4, *t.shape[1:]) for t in a.tensors]
        zeros2 = [torch.zeros(4, *t.shape[1:]) for t in b.tensors]
        _, tail = graph.split(k2)
        # hop 1 lost: the box computes on zeros and forwards its answer intact (fp32: exact)
        expected1 = tail(list(graph.middle(k1, k2)(zeros1))).argmax(dim=1)
        expected2 = tail(zeros2).argmax(dim=1)  # hop 2 lost: the server sees zeros
    got1 = lossy_top1(graph, images, (k1, k2), fp32, lossless, (whole, nothing))
    got2 = lossy_top1(graph, images, (k1, k2), fp32, lossless, (nothing, whole))
    assert torch.equal(got1, expected1) and torch.equal(got2, expected2)
    # nothing lost: the lossless answer itself
    assert lossy_top1(graph, images, (k1, k2), fp32, lossless, (nothing, nothing)) is lossless
    # only frame 1 of hop 2 lost, with 2 frames for 4 images: images 1 and 3 take its loss
    marked = torch.full((4,), -7)
    got = lossy_top1(graph, images, (k1, k2), fp32, marked, ([(), ()], [(), EVERYTHING]))
    assert got[0] == -7 and got[2] == -7
    assert got[1] == expected2[1] and got[3] == expected2[3]


def test_a_lost_element_range_on_hop_one_is_concealed_as_zeros():
    graph = small_graph(6)
    images = torch.rand(3, *graph.input_shape)
    k1, k2 = 0, len(graph.split_points) - 1
    a = graph.split_points[k1]
    fp32 = parse_tensor_encoding("fp32")
    # fp32 frame: 4 header bytes, then the elements in order; lose elements 2..5 of image 0
    lost = [((4 + 4 * 2, 4 + 4 * 6),), (), ()]
    with torch.inference_mode():
        head, tail = graph.split(k1)[0], graph.split(k2)[1]
        payload = [t.clone() for t in head(images)]
        flat = payload[0].reshape(3, -1)
        flat[0, 2:6] = 0.0
        expected = tail(list(graph.middle(k1, k2)(payload))).argmax(dim=1)
    lossless = lossless_answer(graph, images, (k1, k2))
    got = lossy_top1(graph, images, (k1, k2), fp32, lossless, (lost, [(), (), ()]))
    assert torch.equal(got, expected)
    assert len(a.tensors) >= 1


def test_split2_rows_over_a_hop_that_loses_everything(tmp_path):
    """UDP with a loss of all but certainly every datagram on the box -> server link: every
    frame's hop 2 is lost, so every image is answered by the tail on zeros; the same
    scenario without loss keeps the lossless accuracy."""
    from sei_tui.core.evaluation.engine import Evaluation

    torch.manual_seed(7)
    loaded = LoadedModel("skipnet", SkipNet(7).eval(), (3, 8, 8), None, "-", None, 5, None)

    def split2_rows(text: str) -> tuple[list, Evaluation]:
        path = tmp_path / "chain.toml"
        path.write_text(text)
        ev = Evaluation(
            loaded, scenario=str(path), synthetic=4, encodings=["fp32"], saliency=False,
            all_splits=True,
        )  # fmt: skip
        return [r for r in ev.rows(processes=1) if r.strategy == "split2"], ev

    lossy_text = CHAIN.replace("delay = 0.003\n", "delay = 0.003\nloss = 0.999999\n")
    assert lossy_text != CHAIN
    rows, ev = split2_rows(lossy_text)
    assert rows and all(r.frames_complete == 0 for r in rows)
    labels, whole = ev.inputs.labels, ev.inputs.whole_top1
    for r in rows:
        point = ev.graph.split_points[r.cuts[1]]
        with torch.inference_mode():
            zeros = [torch.zeros(4, *t.shape[1:]) for t in point.tensors]
            answer = ev.graph.split(point.index)[1](zeros).argmax(dim=1)
        assert r.accuracy == pytest.approx(float((answer == labels).float().mean()))
        assert r.agreement == pytest.approx(float((answer == whole).float().mean()))
    clean, ev = split2_rows(CHAIN)
    for r in clean:
        top1 = lossless_answer(ev.graph, ev.images, tuple(r.cuts))
        assert r.accuracy == pytest.approx(float((top1 == ev.inputs.labels).float().mean()))
