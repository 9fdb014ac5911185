"""The evaluation sends the real size of every frame it encoded: frame f of a flow carries
image (f mod n)'s encoded frame, checked against network times worked out by hand on a
lossless fixed-rate link; equal sizes give the one-size network of before."""

import math

import pytest
import torch
from torch import nn

import libsim
from sei_tui.core.evaluation.deployments import DeploymentBuilder, candidate_splits
from sei_tui.core.evaluation.encoding import TensorEncoding, parse_input_encoding
from sei_tui.core.evaluation.prepare import prepare_inputs
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.simulation import NetworkPlan, deployment_sizes, simulate_rows
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel
from sei_tui.core.network.scenario import builtin_scenario, parse_scenario

IMAGES = 6
FRAMES = 2 * IMAGES + 1  # every image's size twice, then image 0's once more
BITRATE, DELAY, OVERHEAD = 10e6, 0.001, 38

CABLE = f"""
[transport]
protocol = "udp"
[[node]]
name = "cam"
role = "edge"
compute = "pi"
[[node]]
name = "srv"
role = "server"
compute = "pi"
[[link]]
name = "cable"
kind = "full_duplex"
nodes = ["cam", "srv"]
bitrate = {BITRATE}
delay = {DELAY}
overhead_bytes = {OVERHEAD}
[[flow]]
from = "cam"
to = "srv"
frames = {FRAMES}
fps = 1
[compute.pi]
gflops = 8.0
"""


def udp_network_time(size: int) -> float:
    """One frame alone on the cable: its datagrams (1472 B of payload each, 28 B of IP and
    UDP headers, 38 B of framing) back to back, then the propagation delay."""
    full, rest = divmod(size, 1472)
    wire_bytes = full * (1500 + OVERHEAD) + (rest + 28 + OVERHEAD if rest else 0)
    return wire_bytes * 8 / BITRATE + DELAY


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
def evaluated():
    loaded = tiny_loaded()
    scenario = parse_scenario(CABLE, "cable.toml")
    inputs = prepare_inputs(
        loaded, analyze_model(loaded), scenario, synthetic=IMAGES, saliency=False
    )
    encodings = [TensorEncoding("int8"), TensorEncoding("int8", "zlib")]
    builder = DeploymentBuilder(inputs, encodings, [parse_input_encoding("raw")])
    deployments = [builder.local(), *builder.remote()]
    for group in builder.split_groups(candidate_splits(inputs.graph, None, all_splits=True)):
        deployments += builder.splits(group, None, lambda _f, _s: None)
    return inputs, NetworkPlan(scenario), deployments


def test_compressed_frames_cross_the_network_at_their_own_sizes(evaluated):
    inputs, plan, deployments = evaluated
    zlib = [d for d in deployments if d.encoding == "int8+zlib"]
    d = max(zlib, key=lambda z: len(set(z.frame_sizes)))
    sizes = [len(f) for f in d.encoded_frames()]
    assert list(d.frame_sizes) == sizes and len(set(sizes)) > 1  # compression varies
    assert d.payload_bytes == math.ceil(sum(sizes) / IMAGES)  # the row's column: the mean

    net = plan.network(d.frame_sizes)
    assert net.flows[0].payload_bytes == tuple(sizes[f % IMAGES] for f in range(FRAMES))
    frames = libsim.simulate(net).flows[0].frames
    expected = [udp_network_time(sizes[f % IMAGES]) for f in range(FRAMES)]
    assert [f.latency_s for f in frames] == pytest.approx(expected, abs=1e-9)
    # bigger frames took longer: the times follow the sizes, frame by frame
    order = sorted(range(FRAMES), key=lambda f: (sizes[f % IMAGES], f))
    times = [frames[f].latency_s for f in order]
    assert times == sorted(times)

    # the row reads the same frames: its mean network time is the mean of those by hand
    rows = [row for *_, row in simulate_rows([d], inputs, plan, [{}], parse_qos(""))]
    assert len(rows) == 1
    assert rows[0].network_mean_s == pytest.approx(sum(expected) / FRAMES, abs=1e-9)
    assert rows[0].payload_bytes == d.payload_bytes


def test_equal_sizes_send_the_one_size_network_of_before(evaluated):
    _, plan, deployments = evaluated
    plain = [d for d in deployments if d.encoding in ("int8", "raw", "result")]
    assert plain
    for d in plain:
        assert set(d.frame_sizes) == {d.payload_bytes}  # no compression: one size
        assert deployment_sizes(d) == (d.payload_bytes,)
        assert plan.network(d.frame_sizes) == plan.network(d.payload_bytes)
        assert plan.network(d.frame_sizes).flows[0].payload_bytes == d.payload_bytes


def test_deployments_share_a_simulation_only_with_identical_sizes(evaluated):
    inputs, plan, deployments = evaluated
    keys = set()
    for d in deployments:
        sizes = tuple(len(f) for f in d.encoded_frames())
        keys.add(sizes[:1] if len(set(sizes)) == 1 else sizes)
    totals = {
        total for _, _, total, _ in simulate_rows(deployments, inputs, plan, [{}], parse_qos(""))
    }
    assert totals == {len(keys)}


def test_udp_losses_are_in_the_carried_images_own_bytes(evaluated):
    # image j's accuracy under loss uses frame j mod F: with F >= images that is frame j,
    # which carried image j, so its lost ranges lie within image j's own frame
    _, plan, deployments = evaluated
    d = max((z for z in deployments if z.encoding == "int8+zlib"), key=lambda z: z.payload_bytes)
    net = plan.network(d.frame_sizes, {"loss": 0.2})
    frames = libsim.simulate(net).flows[0].frames
    assert any(f.lost_ranges for f in frames)
    for f, frame in enumerate(frames):
        own = d.frame_sizes[f % IMAGES]
        assert all(0 <= start < end <= own for start, end in frame.lost_ranges)
        assert frame.lost_bytes <= own


def test_plan_keeps_each_flows_frame_count_and_cycles_the_sizes():
    plan = NetworkPlan(builtin_scenario("four-cameras"), protocol="udp")
    net = plan.network([100, 200, 300])
    for flow, own in zip(net.flows, builtin_scenario("four-cameras").flows, strict=True):
        assert flow.frames == own.frames
        assert flow.payload_bytes == tuple((100, 200, 300)[f % 3] for f in range(own.frames))
