"""Every split point of every listed torchvision model: found, and head->tail == whole.

Random (seeded) weights, fp32, batch 1. Inputs are as small as each architecture allows
so the whole file stays within a few minutes on 2 cores; the payload definition is
checked independently by brute force over the fx graph.
"""

import pytest
import torch
import torchvision

from sei_tui.core.model.graph import VERIFY_TOLERANCE, analyze_model, verify_splits

# name -> (constructor kwargs, input shape). ViT's positional embedding fixes its input
# size, so it is built for 32x32; inception_v3 needs at least 75x75; swin_t at 32x32
# still pads and shifts its first-stage windows.
MODELS = {
    "vgg16": ({}, (3, 32, 32)),
    "resnet18": ({}, (3, 64, 64)),
    "resnet50": ({}, (3, 32, 32)),
    "mobilenet_v2": ({}, (3, 32, 32)),
    "mobilenet_v3_large": ({}, (3, 32, 32)),
    "efficientnet_b0": ({}, (3, 32, 32)),
    "googlenet": ({"init_weights": False}, (3, 32, 32)),
    "inception_v3": ({"init_weights": False}, (3, 75, 75)),
    "densenet121": ({}, (3, 32, 32)),
    "convnext_tiny": ({}, (3, 32, 32)),
    "regnet_y_400mf": ({}, (3, 32, 32)),
    "squeezenet1_0": ({}, (3, 64, 64)),
    "shufflenet_v2_x1_0": ({}, (3, 32, 32)),
    "vit_b_16": ({"image_size": 32}, (3, 32, 32)),
    "swin_t": ({}, (3, 32, 32)),
}
HEAVY = {"densenet121", "inception_v3", "efficientnet_b0", "resnet50", "swin_t", "vit_b_16"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def brute_force_payloads(graph):
    """Payload by definition: tensors produced at or before the cut, used after it."""
    nodes = [n for n in graph.graph_module.graph.nodes if n.op != "output"]
    position = {n.name: i for i, n in enumerate(nodes)}
    end = len(nodes)
    tensors = {n.name for n in graph.nodes if n.shape is not None and n.op != "get_attr"}
    payloads = {}
    for point in graph.split_points:
        k = point.position
        payloads[point.after] = [
            n.name
            for n in nodes
            if n.name in tensors
            and position[n.name] <= k
            and any(position.get(u.name, end) > k for u in n.users)
        ]
    return payloads


def model_params(graph):
    seen = {}
    for node in graph.graph_module.graph.nodes:
        if node.op == "call_module":
            for p in graph.graph_module.get_submodule(node.target).parameters():
                seen[id(p)] = p.numel()
        elif node.op == "get_attr":
            attr = graph.graph_module
            for atom in node.target.split("."):
                attr = getattr(attr, atom)
            if isinstance(attr, torch.nn.Parameter):
                seen[id(attr)] = attr.numel()
    return sum(seen.values())


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in MODELS],
)
def test_every_split_point_is_found_and_verified(name):
    kwargs, shape = MODELS[name]
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, **kwargs).eval()
    graph = analyze_model(model, shape, name=name)

    compute_nodes = [n for n in graph.nodes if n.op.startswith("call_")]
    assert len(graph.split_points) >= len(compute_nodes) // 2
    assert [s.index for s in graph.split_points] == list(range(len(graph.split_points)))
    positions = [s.position for s in graph.split_points]
    assert positions == sorted(set(positions))

    # A tensor-producing node is skipped as a cut only when a Python container of
    # tensors (chunk/split/attention results before their getitem) is live across it.
    last_compute = max(n.position for n in compute_nodes)
    skipped = {
        n.position for n in compute_nodes if n.shape is not None and n.position < last_compute
    } - set(positions)
    fx_nodes = [n for n in graph.graph_module.graph.nodes if n.op != "output"]
    info = {n.name: n for n in graph.nodes}
    for k in skipped:
        crossing = [
            n.name
            for n in fx_nodes[: k + 1]
            if any(info.get(u.name) is None or info[u.name].position > k for u in n.users)
        ]
        assert any(info[c].shape is None and info[c].bytes > 0 for c in crossing), k

    expected = brute_force_payloads(graph)
    for point in graph.split_points:
        assert [t.name for t in point.tensors] == expected[point.after], point.after
        assert point.payload_bytes == sum(
            torch.Size(t.shape).numel() * torch.empty(0, dtype=getattr(torch, t.dtype)).itemsize
            for t in point.tensors
        )
        assert point.single_tensor == (len(point.tensors) == 1)
        assert point.head_flops + point.tail_flops == graph.total_flops
        assert 0 <= point.head_params <= graph.total_params

    assert graph.total_params == model_params(graph)
    results = verify_splits(graph)
    assert len(results) == len(graph.split_points)
    worst = max(results, key=lambda r: r.max_abs_diff)
    assert worst.max_abs_diff <= VERIFY_TOLERANCE, graph.split_points[worst.index].after
    assert all(r.verified for r in results)
