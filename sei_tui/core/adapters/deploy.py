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
An early exit's server is its split's (the tail after k); a bottleneck's server holds the
decoder's parameters too, and its peak live bytes are the tail's or, if larger, the
decoder's step (its c-channel input and the restored tensor, both fp32).

Which points get exits and bottlenecks, and how they are trained: `training`. Compute of
the trained parts: their FLOPs at the node's average rate over the whole model (seconds per
FLOP of the node's compute model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from sei_tui.core.adapters.bottleneck import Bottleneck
from sei_tui.core.adapters.training import (
    DEFAULT_EXIT_THRESHOLDS,
    AdapterOptions,
    AdapterPlan,
    ExitOutputs,
    plan_adapters,
)
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.deployments import (
    FLOAT_BYTES,
    TIMED_FRAMES,
    Deployment,
    server_share,
)
from sei_tui.core.evaluation.encoding import (
    RESULT_BYTES,
    TensorEncoding,
    decode_tensors,
    encode_result,
    encode_tensor_batches,
    encode_tensors,
)
from sei_tui.core.evaluation.inference import BATCH, Cancel, Progress, batch_threads

__all__ = [
    "DEFAULT_EXIT_THRESHOLDS",
    "AdapterOptions",
    "AdapterPlan",
    "ExitOutputs",
    "ExitRetuner",
    "adapter_deployments",
    "adapter_seconds",
    "bottleneck_deployments",
    "bottleneck_server_share",
    "early_exit_deployment",
    "plan_adapters",
    "qos_threshold",
]


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
    result_s: float,
    train_images: int,
) -> Deployment:
    """The early-exit deployment of `split`'s point and encoding at `threshold`; `exit_s`
    is the exit's compute time on the edge, `result_s` the time to encode a result."""
    exited = outputs.confidence >= threshold
    flags = [bool(v) for v in exited.tolist()]
    n = len(flags)
    results = [
        encode_result(j, int(outputs.top1[j]), float(outputs.confidence[j])) for j in range(n)
    ]

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


def result_encode_seconds() -> float:
    """Mean wall time of encoding one result (as `local` times its frames)."""
    started = time.perf_counter()
    for j in range(TIMED_FRAMES):
        encode_result(j, 0, 1.0)
    return (time.perf_counter() - started) / TIMED_FRAMES


def qos_threshold(
    outputs: ExitOutputs,
    offloaded_top1: torch.Tensor,
    labels: torch.Tensor,
    bound: float,
    strict: bool = False,
) -> float | None:
    """The smallest threshold in (0, 1] whose accuracy (every frame whole) is ≥ `bound`
    (> when `strict`): only the exit's confidences change which images exit, so they are
    the candidates."""
    candidates = sorted({float(c) for c in outputs.confidence.tolist() if c > 0} | {1.0})
    for threshold in candidates:
        exited = outputs.confidence >= threshold
        top1 = torch.where(exited, outputs.top1, offloaded_top1)
        accuracy = float((top1 == labels).float().mean())
        if accuracy > bound or (accuracy == bound and not strict):
            return threshold
    return None


# ------------------------------------------------------------------ building


@dataclass
class ExitRetuner:
    """The trained exits of a run and the split deployments they offload to: an early
    exit's deployment at any threshold, without training again."""

    exits: dict[int, tuple[ExitOutputs, float]]  # split index -> (outputs, exit seconds)
    splits: dict[tuple[int, str], Deployment]  # (split index, encoding) -> split
    result_s: float
    train_images: int

    def deployment(self, split_index: int, encoding: str, threshold: float) -> Deployment:
        if not 0.0 < threshold <= 1.0:
            raise SeiInputError(f"exit threshold {threshold:g}: must be in (0, 1]")
        if split_index not in self.exits or (split_index, encoding) not in self.splits:
            raise SeiInputError(f"split {split_index} {encoding}: no trained exit there")
        outputs, exit_s = self.exits[split_index]
        split = self.splits[split_index, encoding]
        return early_exit_deployment(
            split, outputs, threshold, exit_s, self.result_s, self.train_images
        )


def adapter_deployments(
    inputs: Any,
    plan: AdapterPlan,
    splits: Sequence[Deployment],
    encodings: Sequence[TensorEncoding],
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> tuple[list[Deployment], ExitRetuner]:
    """Train (or read from the cache) the exits and bottlenecks of `plan` (an
    `training.AdapterPlan`) and build their deployments, with an `ExitRetuner` that builds
    an exit's deployment at other thresholds. `splits` are the run's split deployments
    (every candidate, every encoding)."""
    from sei_tui.core.adapters.training import capture_features, train_bottlenecks, train_exits

    report = progress or (lambda _f, _s: None)
    options = plan.options
    report(0.05, "training images: forward pass")
    features = capture_features(inputs, plan, cancel)
    exits = train_exits(plan, features, lambda f, s: report(0.1 + 0.3 * f, s), cancel)
    by_point: dict[int, list[Deployment]] = {}
    for d in splits:
        by_point.setdefault(d.split.index, []).append(d)
    out: list[Deployment] = []
    n_train = len(plan.training.indices)
    result_s = result_encode_seconds()
    retuner = ExitRetuner({}, {}, result_s, n_train)
    for index, outputs in exits.items():
        exit_s = adapter_seconds(inputs.edge_compute, inputs.graph, outputs.flops)
        retuner.exits[index] = (outputs, exit_s)
        for split in by_point.get(index, []):
            retuner.splits[index, split.encoding] = split
            thresholds = list(options.thresholds)
            if options.accuracy_bound is not None:
                extra = qos_threshold(
                    outputs,
                    split.lossless_top1,
                    inputs.labels,
                    options.accuracy_bound,
                    options.accuracy_strict,
                )
                if extra is not None and extra not in thresholds:
                    thresholds.append(extra)
            for threshold in thresholds:
                out.append(
                    early_exit_deployment(split, outputs, threshold, exit_s, result_s, n_train)
                )
    for sp, model, tail in train_bottlenecks(
        plan, features, lambda f, s: report(0.4 + 0.6 * f, s), cancel
    ):
        out += bottleneck_deployments(
            inputs, sp, model, tail, features.whole_eval[sp.index], encodings, n_train
        )
    report(1.0, "trained")
    return out, retuner


@dataclass
class RestoredTail:
    """The tail behind a bottleneck's decoder; a class, not a closure, so that it pickles
    (`sei study` sends every deployment's tail to its workers)."""

    tail: Callable
    model: Bottleneck

    def __call__(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.tail([self.model.decode(tensors[0].float())])


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
    edge = bottleneck_edge_share(sp, model, tensor_shape)
    server = bottleneck_server_share(graph, sp, model, tensor_shape)

    restored_tail = RestoredTail(tail, model)

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
                **edge,
                cs=inputs.cs(sp.index),
                compute=inputs.compute_label,
                tail=restored_tail,
                lossless_top1=top1_of[enc.dtype],
                bottleneck_channels=model.width,
                train_images=train_images,
                eval_images=len(frames),
                **server,
            )
        )
    return out


def bottleneck_edge_share(
    sp: Any, model: Bottleneck, tensor_shape: Sequence[int]
) -> dict[str, int]:
    """`edge_params` and `edge_memory_bytes` of a bottleneck at `sp`: the head's with the
    encoder's parameters, the peak live bytes being the head's or the encoder step's (its
    fp32 input, the split tensor of `tensor_shape`, and its fp32 code of `model.width`
    channels), whichever is larger: the device side of bottleneck_server_share."""
    params = int(sp.head_params) + model.encoder_params()
    split_tensor = math.prod(int(s) for s in tensor_shape)
    code = model.positions(tensor_shape) * model.width
    peak = max(int(sp.head_peak_activation_bytes), (split_tensor + code) * FLOAT_BYTES)
    return {"edge_params": params, "edge_memory_bytes": params * FLOAT_BYTES + peak}


def bottleneck_server_share(
    graph: Any, sp: Any, model: Bottleneck, tensor_shape: Sequence[int]
) -> dict[str, int]:
    """`server_params` and `server_memory_bytes` of a bottleneck at `sp`: the tail's
    (deployments.server_share) with the decoder's parameters, the peak live bytes being the
    tail's or the decoder step's (its fp32 input of `model.width` channels and its fp32
    output, the restored tensor of `tensor_shape`), whichever is larger."""
    tail = server_share(graph, sp)
    decoder = sum(p.numel() for p in model.decoder.parameters())
    restored = math.prod(int(s) for s in tensor_shape)
    code = model.positions(tensor_shape) * model.width
    tail_peak = tail["server_memory_bytes"] - tail["server_params"] * FLOAT_BYTES
    peak = max(tail_peak, (restored + code) * FLOAT_BYTES)
    params = tail["server_params"] + decoder
    return {"server_params": params, "server_memory_bytes": params * FLOAT_BYTES + peak}
