"""Cumulative saliency: the one-pass result against an independent per-layer reference."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.fx
from torch import nn

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.saliency.cumulative import (
    cumulative_saliency,
    local_maxima,
    saliency_pass,
    tensor_layout,
)

# --------------------------------------------------------------------------- test models
# Each model calls self.tap(name, tensor) on the tensors the reference inspects; tap names
# equal the fx node names that produce those tensors (checked in `_graph`).


class Tapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.taps: dict[str, torch.Tensor] | None = None
        # the reference sets the node a split cuts after: consumers in the head then get a
        # detached input, so a payload tensor's gradient is the tail's only
        self.cut: str | None = None

    def tap(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if self.taps is not None:
            tensor.retain_grad()
            self.taps[name] = tensor
        return tensor


class PlainCNN(Tapped):
    """conv/relu/pool x2 + linear head: spatial maps and a flat vector."""

    def __init__(self, classes: int = 5, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=inplace)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=inplace)
        self.pool2 = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(32, 12)
        self.relu3 = nn.ReLU(inplace=inplace)
        self.fc2 = nn.Linear(12, classes)

    def forward(self, x):
        x = self.tap("conv1", self.conv1(x))
        x = self.tap("relu1", self.relu1(x))
        x = self.tap("pool1", self.pool1(x))
        x = self.tap("conv2", self.conv2(x))
        x = self.tap("relu2", self.relu2(x))
        x = self.tap("pool2", self.pool2(x))
        x = self.tap("flatten", torch.flatten(x, 1))
        x = self.tap("fc1", self.fc1(x))
        x = self.tap("relu3", self.relu3(x))
        return self.fc2(x)


PLAIN_POINTS = [
    ["conv1"],
    ["relu1"],
    ["pool1"],
    ["conv2"],
    ["relu2"],
    ["pool2"],
    ["flatten"],
    ["fc1"],
    ["relu3"],
]


class ResidualCNN(Tapped):
    """A residual block: inside it the payload is two tensors (branch + identity)."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.relu0 = nn.ReLU()
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.relu_a = nn.ReLU()
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.relu_out = nn.ReLU()
        self.side = nn.Conv2d(8, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        x = self.tap("relu0", self.relu0(self.stem(x)))
        branch = x.detach() if self.cut in ("relu_a", "conv_b") else x
        y = self.tap("relu_a", self.relu_a(self.conv_a(branch)))
        y = self.tap("conv_b", self.conv_b(y))
        z = self.tap("add", y + x)
        z = self.tap("relu_out", self.relu_out(z))
        s = self.tap("side", self.side(z.detach() if self.cut == "side" else z))
        pooled = torch.cat([self.pool(z), self.pool(s)], 1)
        return self.fc(torch.flatten(pooled, 1))


# the first name is the node a point cuts after
RESIDUAL_POINTS = [
    ["relu0"],
    ["relu_a", "relu0"],  # inside the block: relu0's gradient comes from the skip only
    ["conv_b", "relu0"],
    ["add"],
    ["relu_out"],
    ["side", "relu_out"],  # after `side`: relu_out's gradient comes from the pool only
]


class TokenNet(Tapped):
    """Patch embedding, a Swin-like channels-last stage, then a ViT-like token stage."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 8, stride=8)
        self.mix = nn.Linear(16, 16)
        self.act = nn.GELU()
        self.tokens = nn.Linear(16, 24)
        self.head = nn.Linear(24, classes)

    def forward(self, x):
        x = self.tap("patch", self.patch(x))
        x = self.tap("permute", x.permute(0, 2, 3, 1))  # B x H x W x C
        x = self.tap("mix", self.mix(x))
        x = self.tap("act", self.act(x))
        x = self.tap("flatten", x.flatten(1, 2))  # B x N x C
        x = self.tap("tokens", self.tokens(x))
        x = self.tap("mean", x.mean(1))  # B x C
        return self.head(x)


TOKEN_POINTS = [["patch"], ["permute"], ["mix"], ["act"], ["flatten"], ["tokens"], ["mean"]]


class WindowNet(Tapped):
    """Swin-like windows folded into the batch, plus a constant computed from a parameter."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.table = nn.Parameter(torch.randn(1, 4, 8))
        self.attn = nn.Linear(8, 8)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)  # B x 4 x 4 x 8
        b = x.shape[0]
        windows = x.reshape(b, 2, 2, 2, 2, 8).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, 8)
        windows = self.tap("reshape_1", windows)  # (B * 4 windows) x 4 tokens x 8
        bias = self.tap("mul", self.table * 2.0)  # not computed from the images
        y = self.tap("attn", self.attn(windows + bias))
        return self.head(y.reshape(b, 16, 8).mean(1))


WINDOW_POINTS = [["reshape_1"], ["mul", "reshape_1"], ["attn"]]


# --------------------------------------------------------------------------- helpers


@dataclass
class FakeTensorSpec:
    name: str


@dataclass
class FakeSplitPoint:
    index: int
    after: str
    tensors: tuple[FakeTensorSpec, ...]


@dataclass
class FakeGraph:
    """The fields of ModelGraph that saliency reads."""

    name: str
    input_shape: tuple[int, ...]
    graph_module: torch.fx.GraphModule
    split_points: list[FakeSplitPoint]


def _graph(model: nn.Module, points, input_shape, name="test") -> FakeGraph:
    gm = torch.fx.symbolic_trace(model)
    node_names = {n.name for n in gm.graph.nodes}
    for names in points:
        assert set(names) <= node_names, (names, sorted(node_names))
    split_points = [
        FakeSplitPoint(i, names[0], tuple(FakeTensorSpec(n) for n in names))
        for i, names in enumerate(points)
    ]
    return FakeGraph(name, tuple(input_shape), gm, split_points)


class TensorDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels
        self.classes = [str(i) for i in range(int(labels.max()) + 1)]
        self.fingerprint = f"tensors-{images.shape}-{float(images.sum()):.6f}"

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def _data(n: int, shape, classes: int, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)
    )


def _reference_map(act: torch.Tensor, grad: torch.Tensor, layout: str) -> torch.Tensor:
    """Grad-CAM of ONE image written out per layout (no batch dim), flattened map."""
    if layout == "spatial":  # C x H x W
        weights = grad.mean(dim=(1, 2))
        cam = sum(weights[c] * act[c] for c in range(act.shape[0]))
    elif layout == "channels_last":  # H x W x C
        weights = grad.mean(dim=(0, 1))
        cam = sum(weights[c] * act[:, :, c] for c in range(act.shape[2]))
    elif layout == "tokens":  # N x C
        weights = grad.mean(dim=0)
        cam = sum(weights[c] * act[:, c] for c in range(act.shape[1]))
    elif layout == "windows":  # nW x N x C of one image: every window's tokens are positions
        act, grad = act.reshape(-1, act.shape[-1]), grad.reshape(-1, grad.shape[-1])
        weights = grad.mean(dim=0)
        cam = sum(weights[c] * act[:, c] for c in range(act.shape[1]))
    else:  # vector C: one position, gradient x activation
        cam = (grad * act).sum().reshape(1)
    return torch.clamp(cam, min=0).reshape(-1)


def _reference(model: Tapped, points, dataset, layouts, target="top1"):
    """Per layer, per image: a fresh forward + backward for each tensor of each point."""
    model.eval()
    curves, per_class = [], {}
    labels = [dataset[i][1] for i in range(len(dataset))]
    for names in points:
        model.cut = names[0]
        weighted, weight = 0.0, 0
        per_class_weighted: dict[int, float] = {}
        for name in names:
            if layouts[name] == "constant":  # no per-image data: not part of the CS
                continue
            map_sum, class_sum = None, {}
            for i in range(len(dataset)):
                image, label = dataset[i]
                model.taps = {}
                logits = model(image[None])
                cls = int(logits.argmax(1)) if target == "top1" else label
                logits[0, cls].backward()
                if layouts[name] == "windows":  # the image's windows are the whole tensor
                    act, grad = model.taps[name].detach(), model.taps[name].grad
                else:
                    act, grad = model.taps[name][0].detach(), model.taps[name].grad[0]
                cam = _reference_map(act, grad, layouts[name])
                map_sum = cam.double() if map_sum is None else map_sum + cam.double()
                class_sum.setdefault(cls, []).append(float(cam.double().mean()))
                model.taps = None
                model.zero_grad()
            elements = act.numel()
            cs = abs(float((map_sum / len(dataset)).mean()))
            weighted += elements * cs
            weight += elements
            for cls, values in class_sum.items():
                per_class_weighted[cls] = per_class_weighted.get(cls, 0.0) + elements * abs(
                    sum(values) / len(values)
                )
        model.cut = None
        curves.append(weighted / weight)
        for cls, value in per_class_weighted.items():
            per_class.setdefault(cls, []).append(value / weight)
    return curves, per_class, labels


def _assert_close(got, expected, rel=1e-5):
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, rel=rel, abs=1e-12), (got, expected)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- equivalence


def test_one_pass_equals_per_layer_reference_plain_cnn():
    torch.manual_seed(0)
    model = PlainCNN()
    with torch.no_grad():  # positive head weights: the flat vectors after ReLU score > 0
        model.fc2.weight.abs_()
    dataset = _data(10, (3, 16, 16), 5)
    graph = _graph(model, PLAIN_POINTS, (3, 16, 16))
    result = cumulative_saliency(graph, dataset, batch_size=4, per_class=True, cache=False)
    layouts = {n: "spatial" for n in ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]}
    layouts |= {"flatten": "vector", "fc1": "vector", "relu3": "vector"}
    expected, expected_per_class, _ = _reference(model, PLAIN_POINTS, dataset, layouts)
    _assert_close([p.cs for p in result.points], expected)
    assert set(result.per_class) == set(expected_per_class)
    for cls, curve in expected_per_class.items():
        _assert_close(result.per_class[cls], curve)
    assert all(p.cs > 0 for p in result.points[:6])  # the spatial maps
    assert result.points[7].cs > 0 and result.points[8].cs > 0  # fc1, relu3: vectors
    for p in result.points:
        assert p.log10_cs == (math.log10(p.cs) if p.cs > 0 else float("-inf"))


def test_one_pass_equals_reference_on_residual_model_with_two_tensor_payloads():
    torch.manual_seed(1)
    model = ResidualCNN()
    dataset = _data(9, (3, 12, 12), 4, seed=3)
    graph = _graph(model, RESIDUAL_POINTS, (3, 12, 12))
    result = cumulative_saliency(
        graph, dataset, batch_size=5, target="label", per_class=True, cache=False
    )
    layouts = {n: "spatial" for names in RESIDUAL_POINTS for n in names}
    expected, expected_per_class, _ = _reference(model, RESIDUAL_POINTS, dataset, layouts, "label")
    _assert_close([p.cs for p in result.points], expected)
    for cls, curve in expected_per_class.items():
        _assert_close(result.per_class[cls], curve)


def test_one_pass_equals_reference_on_tokens_channels_last_and_vectors():
    torch.manual_seed(2)
    model = TokenNet()
    shape = (3, 32, 48)  # non-square: the 4 x 6 x 16 channels-last stage is recognised
    dataset = _data(7, shape, 3, seed=5)
    graph = _graph(model, TOKEN_POINTS, shape)
    result = cumulative_saliency(graph, dataset, batch_size=3, cache=False)
    layouts = {
        "patch": "spatial",
        "permute": "channels_last",
        "mix": "channels_last",
        "act": "channels_last",
        "flatten": "tokens",
        "tokens": "tokens",
        "mean": "vector",
    }
    expected, _, _ = _reference(model, TOKEN_POINTS, dataset, layouts)
    _assert_close([p.cs for p in result.points], expected)


def test_windows_folded_into_the_batch_and_constants_left_out():
    torch.manual_seed(3)
    model = WindowNet()
    dataset = _data(5, (3, 16, 16), 3, seed=8)
    graph = _graph(model, WINDOW_POINTS, (3, 16, 16))
    result = cumulative_saliency(graph, dataset, batch_size=2, cache=False)
    layouts = {"reshape_1": "windows", "mul": "constant", "attn": "windows"}
    expected, _, _ = _reference(model, WINDOW_POINTS, dataset, layouts)
    _assert_close([p.cs for p in result.points], expected)
    assert result.points[0].cs == result.points[1].cs > 0


def test_in_place_relu_gives_the_same_curve():
    torch.manual_seed(4)
    plain = PlainCNN(inplace=False)
    in_place = PlainCNN(inplace=True)
    in_place.load_state_dict(plain.state_dict())
    dataset = _data(6, (3, 16, 16), 5)
    a = cumulative_saliency(_graph(plain, PLAIN_POINTS, (3, 16, 16)), dataset, cache=False)
    b = cumulative_saliency(_graph(in_place, PLAIN_POINTS, (3, 16, 16)), dataset, cache=False)
    _assert_close([p.cs for p in b.points], [p.cs for p in a.points], rel=1e-6)
    # conv1's map (before the ReLU) differs from relu1's: the capture was not overwritten
    assert a.points[0].cs != pytest.approx(a.points[1].cs, rel=1e-3)


def test_batch_size_does_not_change_the_result():
    torch.manual_seed(5)
    model = ResidualCNN()
    dataset = _data(11, (3, 12, 12), 4)
    graph = _graph(model, RESIDUAL_POINTS, (3, 12, 12))
    one = cumulative_saliency(graph, dataset, batch_size=1, cache=False)
    many = cumulative_saliency(graph, dataset, batch_size=11, cache=False)
    _assert_close([p.cs for p in many.points], [p.cs for p in one.points], rel=1e-6)


def test_all_class_cs_is_the_count_weighted_mean_of_per_class_cs():
    # maps are ReLU'd (non-negative), so |mean| splits exactly over the classes
    torch.manual_seed(6)
    model = PlainCNN()
    dataset = _data(20, (3, 16, 16), 5, seed=9)
    result = cumulative_saliency(
        _graph(model, PLAIN_POINTS, (3, 16, 16)), dataset, per_class=True, cache=False
    )
    assert sum(result.class_counts.values()) == 20
    for i, point in enumerate(result.points):
        mixed = sum(result.class_counts[k] * curve[i] for k, curve in result.per_class.items())
        assert point.cs == pytest.approx(mixed / 20, rel=1e-9)


# --------------------------------------------------------------------------- memory


def test_state_does_not_grow_with_the_number_of_images():
    torch.manual_seed(7)
    model = ResidualCNN()
    gm = torch.fx.symbolic_trace(model)
    small = saliency_pass(gm, RESIDUAL_POINTS, _data(8, (3, 12, 12), 4), (3, 12, 12), batch_size=4)
    large = saliency_pass(gm, RESIDUAL_POINTS, _data(32, (3, 12, 12), 4), (3, 12, 12), batch_size=4)
    assert small.images == 8 and large.images == 32
    assert large.state_nbytes() == small.state_nbytes()
    # one running map per distinct tensor, each the size of one image's map
    assert sorted(large.map_sums) == sorted({n for names in RESIDUAL_POINTS for n in names})
    assert all(m.shape == (12 * 12,) for m in large.map_sums.values())


# --------------------------------------------------------------------------- progress, cancel, errors, cache


def test_progress_reaches_one_and_cancel_stops():
    model = PlainCNN()
    dataset = _data(12, (3, 16, 16), 5)
    graph = _graph(model, PLAIN_POINTS, (3, 16, 16))
    seen = []
    cumulative_saliency(
        graph, dataset, batch_size=5, progress=lambda f, s: seen.append(f), cache=False
    )
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 3
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(SeiCancelled):
        cumulative_saliency(graph, dataset, batch_size=5, cancel=cancel, cache=False)
    assert len(calls) == 2


def test_bad_target_and_labels_out_of_range_are_input_errors():
    model = PlainCNN(classes=3)
    dataset = TensorDataset(torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 7]))
    graph = _graph(model, PLAIN_POINTS, (3, 16, 16))
    with pytest.raises(SeiInputError, match="label"):
        cumulative_saliency(graph, dataset, target="label", cache=False)
    with pytest.raises(SeiInputError, match="target"):
        cumulative_saliency(graph, dataset, target="bottom", cache=False)


def test_unknown_payload_node_is_an_input_error():
    gm = torch.fx.symbolic_trace(PlainCNN())
    with pytest.raises(SeiInputError, match="nowhere"):
        saliency_pass(gm, [["nowhere"]], _data(2, (3, 16, 16), 5))


def test_disk_cache_hit_and_key(tmp_path):
    model = PlainCNN()
    dataset = _data(6, (3, 16, 16), 5)
    graph = _graph(model, PLAIN_POINTS, (3, 16, 16))
    first = cumulative_saliency(graph, dataset, per_class=True)
    files = list((tmp_path / "cache" / "saliency").glob("*.json"))
    assert len(files) == 1 and not first.cached
    again = cumulative_saliency(graph, dataset, per_class=True)
    assert again.cached
    assert [p.cs for p in again.points] == [p.cs for p in first.points]
    assert again.per_class == first.per_class and again.maxima == first.maxima
    cumulative_saliency(graph, dataset, target="label")  # another target: another entry
    with torch.no_grad():
        model.fc2.bias.add_(1.0)  # other weights: another entry
    retrained = cumulative_saliency(_graph(model, PLAIN_POINTS, (3, 16, 16)), dataset)
    assert not retrained.cached
    assert len(list((tmp_path / "cache" / "saliency").glob("*.json"))) == 3


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 3, 2, 5, 4], [1, 3]),  # interior peaks
        ([1, 2, 3], [2]),  # rising: the last point (endpoint rule)
        ([3, 2, 1], [0]),  # falling: the first point
        ([1, 3, 3, 3, 2], [1]),  # plateau counts once, at its first index
        ([1, 3, 3, 4, 2], [3]),  # a shoulder is not a maximum
        ([2, 2, 2], []),  # flat: no maximum
        ([5], [0]),  # a single point
        ([], []),
        ([1, float("nan"), 0.5, 2, float("-inf")], [0, 3]),  # non-finite never counts
        ([1, None, 3, 1], [0, 2]),  # None is below any value
        ([4, 4, 1, 2, 2], [0, 3]),  # plateaus touching both ends
    ],
)
def test_local_maxima_rules(values, expected):
    assert local_maxima(values) == expected


def test_local_maxima_tolerance_merges_rounding_differences():
    chain = [-3.0, -1.4483396, -1.4483387, -1.4483388, -1.4483387, -2.0]
    assert local_maxima(chain) == [1]
    assert local_maxima(chain, tolerance=0.0) == [2, 4]
    assert local_maxima([0.0, 1e-4, 0.0]) == [1]  # above the tolerance: a real peak


def test_local_maxima_without_endpoints():
    assert local_maxima([3, 1, 2, 1, 5], endpoints=False) == [2]


@pytest.mark.parametrize(
    ("shape", "input_shape", "layout"),
    [
        ((2, 64, 56, 56), (3, 224, 224), "spatial"),
        ((2, 56, 56, 96), (3, 224, 224), "channels_last"),
        ((2, 7, 7, 7), (3, 224, 224), "spatial"),  # ambiguous: channels first
        ((2, 32, 15, 20), (3, 480, 640), "spatial"),
        ((2, 15, 20, 32), (3, 480, 640), "channels_last"),
        ((2, 197, 768), (3, 224, 224), "tokens"),
        ((2, 1000), (3, 224, 224), "vector"),
        ((2, 8, 4, 4, 4), (3, 64, 64), "spatial"),
    ],
)
def test_tensor_layouts(shape, input_shape, layout):
    assert tensor_layout(shape, input_shape) == layout


@pytest.mark.slow
def test_one_pass_equals_head_tail_reference_on_resnet18_graph():
    """On the real model graph: every split point run separately as head -> tail."""
    import torchvision

    from sei_tui.core.model.graph import analyze_model

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=6).eval()
    graph = analyze_model(model, (3, 32, 32), name="resnet18")
    dataset = _data(4, (3, 32, 32), 6, seed=11)
    result = cumulative_saliency(graph, dataset, batch_size=4, cache=False)
    images = torch.stack([dataset[i][0] for i in range(4)])
    assert any(len(p.tensors) > 1 for p in graph.split_points)  # residual payloads
    expected = []
    for point in graph.split_points:
        head, tail = graph.split(point.index)
        with torch.no_grad():
            payload = [t.detach().requires_grad_(True) for t in head(images)]
        logits = tail(payload)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
        weighted, weight = 0.0, 0
        for act in payload:
            grad, act = act.grad, act.detach()
            if act.dim() == 4:  # B x C x H x W
                cams = torch.relu((grad.mean(dim=(2, 3))[:, :, None, None] * act).sum(1))
            else:  # B x C: gradient x activation
                cams = torch.relu((grad * act).sum(1))
            elements = act[0].numel()
            weighted += elements * float(cams.double().mean(0).mean())
            weight += elements
        expected.append(weighted / weight)
    _assert_close([p.cs for p in result.points], expected)
