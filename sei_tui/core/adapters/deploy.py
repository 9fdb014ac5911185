"""`early_exit` and `bottleneck` deployments, built beside the split deployments.

Early exit at split k, threshold τ, encoding e: the device runs the head and the exit;
image j whose exit's top-1 softmax probability is ≥ τ is answered on the device (its frame
is the 13-byte result, as `local` sends); any other image's frame is split k's frame in
encoding e and the tail answers. Each image's frame, fixed latency and answer follow its own
path: exited images cost head + exit + result encoding; the others head + exit + encode +
decode + tail (plus each frame's network time). `exit_rate` is the fraction of evaluation
images that exit. The thresholds are the run's (`--exit-thresholds`) and, when the QoS
bounds accuracy from below, per deployment the smallest threshold whose accuracy with every
frame whole is within the bound (accuracy only changes at the exits' own confidences, so
those are the candidates tried; none is added when no threshold meets the bound).

Bottleneck c at split k, encoding e: the head and the encoder run on the device, the
encoded c-channel tensor travels in encoding e, the server runs the decoder and the tail.

Exits are trained at every candidate split point; bottlenecks at the cumulative-saliency
maxima among them (the split points the saliency predictor recommends; every candidate when
there is no saliency). Compute of the trained parts: their FLOPs at the node's average rate
over the whole model (seconds per FLOP of the node's compute model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from sei_tui.core.adapters.bottleneck import (
    DEFAULT_BOTTLENECK_CHANNELS,
    DEFAULT_BOTTLENECK_EPOCHS,
    Bottleneck,
    channels_of,
    train_bottleneck,
)
from sei_tui.core.adapters.exits import (
    DEFAULT_EXIT_EPOCHS,
    ExitBranch,
    exit_layout,
    pool_features,
    train_exit,
)
from sei_tui.core.adapters.split_data import (
    DEFAULT_TRAIN_IMAGES,
    DEFAULT_TRAIN_SEED,
    TrainingImages,
    training_images,
)
from sei_tui.core.adapters.training_cache import (
    cache_key,
    load_cached,
    save_state_dict,
    store,
    weights_digest,
)
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.deployments import FLOAT_BYTES, TIMED_FRAMES, Deployment
from sei_tui.core.evaluation.encoding import (
    RESULT_BYTES,
    TensorEncoding,
    decode_tensors,
    encode_result,
    encode_tensor_batches,
    encode_tensors,
)
from sei_tui.core.evaluation.inference import BATCH, Cancel, Progress, batch_threads, check_cancel
from sei_tui.core.model.capture import run_capturing

__all__ = [
    "DEFAULT_EXIT_THRESHOLDS",
    "AdapterOptions",
    "ExitOutputs",
    "adapter_deployments",
    "early_exit_deployment",
    "qos_threshold",
]

DEFAULT_EXIT_THRESHOLDS = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class AdapterOptions:
    """What to train and deploy (see docs/cli.md for the flags and defaults)."""

    exits: bool = False
    bottlenecks: bool = False
    thresholds: tuple[float, ...] = DEFAULT_EXIT_THRESHOLDS
    widths: tuple[int, ...] = DEFAULT_BOTTLENECK_CHANNELS
    widths_given: bool = False  # user-given widths must fit every bottleneck point
    train_images: int = DEFAULT_TRAIN_IMAGES
    exit_epochs: int = DEFAULT_EXIT_EPOCHS
    bottleneck_epochs: int = DEFAULT_BOTTLENECK_EPOCHS
    seed: int = DEFAULT_TRAIN_SEED
    accuracy_bound: float | None = None  # from the QoS: accuracy >= bound
    save_dir: Path | None = None  # write each trained part's state dict here

    def __bool__(self) -> bool:
        return self.exits or self.bottlenecks


@dataclass
class ExitOutputs:
    """One exit's answers on the evaluation images."""

    branch: ExitBranch
    confidence: torch.Tensor  # (N,) top-1 softmax probability
    top1: torch.Tensor  # (N,)
    flops: int
    params: int


def adapter_seconds(compute: Any, graph: Any, flops: int) -> float:
    """Seconds of `flops` on a node: its compute model's whole-model seconds per FLOP."""
    total = max(int(graph.total_flops), 1)
    return float(compute.whole_seconds()) * flops / total


# ------------------------------------------------------------------ early exits


def early_exit_deployment(
    split: Deployment,
    outputs: ExitOutputs,
    threshold: float,
    exit_s: float,
    train_images: int,
) -> Deployment:
    """The early-exit deployment of `split`'s point and encoding at `threshold`."""
    exited = outputs.confidence >= threshold
    flags = [bool(v) for v in exited.tolist()]
    n = len(flags)
    results = [
        encode_result(j, int(outputs.top1[j]), float(outputs.confidence[j])) for j in range(n)
    ]
    started = time.perf_counter()
    for j in range(min(n, TIMED_FRAMES)):
        encode_result(j, int(outputs.top1[j]), float(outputs.confidence[j]))
    result_s = (time.perf_counter() - started) / max(min(n, TIMED_FRAMES), 1)

    def combine(split_frames: Sequence[bytes]) -> list[bytes]:
        return [results[j] if flags[j] else split_frames[j] for j in range(n)]

    split_sizes = split.frame_sizes or (split.payload_bytes,) * n
    sizes = tuple(RESULT_BYTES if flags[j] else int(split_sizes[j]) for j in range(n))
    offloaded = split.encode_s + split.decode_s + split.tail_s
    fixed = tuple(split.head_s + exit_s + (result_s if flags[j] else offloaded) for j in range(n))
    top1 = torch.where(exited, outputs.top1, split.lossless_top1)
    return replace(
        split,
        strategy="early_exit",
        frames=None if split.frames is None else combine(split.frames),
        regenerate=lambda: combine(split.encoded_frames()),
        payload_bytes=math.ceil(sum(sizes) / n),
        frame_sizes=sizes,
        head_s=split.head_s + exit_s,
        edge_flops=split.edge_flops + outputs.flops,
        edge_params=split.edge_params + outputs.params,
        edge_memory_bytes=split.edge_memory_bytes + outputs.params * FLOAT_BYTES,
        lossless_top1=top1,
        exit_threshold=float(threshold),
        exit_rate=sum(flags) / n,
        exited=tuple(flags),
        frame_fixed_s=fixed,
        train_images=train_images,
        eval_images=n,
    )


def qos_threshold(
    outputs: ExitOutputs, offloaded_top1: torch.Tensor, labels: torch.Tensor, bound: float
) -> float | None:
    """The smallest threshold in (0, 1] whose accuracy (every frame whole) is ≥ `bound`:
    only the exit's confidences change which images exit, so they are the candidates."""
    candidates = sorted({float(c) for c in outputs.confidence.tolist() if c > 0} | {1.0})
    for threshold in candidates:
        exited = outputs.confidence >= threshold
        top1 = torch.where(exited, outputs.top1, offloaded_top1)
        if float((top1 == labels).float().mean()) >= bound:
            return threshold
    return None


# ------------------------------------------------------------------ training and building


def _training_targets(inputs: Any, training: TrainingImages, teacher: torch.Tensor):
    """Labels when the data has the model's classes, else the whole model's softmax."""
    if training.labels is not None:
        return training.labels
    return torch.softmax(teacher.float(), dim=1)


def _capture(
    graph: Any, images: torch.Tensor, pooled: dict, whole: dict, cancel: Cancel | None
) -> torch.Tensor:
    """The graph's output over `images`; pooled features of the split points in `pooled`
    (index -> (point, layout)) and whole tensors of those in `whole` (index -> point),
    filled in place as lists of batches (returned dicts of index -> tensor)."""
    names = {sp.tensors[0].name for sp, _ in pooled.values()}
    names |= {sp.tensors[0].name for sp in whole.values()}
    outputs = []
    got_pooled: dict[int, list] = {i: [] for i in pooled}
    got_whole: dict[int, list] = {i: [] for i in whole}
    with batch_threads(), torch.inference_mode():
        for batch in images.split(BATCH):
            check_cancel(cancel)
            values, output = run_capturing(graph.graph_module, batch, sorted(names))
            outputs.append(output.float())
            for i, (sp, layout) in pooled.items():
                got_pooled[i].append(pool_features(values[sp.tensors[0].name].float(), layout))
            for i, sp in whole.items():
                got_whole[i].append(values[sp.tensors[0].name].float().clone())
            del values
    pooled.clear()
    pooled.update({i: torch.cat(v) for i, v in got_pooled.items()})
    whole.clear()
    whole.update({i: torch.cat(v) for i, v in got_whole.items()})
    return torch.cat(outputs)


def check_labels(dataset_classes: list[str], loaded: Any, data: str | None) -> list[int] | None:
    """The data's labels as model classes; None (self-distillation) when the model names
    no classes and the counts differ; a SeiInputError when the model names its classes and
    the data's are not among them (the exits could not learn the model's classes)."""
    from sei_tui.core.evaluation.prepare import label_mapping

    names = getattr(loaded, "class_names", None)
    mapping = label_mapping(dataset_classes, names, getattr(loaded, "num_classes", None))
    if mapping is None and names and dataset_classes:
        flag = f"--data {data}" if data is not None else "--synthetic (shape images)"
        shown = ", ".join(dataset_classes[:4]) + (", ..." if len(dataset_classes) > 4 else "")
        raise SeiInputError(
            f"{flag}: classes ({shown}) are not the model's classes ({len(names)} named "
            "classes): exits and bottlenecks cannot be trained on this data"
        )
    return mapping


def adapter_deployments(
    inputs: Any,
    splits: Sequence[Deployment],
    candidates: Sequence[Any],
    options: AdapterOptions,
    encodings: Sequence[TensorEncoding],
    data: str | None,
    synthetic: int | None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> list[Deployment]:
    """Train the run's exits and bottlenecks (or read them from the cache) and build their
    deployments. `splits` are the run's split deployments (every candidate, every encoding)."""
    from sei_tui.core.evaluation.prepare import open_data

    report = progress or (lambda _f, _s: None)
    loaded, graph = inputs.loaded, inputs.graph
    dataset = open_data(data, synthetic, loaded)
    label_of = check_labels(list(getattr(dataset, "classes", None) or []), loaded, data)
    report(0.0, "training images")
    training = training_images(
        data, synthetic, loaded, len(inputs.images), options.train_images, options.seed, label_of
    )
    points = [sp for sp in candidates if sp.single_tensor]
    layouts = {sp.index: exit_layout(sp.tensors[0].shape, graph.input_shape) for sp in points}
    exit_points = points if options.exits else []
    bottleneck_points = []
    if options.bottlenecks:
        maxima = set(inputs.saliency.maxima) if inputs.saliency is not None else None
        bottleneck_points = [
            sp
            for sp in points
            if (maxima is None or sp.index in maxima) and len(sp.tensors[0].shape) >= 2
        ]
        _check_widths(options, bottleneck_points, layouts)
    base = {
        "model": inputs.model_name,
        "weights": weights_digest(loaded),
        "data": training.fingerprint,
    }
    pooled_train = {sp.index: (sp, layouts[sp.index]) for sp in exit_points}
    whole_train = {sp.index: sp for sp in bottleneck_points}
    report(0.1, "training images: forward pass")
    teacher = _capture(graph, training.images, pooled_train, whole_train, cancel)
    targets = _training_targets(inputs, training, teacher)
    classes = int(teacher.shape[1])
    pooled_eval = {sp.index: (sp, layouts[sp.index]) for sp in exit_points}
    whole_eval = {sp.index: sp for sp in bottleneck_points}
    _capture(graph, inputs.images, pooled_eval, whole_eval, cancel)
    n_train = len(training.indices)
    by_point: dict[int, list[Deployment]] = {}
    for d in splits:
        by_point.setdefault(d.split.index, []).append(d)
    out: list[Deployment] = []
    steps = max(len(exit_points) + len(bottleneck_points) * len(options.widths), 1)
    done = 0
    for sp in exit_points:
        check_cancel(cancel)
        report(0.2 + 0.8 * done / steps, f"split {sp.index} ({sp.after}): training the exit")
        layout = layouts[sp.index]
        features = pooled_train[sp.index]
        config = {
            "kind": "exit",
            "layout": layout,
            "features": int(features.shape[1]),
            "classes": classes,
            "epochs": options.exit_epochs,
            "seed": options.seed,
            "labels": training.labels is not None,
        }
        key = cache_key(**base, split_index=sp.index, configuration=config)
        branch = ExitBranch(layout, int(features.shape[1]), classes)
        if not load_cached(key, branch):
            branch = train_exit(
                features, layout, targets, classes, options.exit_epochs, options.seed
            )
            store(key, branch)
        branch.eval()
        if options.save_dir is not None:
            save_state_dict(Path(options.save_dir) / f"exit-split{sp.index}.pt", branch)
        with torch.inference_mode():
            probs = torch.softmax(branch.classify(pooled_eval[sp.index]), dim=1)
        top = probs.max(dim=1)
        shape = tuple(sp.tensors[0].shape[1:])
        outputs = ExitOutputs(branch, top.values, top.indices, branch.flops(shape), branch.params())
        exit_s = adapter_seconds(inputs.edge_compute, graph, outputs.flops)
        for split in by_point.get(sp.index, []):
            thresholds = list(options.thresholds)
            if options.accuracy_bound is not None:
                extra = qos_threshold(
                    outputs, split.lossless_top1, inputs.labels, options.accuracy_bound
                )
                if extra is not None and extra not in thresholds:
                    thresholds.append(extra)
            for threshold in thresholds:
                out.append(early_exit_deployment(split, outputs, threshold, exit_s, n_train))
        done += 1
    for sp in bottleneck_points:
        layout = layouts[sp.index]
        payload = whole_train[sp.index]
        channels = channels_of(payload.shape[1:], layout)
        _, tail = graph.split(sp.index)
        tail.eval()
        for width in options.widths:
            check_cancel(cancel)
            done += 1
            if width > channels:
                continue  # a default width wider than this tensor (user widths were checked)
            report(
                0.2 + 0.8 * done / steps,
                f"split {sp.index} ({sp.after}): training bottleneck {width}",
            )
            config = {
                "kind": "bottleneck",
                "layout": layout,
                "channels": channels,
                "width": int(width),
                "epochs": options.bottleneck_epochs,
                "seed": options.seed,
            }
            key = cache_key(**base, split_index=sp.index, configuration=config)
            model = Bottleneck(layout, channels, int(width))
            if not load_cached(key, model):
                model = train_bottleneck(
                    payload,
                    layout,
                    int(width),
                    tail,
                    teacher,
                    options.bottleneck_epochs,
                    options.seed,
                )
                store(key, model)
            model.eval()
            if options.save_dir is not None:
                name = f"bottleneck-split{sp.index}-c{width}.pt"
                save_state_dict(Path(options.save_dir) / name, model)
            out += bottleneck_deployments(
                inputs, sp, model, tail, whole_eval[sp.index], encodings, n_train
            )
    report(1.0, "trained")
    return out


def _check_widths(options: AdapterOptions, points: Sequence[Any], layouts: dict) -> None:
    if not options.widths_given:
        return
    for sp in points:
        channels = channels_of(sp.tensors[0].shape[1:], layouts[sp.index])
        for width in options.widths:
            if width > channels:
                raise SeiInputError(
                    f"--bottleneck-channels: {width} is wider than split {sp.index} "
                    f"({sp.after}), whose tensor has {channels} channels"
                )


def bottleneck_deployments(
    inputs: Any,
    sp: Any,
    model: Bottleneck,
    tail: Callable,
    payload: torch.Tensor,
    encodings: Sequence[TensorEncoding],
    train_images: int,
) -> list[Deployment]:
    """One deployment per encoding of the bottleneck `model` at split point `sp`, the
    evaluation images' split tensors being `payload`."""
    graph = inputs.graph
    with torch.inference_mode():
        codes = torch.cat([model.encode(b) for b in payload.split(BATCH)])
    encoded = encode_tensor_batches([codes], list(encodings))
    shape = [(1, *codes.shape[1:])]
    tensor_shape = tuple(payload.shape[1:])
    encoder_flops = model.encoder_flops(tensor_shape)
    decoder_flops = model.decoder_flops(tensor_shape)
    head_s = float(inputs.edge_compute.head_seconds(sp.index)) + adapter_seconds(
        inputs.edge_compute, graph, encoder_flops
    )
    tail_s = float(inputs.server_compute.tail_seconds(sp.index)) + adapter_seconds(
        inputs.server_compute, graph, decoder_flops
    )

    def restored_tail(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return tail([model.decode(tensors[0].float())])

    sample = [[codes[j : j + 1]] for j in range(min(len(codes), TIMED_FRAMES))]
    out = []
    top1_of: dict[str, torch.Tensor] = {}
    for enc in encodings:
        batch = encoded[enc]
        if enc.dtype not in top1_of:
            decoded = torch.from_numpy(batch.decoded[0])
            with batch_threads(), torch.inference_mode():
                top1_of[enc.dtype] = torch.cat(
                    [restored_tail([b]).argmax(dim=1) for b in decoded.split(BATCH)]
                )
        started = time.perf_counter()
        for s in sample:
            encode_tensors(s, enc)
        encode_s = (time.perf_counter() - started) / max(len(sample), 1)
        started = time.perf_counter()
        for f in batch.frames[:TIMED_FRAMES]:
            decode_tensors(f, shape)
        decode_s = (time.perf_counter() - started) / max(min(len(batch.frames), TIMED_FRAMES), 1)
        frames = batch.frames
        out.append(
            Deployment(
                strategy="bottleneck",
                encoding=enc.name,
                split=sp,
                frames=frames,
                shapes=shape,
                payload_bytes=math.ceil(sum(len(f) for f in frames) / len(frames)),
                encode_s=encode_s,
                decode_s=decode_s,
                head_s=head_s,
                tail_s=tail_s,
                edge_flops=int(sp.head_flops) + encoder_flops,
                server_flops=int(sp.tail_flops) + decoder_flops,
                edge_params=int(sp.head_params) + model.encoder_params(),
                edge_memory_bytes=(int(sp.head_params) + model.encoder_params()) * FLOAT_BYTES
                + int(sp.head_peak_activation_bytes),
                cs=inputs.cs(sp.index),
                compute=inputs.compute_label,
                tail=restored_tail,
                lossless_top1=top1_of[enc.dtype],
                bottleneck_channels=model.width,
                train_images=train_images,
                eval_images=len(frames),
            )
        )
    return out
