"""Early exits and bottlenecks: accounting on constructed cases (numbers worked out by hand),
the identity bottleneck, deterministic training, the disjoint train/evaluation split."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sei_tui.core.adapters.bottleneck import Bottleneck, train_bottleneck
from sei_tui.core.adapters.deploy import (
    bottleneck_deployments,
    early_exit_deployment,
    qos_threshold,
)
from sei_tui.core.adapters.exits import ExitBranch, pool_features, train_exit
from sei_tui.core.adapters.split_data import (
    evaluation_indices,
    training_images,
    training_indices,
)
from sei_tui.core.adapters.training import ExitOutputs, check_classes_covered, check_labels
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.accuracy import EVERYTHING, accuracy_under_loss
from sei_tui.core.evaluation.deployments import Deployment
from sei_tui.core.evaluation.encoding import (
    RESULT_BYTES,
    encode_tensor_batches,
    encode_tensors,
    parse_tensor_encoding,
)
from sei_tui.core.evaluation.latency import latency_parts
from sei_tui.core.evaluation.qos import parse_qos
from sei_tui.core.evaluation.simulation import row_from_result

# ------------------------------------------------------------------ the constructed case
# 8 images, 3 classes. The exit is right and sure (0.95) on images 0, 1, 3, 6 and unsure
# (0.4) and wrong on 2, 4, 5, 7; the split's tail is right on every image but image 5.
LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
SURE = {0, 1, 3, 6}
EXIT_TOP1 = torch.tensor([int(y) if j in SURE else (int(y) + 1) % 3 for j, y in enumerate(LABELS)])
CONFIDENCE = torch.tensor([0.95 if j in SURE else 0.4 for j in range(8)])
SPLIT_TOP1 = LABELS.clone()
SPLIT_TOP1[5] = 0
FP32 = parse_tensor_encoding("fp32")


def _split_deployment() -> Deployment:
    # each image's payload is its tail's logits (one-hot), so the tail is the identity
    payloads = [nn.functional.one_hot(SPLIT_TOP1[j : j + 1], 3).float() for j in range(8)]
    frames = [encode_tensors([p], FP32) for p in payloads]
    return Deployment(
        strategy="split",
        encoding="fp32",
        split=SimpleNamespace(index=4, after="layer"),
        frames=frames,
        shapes=[(1, 3)],
        payload_bytes=len(frames[0]),
        encode_s=0.002,
        decode_s=0.001,
        head_s=0.010,
        tail_s=0.020,
        edge_flops=1000,
        server_flops=5000,
        edge_params=10,
        edge_memory_bytes=40,
        cs=None,
        compute="test",
        tail=lambda tensors: tensors[0],
        lossless_top1=SPLIT_TOP1.clone(),
    )


def _outputs() -> ExitOutputs:
    return ExitOutputs(ExitBranch("vector", 3, 3), CONFIDENCE, EXIT_TOP1, flops=30, params=12)


def _early_exit(threshold: float) -> Deployment:
    return early_exit_deployment(
        _split_deployment(), _outputs(), threshold, exit_s=0.0005, result_s=0.0001, train_images=99
    )


def test_each_image_takes_its_path_and_the_counts_are_the_hand_counts():
    split = _split_deployment()
    ee = _early_exit(0.9)
    assert ee.strategy == "early_exit" and ee.exit_threshold == 0.9
    assert ee.exited == (True, True, False, True, False, False, True, False)
    assert ee.exit_rate == 0.5  # 4 of 8
    size = split.payload_bytes
    assert ee.frame_sizes == (13, 13, size, 13, size, size, 13, size)
    assert RESULT_BYTES == 13
    assert ee.payload_bytes == math.ceil((4 * 13 + 4 * size) / 8)
    frames = ee.encoded_frames()
    assert [len(f) for f in frames] == list(ee.frame_sizes)
    assert frames[2] == split.frames[2] and frames[0] != split.frames[0]
    # exited images answer with the exit (right), the others with the tail (wrong on 5)
    assert ee.lossless_top1.tolist() == [0, 1, 2, 0, 1, 0, 0, 1]
    accuracy, agreement = accuracy_under_loss(ee, None, LABELS, LABELS)
    assert accuracy == 7 / 8
    # exit FLOPs and parameters count on the edge
    assert ee.edge_flops == 1030 and ee.edge_params == 22 and ee.edge_memory_bytes == 40 + 48
    assert ee.train_images == 99 and ee.eval_images == 8


def test_a_threshold_below_every_confidence_sends_nothing():
    ee = _early_exit(0.3)
    assert ee.exit_rate == 1.0 and set(ee.frame_sizes) == {13}
    assert accuracy_under_loss(ee, None, LABELS, LABELS)[0] == 4 / 8  # the sure ones only


def test_lost_frames_hit_each_path_as_it_travels():
    ee = _early_exit(0.9)
    losses = [()] * 10
    losses[1] = EVERYTHING  # image 1 exited: its result never arrived, no answer
    losses[4] = EVERYTHING  # image 4 was sent: its payload decodes to zeros, the tail says 0
    accuracy, _ = accuracy_under_loss(ee, losses, LABELS, LABELS)
    assert accuracy == 5 / 8  # 7 right without loss, less images 1 and 4


def test_each_frame_latency_follows_its_path():
    ee = _early_exit(0.9)
    # 10 frames over 8 images: frame f carries image f mod 8, network time 1 ms x (f + 1)
    frames = [
        SimpleNamespace(
            latency_s=0.001 * (f + 1),
            delivered_s=1.0,
            complete=True,
            lost_bytes=0,
            lost_ranges=(),
        )
        for f in range(10)
    ]
    flow = SimpleNamespace(
        frames=frames, summary=SimpleNamespace(packets_lost=0, retransmissions=0)
    )
    inputs = SimpleNamespace(labels=LABELS, whole_top1=LABELS)
    row = row_from_result(ee, flow, "tcp", inputs, 0.03, parse_qos(""))
    # exited: head 10 + exit 0.5 + result 0.1 ms = 10.6 ms; sent: 10 + 0.5 + 2 + 1 + 20
    totals = [0.0116, 0.0126, 0.0365, 0.0146, 0.0385, 0.0395, 0.0176, 0.0415, 0.0196, 0.0206]
    assert row.mean_latency == pytest.approx(sum(totals) / 10)
    assert row.mean_latency == pytest.approx(0.02526)
    assert row.p50_latency == pytest.approx(0.0196)  # 5th of 10 sorted
    assert row.p95_latency == pytest.approx(0.0415)
    assert row.deadline_miss == 4 / 10  # the four sent frames over 30 ms
    assert row.accuracy == 7 / 8 and row.exit_rate == 0.5 and row.exit_threshold == 0.9
    assert row.strategy == "early_exit" and row.split_index == 4
    # each path's own p95: exited frames 0, 1, 3, 6, 8, 9; sent frames 2, 4, 5, 7
    assert row.exit_path_p95_latency == pytest.approx(0.0206)
    assert row.offload_path_p95_latency == pytest.approx(0.0415)


def test_per_frame_fixed_terms_leave_one_term_unchanged():
    net = [0.001, 0.004, None, 0.002]
    one = latency_parts(net, 0.01, 0.012)
    same = latency_parts(net, [0.01, 0.01], 0.012)
    assert one.p50_latency == same.p50_latency == pytest.approx(0.012)
    assert one.deadline_miss == same.deadline_miss == 0.5
    assert math.isinf(one.mean_latency) and math.isinf(same.mean_latency)
    parts = latency_parts([0.001, 0.002, 0.003], [0.1, 0.2])  # frame 2 takes term 0
    assert parts.mean_latency == pytest.approx((0.101 + 0.202 + 0.103) / 3)
    assert parts.p95_latency == pytest.approx(0.202)


def test_the_qos_threshold_is_the_smallest_that_meets_the_bound():
    outputs = _outputs()
    # tried in order: 0.4 (all exit: 4/8), 0.95 (the sure ones exit: 7/8), 1.0 (none: 7/8)
    assert qos_threshold(outputs, SPLIT_TOP1, LABELS, 0.5) == pytest.approx(0.4)
    assert qos_threshold(outputs, SPLIT_TOP1, LABELS, 0.6) == pytest.approx(0.95)
    assert qos_threshold(outputs, SPLIT_TOP1, LABELS, 0.9) is None


# ------------------------------------------------------------------ layouts


def test_exit_pooling_rule_per_layout():
    spatial = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    assert pool_features(spatial, "spatial").tolist() == [[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]]
    last = spatial.permute(0, 2, 3, 1)
    assert pool_features(last, "channels_last").tolist() == [
        [1.5, 5.5, 9.5],
        [13.5, 17.5, 21.5],
    ]
    with_class_token = torch.arange(5 * 2, dtype=torch.float32).reshape(1, 5, 2)  # 1 + 2 x 2
    assert pool_features(with_class_token, "tokens").tolist() == [[0.0, 1.0]]
    no_class_token = torch.arange(4 * 2, dtype=torch.float32).reshape(1, 4, 2)
    assert pool_features(no_class_token, "tokens").tolist() == [[3.0, 4.0]]
    flat = torch.tensor([[1.0, 2.0]])
    assert pool_features(flat, "vector").tolist() == [[1.0, 2.0]]


# ------------------------------------------------------------------ bottleneck


def _small_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    ).eval()


def _graph_and_point():
    from sei_tui.core.model.graph import analyze_model

    graph = analyze_model(_small_model(), (3, 8, 8), name="small", flop_cache=False)
    (sp,) = [p for p in graph.split_points if tuple(p.tensors[0].shape) == (1, 6, 8, 8)][:1]
    return graph, sp


def test_an_identity_bottleneck_as_wide_as_the_tensor_is_the_split_itself():
    from sei_tui.core.model.compute import ComputeModel

    graph, sp = _graph_and_point()
    head, tail = graph.split(sp.index)
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        payload = head(images)[0]
    compute = ComputeModel.estimated(graph, 1.0)
    inputs = SimpleNamespace(
        graph=graph,
        edge_compute=compute,
        server_compute=compute,
        cs=lambda _i: None,
        compute_label="estimated",
    )
    identity = Bottleneck("spatial", 6, 6).set_identity()
    encodings = [parse_tensor_encoding(e) for e in ("int8", "int8+zlib", "fp16")]
    deployments = bottleneck_deployments(inputs, sp, identity, tail, payload, encodings, 0)
    split_frames = encode_tensor_batches([payload], encodings)
    for enc, deployment in zip(encodings, deployments, strict=True):
        frames = split_frames[enc].frames
        assert deployment.frames == frames  # byte for byte the split's own payload
        assert deployment.payload_bytes == math.ceil(sum(map(len, frames)) / len(frames))
        decoded = torch.from_numpy(split_frames[enc].decoded[0])
        with torch.inference_mode():
            split_top1 = tail([decoded]).argmax(dim=1)
        assert torch.equal(deployment.lossless_top1, split_top1)
        assert deployment.bottleneck_channels == 6 and deployment.strategy == "bottleneck"
        # encoder FLOPs on the edge, decoder FLOPs on the server: 64 positions x (2*6*6 + 6)
        assert deployment.edge_flops == sp.head_flops + 64 * 78
        assert deployment.server_flops == sp.tail_flops + 64 * 78


def test_bottleneck_training_is_deterministic_per_seed():
    graph, sp = _graph_and_point()
    head, tail = graph.split(sp.index)
    images = torch.rand(24, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        payload = head(images)[0]
        teacher = graph.graph_module(images)
    first = train_bottleneck(payload, "spatial", 2, tail, teacher, epochs=2, seed=5)
    again = train_bottleneck(payload, "spatial", 2, tail, teacher, epochs=2, seed=5)
    other = train_bottleneck(payload, "spatial", 2, tail, teacher, epochs=2, seed=6)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())
    # the frozen tail got no gradients
    assert all(p.grad is None for p in tail.parameters())


def test_exit_training_is_deterministic_per_seed():
    g = torch.Generator().manual_seed(0)
    pooled = torch.randn(100, 5, generator=g)
    labels = torch.randint(0, 3, (100,), generator=g)
    first = train_exit(pooled, "vector", labels, 3, epochs=3, seed=1)
    again = train_exit(pooled, "vector", labels, 3, epochs=3, seed=1)
    other = train_exit(pooled, "vector", labels, 3, epochs=3, seed=2)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert not torch.equal(first.linear.weight, other.linear.weight)


def test_a_separable_exit_learns_its_classes():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(90) % 3
    pooled = nn.functional.one_hot(labels, 3).float() * 4 + 0.1 * torch.randn(90, 3, generator=g)
    branch = train_exit(pooled, "vector", labels, 3, epochs=20, seed=0)
    with torch.no_grad():
        assert torch.equal(branch.classify(pooled).argmax(dim=1), labels)


# ------------------------------------------------------------------ the split of the images


def test_evaluation_indices_are_spread_evenly():
    assert evaluation_indices(10, 4) == [0, 2, 5, 7]
    assert evaluation_indices(3, 64) == [0, 1, 2]


def test_training_indices_never_meet_the_evaluation_indices():
    evaluation = evaluation_indices(100, 30)
    chosen = training_indices(100, evaluation, 50, seed=3, synthetic=False)
    assert len(chosen) == 50 == len(set(chosen))
    assert not set(chosen) & set(evaluation)
    assert chosen == training_indices(100, evaluation, 50, seed=3, synthetic=False)
    assert chosen != training_indices(100, evaluation, 50, seed=4, synthetic=False)
    everything = training_indices(100, evaluation, 500, seed=3, synthetic=False)
    assert sorted(everything) == sorted(set(range(100)) - set(evaluation))
    assert training_indices(64, list(range(64)), 5, 0, synthetic=True) == [64, 65, 66, 67, 68]


def test_synthetic_training_images_are_not_evaluation_images():
    from sei_tui.core.data.datasets import open_dataset

    loaded = SimpleNamespace(preprocess=None, input_shape=(3, 16, 16))
    evaluation = open_dataset(None, 12, None, (3, 16, 16))
    training = training_images(None, 12, loaded, 12, 20, seed=0, label_of=list(range(8)))
    assert training.images.shape == (20, 3, 16, 16)
    assert training.labels.tolist() == [i % 8 for i in range(12, 32)]
    longer = open_dataset(None, 32, None, (3, 16, 16))  # image i depends on (seed, i) only
    for j in range(len(evaluation)):
        image = evaluation[j][0]
        assert torch.equal(image, longer[j][0])
        assert torch.equal(training.images[j], longer[12 + j][0])
        assert not any(torch.equal(image, t) for t in training.images)


def test_too_few_images_left_to_train_on_is_refused(tmp_path):
    from PIL import Image

    for k in range(20):
        folder = tmp_path / ("a" if k % 2 else "b")
        folder.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (k * 10, 0, 0)).save(folder / f"{k}.png")
    loaded = SimpleNamespace(preprocess=None, input_shape=(3, 8, 8))
    with pytest.raises(SeiInputError, match="--train-images: only 4 images"):
        training_images(str(tmp_path), None, loaded, 16, 512, 0, None)
    ok = training_images(str(tmp_path), None, loaded, 4, 512, 0, None)
    assert len(ok.indices) == 16 and ok.labels is None


def test_labels_train_when_the_data_has_the_models_classes_else_self_distillation():
    named = SimpleNamespace(class_names=["circle", "square"], num_classes=2)
    assert check_labels(["square", "circle"], named) == [1, 0]
    assert check_labels(["cat", "dog"], named) is None  # not the model's: its predictions
    unnamed = SimpleNamespace(class_names=None, num_classes=1000)
    assert check_labels(["cat", "dog"], unnamed) is None


def test_a_class_without_training_images_is_refused():
    from sei_tui.core.adapters.split_data import TrainingImages

    training = TrainingImages(torch.zeros(3, 1), torch.tensor([0, 0, 2]), (5, 6, 7), "x")
    names = {0: "circle", 1: "square", 2: "ring"}
    with pytest.raises(SeiInputError, match="--data d: no training image of class 'square'"):
        check_classes_covered(training, torch.tensor([0, 1, 2, 1]), names, "d")
    check_classes_covered(training, torch.tensor([0, 2]), names, "d")  # covered: no error
    distilled = TrainingImages(torch.zeros(3, 1), None, (5, 6, 7), "x")
    check_classes_covered(distilled, torch.tensor([0, 1]), names, "d")


# ------------------------------------------------------------------ the real pipeline


@pytest.mark.slow
def test_retuning_an_exit_equals_evaluating_at_that_threshold():
    from sei_tui.core.adapters.training import AdapterOptions
    from sei_tui.core.evaluation.engine import Evaluation

    def evaluation(threshold: float) -> Evaluation:
        options = AdapterOptions(thresholds=(threshold,), train_images=64, exit_epochs=5)
        return Evaluation(
            "demo", synthetic=16, max_images=16, encodings=["int8"], frames=5,
            strategies=("early_exit",), adapters=options, saliency=False,
        )  # fmt: skip

    low, high = evaluation(0.5), evaluation(0.9)
    low_rows = {r.split_index: r for r in low.rows()}
    high_rows = {r.split_index: r for r in high.rows()}
    assert {r.strategy for r in low_rows.values()} == {"early_exit"}
    for index in (18, 25):
        retuned = low.retune_exit(index, "int8", 0.5, 0.9)
        expected = high_rows[index]
        assert retuned.exit_threshold == 0.9
        assert retuned.exit_rate == expected.exit_rate <= low_rows[index].exit_rate
        assert retuned.accuracy == expected.accuracy
        assert retuned.payload_bytes == expected.payload_bytes
        assert retuned.network_p95_s == expected.network_p95_s
        assert retuned.train_images == 64 and retuned.eval_images == 16
    # the retuned deployments replace the old ones in later runs
    again = {r.split_index: r for r in low.rows()}
    assert again[18].exit_threshold == 0.9 and again[0].exit_threshold == 0.5


def test_trained_parts_are_cached_as_state_dicts_by_their_key(tmp_path, monkeypatch):
    from sei_tui.core.adapters.training_cache import cache_key, load_cached, store

    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    branch = train_exit(torch.randn(40, 4, generator=g), "vector", torch.arange(40) % 2, 2, 2)
    key = cache_key("demo", "w1", "d1", 18, {"kind": "exit", "epochs": 2})
    assert key != cache_key("demo", "w2", "d1", 18, {"kind": "exit", "epochs": 2})
    assert key != cache_key("demo", "w1", "d2", 18, {"kind": "exit", "epochs": 2})
    assert key != cache_key("demo", "w1", "d1", 19, {"kind": "exit", "epochs": 2})
    assert key != cache_key("demo", "w1", "d1", 18, {"kind": "exit", "epochs": 3})
    fresh = ExitBranch("vector", 4, 2)
    assert not load_cached(key, fresh)
    store(key, branch)
    (path,) = (tmp_path / "adapters").iterdir()
    assert set(torch.load(path, weights_only=True)) == {
        "mean",
        "std",
        "linear.weight",
        "linear.bias",
    }
    assert load_cached(key, fresh)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in branch.state_dict().items())
    path.write_bytes(b"not a state dict")
    assert not load_cached(key, ExitBranch("vector", 4, 2))  # damaged: trained again
