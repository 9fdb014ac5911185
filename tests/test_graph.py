"""Model graph: FLOPs, payloads, head/tail execution, checked against hand-worked numbers."""

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.model.graph import analyze_model, flop_counter, verify_splits

F32 = 4


@pytest.fixture(autouse=True, scope="module")
def own_cache(tmp_path_factory):
    # FLOP counts are cached per graph: this file starts from an empty cache (cold);
    # tests/test_graph_flop_cache.py runs the FLOP checks warm
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Batch-1 forwards on a shared 2-core machine run faster without intra-op threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def seeded(build, **kwargs):
    torch.manual_seed(0)
    return build(**kwargs).eval()


def by_module(graph, module_path):
    return next(n for n in graph.nodes if n.module_path == module_path and n.op == "call_module")


def split_after(graph, node_name):
    return next(s for s in graph.split_points if s.after == node_name)


def chain():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


def test_conv_linear_chain_flops_match_the_formula():
    graph = analyze_model(seeded(chain), (3, 16, 16))
    # FLOPs = 2 * multiply-adds; bias adds are not counted by FlopCounterMode.
    conv1 = 2 * (8 * 16 * 16) * (3 * 3 * 3)
    conv2 = 2 * (16 * 7 * 7) * (8 * 3 * 3)
    linear = 2 * (16 * 7 * 7) * 10
    flops = {n.name: n.flops for n in graph.nodes}
    assert flops["_0"] == conv1
    assert flops["_2"] == conv2
    assert flops["_4"] == linear
    assert flops["_1"] == 0 and flops["_3"] == 0
    assert graph.total_flops == conv1 + conv2 + linear
    params = {n.name: n.params for n in graph.nodes}
    assert params["_0"] == 8 * 3 * 9 + 8
    assert params["_4"] == 16 * 7 * 7 * 10 + 10
    assert graph.total_params == sum(p.numel() for p in chain().parameters())


def test_chain_split_points_payloads_and_memory():
    graph = analyze_model(seeded(chain), (3, 16, 16))
    assert [s.after for s in graph.split_points] == ["_0", "_1", "_2", "_3"]
    image, act1, act2 = 3 * 16 * 16 * F32, 8 * 16 * 16 * F32, 16 * 7 * 7 * F32
    assert [s.payload_bytes for s in graph.split_points] == [act1, act1, act2, act2]
    assert all(s.single_tensor for s in graph.split_points)
    # peak at step j = input of node j + its output (nothing else is live in a chain)
    assert [s.head_peak_activation_bytes for s in graph.split_points] == [
        image + act1,
        2 * act1,
        2 * act1,
        2 * act1,
    ]
    conv1_params = 8 * 3 * 9 + 8
    point = graph.split_points[1]
    assert point.head_params == conv1_params
    assert point.tail_params == graph.total_params - conv1_params
    assert point.head_flops + point.tail_flops == graph.total_flops


def test_views_do_not_count_twice_in_peak_memory():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 64, 4))
    graph = analyze_model(model.eval(), (3, 8, 8))
    image, act = 3 * 64 * F32, 8 * 64 * F32
    after_flatten = split_after(graph, "_1")
    # step 1 holds the conv output once (flatten is a view of it), step 0 image + conv
    assert after_flatten.head_peak_activation_bytes == image + act
    assert after_flatten.payload_bytes == act  # what crosses the network is still a tensor


@pytest.mark.parametrize(
    "name,kwargs,shape",
    [
        ("resnet18", {}, (3, 64, 64)),
        ("vit_b_16", {"image_size": 32}, (3, 32, 32)),
        ("swin_t", {}, (3, 64, 64)),
    ],
)
def test_total_flops_equal_whole_model_flop_counter(name, kwargs, shape):
    model = seeded(torchvision.models.get_model, name=name, **kwargs)
    counter = flop_counter()
    with counter:  # grad enabled: the fused attention fast path (uncounted) is not taken
        model(torch.randn(1, *shape))
    expected = counter.get_total_flops()
    graph = analyze_model(model, shape)
    assert graph.total_flops == expected
    assert sum(n.flops for n in graph.nodes) == expected


def test_vit_attention_flops_are_counted_under_no_grad_analysis():
    # One encoder block at 5 tokens (4 patches + class) x 768: q,k,v,out projections
    # 4 * 2*5*768*768 plus the attention products QK^T and AV, 2 * 2*5*5*768.
    model = seeded(torchvision.models.vit_b_16, image_size=32)
    graph = analyze_model(model, (3, 32, 32))
    attention = by_module(graph, "encoder.layers.encoder_layer_0.self_attention")
    tokens, dim = 5, 768
    assert attention.flops == 4 * 2 * tokens * dim * dim + 2 * 2 * tokens * tokens * dim


def test_resnet18_known_cuts_at_224():
    graph = analyze_model(seeded(torchvision.models.resnet18), (3, 224, 224))
    after_layer1 = split_after(graph, by_module(graph, "layer1.1.relu").name + "_1")
    assert after_layer1.single_tensor
    assert after_layer1.payload_bytes == 64 * 56 * 56 * F32
    assert after_layer1.tensors[0].shape == (1, 64, 56, 56)
    # inside the first residual block: the block input (identity) and the branch both cross
    interior = split_after(graph, "layer1_0_conv1")
    assert [t.name for t in interior.tensors] == ["maxpool", "layer1_0_conv1"]
    assert interior.payload_bytes == 2 * 64 * 56 * 56 * F32
    assert not interior.single_tensor
    after_maxpool = split_after(graph, "maxpool")
    assert after_maxpool.payload_bytes == 64 * 56 * 56 * F32
    for point in graph.split_points:
        assert point.head_params + point.tail_params == graph.total_params
        assert point.head_flops + point.tail_flops == graph.total_flops


def test_densenet_concat_inputs_cross_the_cut():
    graph = analyze_model(seeded(torchvision.models.densenet121), (3, 224, 224))
    conv2 = by_module(graph, "features.denseblock1.denselayer1.conv2")
    point = split_after(graph, conv2.name)
    # pool0 (64 ch) is concatenated again by every later layer of the block
    assert [t.shape for t in point.tensors] == [(1, 64, 56, 56), (1, 32, 56, 56)]
    assert point.payload_bytes == (64 + 32) * 56 * 56 * F32


def test_vit_block_interior_carries_the_residual():
    model = seeded(torchvision.models.vit_b_16)
    graph = analyze_model(model, (3, 224, 224))
    ln_1 = by_module(graph, "encoder.layers.encoder_layer_0.ln_1")
    point = split_after(graph, ln_1.name)
    assert [t.shape for t in point.tensors] == [(1, 197, 768), (1, 197, 768)]
    assert point.payload_bytes == 2 * 197 * 768 * F32


@pytest.mark.parametrize(
    "name,kwargs,shape",
    [("vit_b_16", {"image_size": 32}, (3, 32, 32)), ("shufflenet_v2_x1_0", {}, (3, 64, 64))],
)
def test_tail_runs_on_batches_despite_shape_arithmetic(name, kwargs, shape):
    model = seeded(torchvision.models.get_model, name=name, **kwargs)
    graph = analyze_model(model, shape)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        expected = model(x)
        for index in range(0, len(graph.split_points), 7):
            head, tail = graph.split(index)
            got = tail(head(x))
            assert torch.allclose(got, expected, atol=1e-5), graph.split_points[index].after


class ShapeArithmetic(nn.Module):
    """Reads device, dtype and batch size from its input: Python values inside the graph."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        n = x.shape[0]
        y = self.conv(x).relu() + torch.ones(1, device=x.device, dtype=x.dtype)
        return self.fc(y.mean((2, 3)).reshape(n, -1))


def test_python_values_are_folded_into_tails():
    torch.manual_seed(0)
    model = ShapeArithmetic().eval()
    graph = analyze_model(model, (3, 8, 8))
    assert all(r.verified for r in verify_splits(graph))
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        for index in range(len(graph.split_points)):
            head, tail = graph.split(index)
            assert torch.allclose(tail(head(x)), model(x), atol=1e-6)


def test_tail_accepts_foreign_payload_and_leaves_it_intact():
    model = seeded(torchvision.models.resnet18)
    graph = analyze_model(model, (3, 64, 64))
    point = split_after(graph, "layer1_0_bn1")  # next is an in-place ReLU in the model
    head, tail = graph.split(point.index)
    payload = [torch.randn(t.shape) for t in point.tensors]
    kept = [p.clone() for p in payload]
    out = tail(payload)
    assert out.shape == (1, 1000)
    assert all(torch.equal(a, b) for a, b in zip(payload, kept, strict=True))


def test_inception_block_interior_cuts_carry_the_branches():
    model = seeded(torchvision.models.googlenet, init_weights=False)
    graph = analyze_model(model, (3, 64, 64))
    # inception3a: 1x1 (64), 3x3 (128), 5x5 (32) and pool (32) branches of one input
    # (192 x 8 x 8 at 64x64). After the 3x3 branch's last ReLU, the block input, the 1x1
    # branch and the 3x3 branch are all live: 192 + 64 + 128 channels.
    last = [n for n in graph.nodes if n.module_path.startswith("inception3a.branch2")][-1]
    point = split_after(graph, last.name)
    assert [t.shape[1] for t in point.tensors] == [192, 64, 128]
    assert point.payload_bytes == (192 + 64 + 128) * 8 * 8 * F32


def test_verify_catches_a_head_that_differs():
    graph = analyze_model(seeded(chain), (3, 16, 16))
    assert all(r.verified for r in verify_splits(graph))
    original = graph.split

    def perturbed_split(index):
        head, tail = original(index)
        return (lambda x: tuple(t + 1e-3 for t in head(x))), tail

    graph.split = perturbed_split
    results = verify_splits(graph)
    assert not any(r.verified for r in results)
    assert all(r.max_abs_diff >= 1e-3 - 1e-9 for r in results)


def test_tree_groups_nodes_by_module():
    graph = analyze_model(seeded(torchvision.models.resnet18), (3, 64, 64))
    root = graph.tree()
    assert [c.path for c in root.children] == ["layer1", "layer2", "layer3", "layer4"]
    assert [n.name for n in root.nodes if n.op == "call_module"] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "avgpool",
        "fc",
    ]
    layer1 = next(c for c in root.children if c.path == "layer1")
    assert [c.path for c in layer1.children] == ["layer1.0", "layer1.1"]
    assert root.flops == graph.total_flops
    assert root.params == graph.total_params
    block = layer1.children[0]
    assert any(n.name == "add" for n in block.nodes)


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


def test_untraceable_model_is_explained():
    with pytest.raises(SeiInputError, match="cannot be traced by torch.fx.*control flow"):
        analyze_model(DataDependent(), (3, 8, 8), name="mine")


def test_wrong_input_shape_is_one_clear_error():
    with pytest.raises(SeiInputError, match="input shape = 1x16x16"):
        analyze_model(seeded(chain), (1, 16, 16))


def test_split_index_out_of_range():
    graph = analyze_model(seeded(chain), (3, 16, 16))
    with pytest.raises(SeiInputError, match="split index = 9"):
        graph.split(9)


def test_fingerprint_depends_on_structure_and_shape_not_weights():
    a = analyze_model(seeded(chain), (3, 16, 16))
    torch.manual_seed(1)
    b = analyze_model(chain().eval(), (3, 16, 16))
    c = analyze_model(seeded(torchvision.models.resnet18), (3, 64, 64))
    d = analyze_model(seeded(torchvision.models.resnet18), (3, 96, 96))
    assert a.fingerprint == b.fingerprint
    assert c.fingerprint != d.fingerprint


class RandomDag(nn.Module):
    """A DAG of 1x1 convs, adds, concatenations and ReLUs over earlier values."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.convs = nn.ModuleList()
        channels = [3]
        for kind, a, b in steps:
            if kind == "conv":
                self.convs.append(nn.Conv2d(channels[a], 4, 1))
                channels.append(4)
            elif kind == "add":
                self.convs.append(nn.Conv2d(channels[b], channels[a], 1))  # match widths
                channels.append(channels[a])
            elif kind == "cat":
                self.convs.append(nn.Identity())
                channels.append(channels[a] + channels[b])
            else:
                self.convs.append(nn.ReLU())
                channels.append(channels[a])
        self.head = nn.Conv2d(channels[-1], 2, 1)

    def forward(self, x):
        values = [x]
        for (kind, a, b), layer in zip(self.steps, self.convs, strict=True):
            if kind == "add":
                values.append(values[a] + layer(values[b]))
            elif kind == "cat":
                values.append(torch.cat([values[a], values[b]], dim=1))
            else:
                values.append(layer(values[a]))
        return self.head(values[-1]).mean((2, 3))


@st.composite
def dag_steps(draw):
    steps = []
    for i in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(["conv", "add", "cat", "relu"]))
        a = draw(st.integers(0, i))
        b = draw(st.integers(0, i))
        steps.append((kind, a, b))
    return steps


@settings(max_examples=25, deadline=None)
@given(dag_steps())
def test_random_dags_split_exactly_and_payloads_follow_the_definition(steps):
    torch.manual_seed(0)
    graph = analyze_model(RandomDag(steps).eval(), (3, 4, 4))
    nodes = [n for n in graph.graph_module.graph.nodes if n.op != "output"]
    position = {n.name: i for i, n in enumerate(nodes)}
    for point in graph.split_points:
        expected = [
            n.name
            for n in nodes
            if n.op != "get_attr"
            and position[n.name] <= point.position
            and any(position.get(u.name, len(nodes)) > point.position for u in n.users)
        ]
        assert [t.name for t in point.tensors] == expected
        assert point.payload_bytes == sum(4 * torch.Size(t.shape).numel() for t in point.tensors)
    # every tensor-producing node before the last one is a cut (no containers here)
    computes = [n for n in graph.nodes if n.op.startswith("call_")]
    assert len(graph.split_points) == len(computes) - 1
    assert all(r.verified for r in verify_splits(graph))


def test_progress_and_cancel():
    seen = []
    graph = analyze_model(seeded(chain), (3, 16, 16), progress=lambda f, s: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    done = []
    verify_splits(graph, progress=lambda f, s: done.append(f))
    assert done[-1] == 1.0 and len(done) == len(graph.split_points)
    with pytest.raises(SeiCancelled):
        verify_splits(graph, cancel=lambda: True)
