"""Stage 2 of an evaluation: the candidate deployments, each with its encoded frames.

A *deployment* is `local` (the whole model on the edge; only the result travels),
`remote` (the input travels; the server runs the whole model) or `split` at a split point
(the head on the edge, its output tensors travel in an encoding, the tail on the server).

Each deployment carries one encoded frame per evaluation image, their sizes
(`frame_sizes`, which the network simulation sends), its `payload_bytes` (the
mean encoded frame size over the images, rounded up; without compression every image has
the same size), the encode/decode times, the compute times from the edge and server
compute models, and its lossless top-1 predictions (every frame arrived whole).

Encode and decode run the real one-frame encoder and decoder on this machine: each of the
first TIMED_FRAMES frames TIMING_REPEATS times, a frame's time the median of its calls and
the deployment's the median over its frames (a preempted call moves one sample, not the
figure). That host time is then carried to the node that runs it, as head and tail are:
encode x the edge compute model's `host_scale`, decode x the server's (see
`core.model.compute`); `encode_scale`, `decode_scale` and `codec_scale` record how.

An fp32 payload decodes bit for bit to the head's output, so the tail's input is the
whole graph's own value at the cut and the rest of the graph's forward pass over the
evaluation batch is the tail's computation on it (the tail is a copy of those graph nodes):
the lossless fp32 prediction of every split is read off that one pass instead of running
each tail again. Other element types run their tails, one call per batch of images, once
per element type (compression is lossless, so fp16 and fp16+zlib predict the same).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sei_tui.core.evaluation.encoding import (
    RESULT_BYTES,
    InputEncoding,
    TensorEncoding,
    batch_bodies,
    batch_frames,
    decode_image,
    decode_tensors,
    encode_image,
    encode_result,
    encode_tensor_batches,
    encode_tensors,
)
from sei_tui.core.evaluation.inference import (
    BATCH,
    Cancel,
    Progress,
    check_cancel,
    decode_payload,
    run_tail,
)
from sei_tui.core.evaluation.prepare import EvaluationInputs
from sei_tui.core.model.capture import run_capturing

__all__ = [
    "FRAME_BUDGET_BYTES",
    "Deployment",
    "DeploymentBuilder",
    "candidate_splits",
    "server_share",
]

TIMED_FRAMES = 8  # frames timed through the one-frame encoder and decoder per deployment
TIMING_REPEATS = 3  # calls per timed frame: its time is their median
FLOAT_BYTES = 4  # parameters are counted as fp32 on the edge
FRAME_BUDGET_BYTES = 256 * 2**20  # encoded frames kept in memory; the rest are re-encoded


@dataclass
class Deployment:
    """A row before the network: what runs where, and each evaluation image's frame."""

    strategy: str
    encoding: str
    split: Any | None  # SplitPoint
    frames: list[bytes] | None  # one encoded frame per image; None: over the memory budget
    shapes: list[tuple[int, ...]]  # decoded tensor shapes of one image's payload
    payload_bytes: int
    encode_s: float
    decode_s: float
    head_s: float
    tail_s: float
    edge_flops: int
    server_flops: int
    edge_params: int
    edge_memory_bytes: int
    cs: float | None
    compute: str
    tail: Any = None  # callable(payload tensors) -> logits
    regenerate: Callable[[], list[bytes]] | None = field(default=None, repr=False)
    # top-1 per image when every frame arrives whole; deployments that decode to identical
    # payloads (fp32 and fp32+zlib: lossless compression) share one tensor
    lossless_top1: Any = field(default=None, repr=False)
    encode_scale: float = 1.0  # encode_s = this machine's encode time x encode_scale
    decode_scale: float = 1.0  # decode_s = this machine's decode time x decode_scale
    codec_scale: str = ""  # where the scales came from, e.g. "edge host x1, server ..."
    # each image's encoded frame size, in image order (read off `frames` when given);
    # empty: every frame has `payload_bytes`
    frame_sizes: tuple[int, ...] = ()
    # early_exit and bottleneck deployments (sei_tui.core.adapters.deploy); None elsewhere
    exit_threshold: float | None = None
    exit_rate: float | None = None
    exited: tuple[bool, ...] | None = None  # per image: answered on the device
    frame_fixed_s: tuple[float, ...] = ()  # per image fixed latency; empty: the sum of the parts
    bottleneck_channels: int | None = None
    train_images: int | None = None
    eval_images: int | None = None
    # the server's share (`server_share`); 0 on `local`
    server_params: int = 0
    server_memory_bytes: int = 0

    def __post_init__(self) -> None:
        if not self.frame_sizes and self.frames is not None:
            self.frame_sizes = tuple(len(f) for f in self.frames)

    def encoded_frames(self) -> list[bytes]:
        return self.frames if self.frames is not None else self.regenerate()


def server_share(graph: Any, split: Any | None = None) -> dict[str, int]:
    """`server_params` and `server_memory_bytes` of the server running what follows `split`
    (a SplitPoint; None: the whole model, as on `remote`): the parameters used after the cut
    (SplitPoint.tail_params), their fp32 bytes + the segment's peak live activation bytes
    (ModelGraph.activation_bytes over its positions: the payload it receives, or the decoded
    input image, included), as the edge's head and an edge box's middle are counted."""
    if split is None:
        params, live = int(graph.total_params), graph.activation_bytes
    else:
        params, live = int(split.tail_params), graph.activation_bytes[split.position + 1 :]
    return {
        "server_params": params,
        "server_memory_bytes": params * FLOAT_BYTES + int(max(live, default=0)),
    }


def candidate_splits(graph: Any, saliency: Any | None, all_splits: bool) -> list:
    """Every split point, or (the default) single-tensor cuts and cumulative-saliency maxima."""
    points = list(graph.split_points)
    if all_splits:
        return points
    maxima = set(saliency.maxima) if saliency is not None else set()
    return [sp for sp in points if sp.single_tensor or sp.index in maxima]


class DeploymentBuilder:
    """Builds the deployments of one `EvaluationInputs`: `local()`, `remote()`, then
    `splits(group)` for each group of `split_groups(candidates)`. Encoded frames are kept
    in memory up to FRAME_BUDGET_BYTES in all; past it a deployment re-encodes on demand."""

    def __init__(
        self,
        inputs: EvaluationInputs,
        encodings: Sequence[TensorEncoding],
        input_encodings: Sequence[InputEncoding],
    ):
        self.inputs = inputs
        self.encodings = list(encodings)
        self.input_encodings = list(input_encodings)
        self._frame_bytes = 0
        self._graph_top1 = None  # the whole graph's top-1 (= every fp32 split's)
        # every deployment's codec times are carried to the nodes by the same factors
        edge, server = inputs.edge_compute, inputs.server_compute
        self._scales = {
            "encode_scale": float(edge.host_scale),
            "decode_scale": float(server.host_scale),
            "codec_scale": f"edge {edge.host_scale_label}, server {server.host_scale_label}",
        }

    def _encode_seconds(self, fn: Callable, items: Sequence) -> tuple[list, float]:
        """`fn` over `items`, and its time per item on the edge."""
        out, seconds = _timed_map(fn, items)
        return out, seconds * self._scales["encode_scale"]

    def _decode_seconds(self, fn: Callable, items: Sequence) -> float:
        """The time per item of `fn` over `items` on the server."""
        return _timed_map(fn, items)[1] * self._scales["decode_scale"]

    def local(self) -> Deployment:
        import torch

        inputs, graph = self.inputs, self.inputs.graph
        top = torch.softmax(inputs.whole_logits, dim=1).max(dim=1)
        results = list(enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)))
        frames, encode_s = self._encode_seconds(
            lambda r: encode_result(r[0], r[1][1], r[1][0]), results
        )
        peak = max(
            [sp.head_peak_activation_bytes for sp in graph.split_points]
            + [int(node.bytes or 0) for node in graph.nodes]
        )
        deployment = Deployment(
            strategy="local",
            encoding="result",
            split=None,
            frames=frames,
            shapes=[],
            payload_bytes=RESULT_BYTES,
            encode_s=encode_s,
            decode_s=0.0,
            head_s=float(inputs.edge_compute.whole_seconds()),
            tail_s=0.0,
            edge_flops=int(graph.total_flops),
            server_flops=0,
            edge_params=int(graph.total_params),
            edge_memory_bytes=int(graph.total_params) * FLOAT_BYTES + int(peak),
            cs=None,
            compute=inputs.compute_label,
            **self._scales,
            lossless_top1=inputs.whole_top1,
        )
        self._keep_within_budget(deployment)
        return deployment

    def remote(self) -> list[Deployment]:
        inputs = self.inputs
        images = inputs.images
        shape = tuple(images.shape[1:])
        out = []
        for enc in self.input_encodings:
            frames, encode_s = self._encode_seconds(lambda x, e=enc: encode_image(x, e), images)
            decode_s = self._decode_seconds(lambda f: decode_image(f, shape), frames[:TIMED_FRAMES])
            deployment = Deployment(
                strategy="remote",
                encoding=enc.name,
                split=None,
                frames=frames,
                shapes=[shape],
                payload_bytes=_mean_size(frames),
                encode_s=encode_s,
                decode_s=decode_s,
                head_s=0.0,
                tail_s=float(inputs.server_compute.whole_seconds()),
                edge_flops=0,
                server_flops=int(inputs.graph.total_flops),
                edge_params=0,
                edge_memory_bytes=int(np.prod(shape)),  # the uint8 image being sent
                cs=None,
                compute=inputs.compute_label,
                **self._scales,
                tail=inputs.loaded.module,
                **server_share(inputs.graph),
            )
            decoded = [decode_payload(True, f, deployment.shapes, ()) for f in frames]
            deployment.lossless_top1 = run_tail(deployment.tail, decoded, remote=True)
            self._keep_within_budget(deployment)
            out.append(deployment)
        return out

    def split_groups(self, candidates: list) -> list[list]:
        """Consecutive split points whose encoded frames fit the memory budget together:
        each group's payloads come from one forward pass."""
        per_split = len(self.inputs.images) * len(self.encodings)
        groups: list[list] = []
        size = 0
        for sp in candidates:
            cost = int(sp.payload_bytes) * per_split
            if groups and size + cost <= FRAME_BUDGET_BYTES:
                groups[-1].append(sp)
                size += cost
            else:
                groups.append([sp])
                size = cost
        return groups

    def splits(self, group: list, cancel: Cancel | None, progress: Progress) -> list[Deployment]:
        """Every split of `group` in every encoding: the images' payloads from one forward
        pass per batch, each distinct decode's lossless top-1 measured on the way."""
        frames, top1, first_payloads, tails = self._encode_group(group, cancel, progress)
        out = []
        for sp in group:
            head, tail = tails[sp.index]
            top1[sp.index, "fp32"] = self._graph_top1
            sample = [
                [t[j : j + 1] for t in first_payloads[sp.index]]
                for j in range(len(first_payloads[sp.index][0]))
            ]
            shape = [(1, *t.shape[1:]) for t in first_payloads[sp.index]]
            for enc in self.encodings:
                these = frames.pop((sp.index, enc))
                _, encode_s = self._encode_seconds(lambda p, e=enc: encode_tensors(p, e), sample)
                decode_s = self._decode_seconds(
                    lambda f, s=shape: decode_tensors(f, s), these[:TIMED_FRAMES]
                )

                def regenerate(e=enc, h=head) -> list[bytes]:
                    return encode_tensor_batches(self._split_payloads(h), [e])[e].frames

                deployment = Deployment(
                    strategy="split",
                    encoding=enc.name,
                    split=sp,
                    frames=these,
                    shapes=shape,
                    payload_bytes=_mean_size(these),
                    encode_s=encode_s,
                    decode_s=decode_s,
                    head_s=float(self.inputs.edge_compute.head_seconds(sp.index)),
                    tail_s=float(self.inputs.server_compute.tail_seconds(sp.index)),
                    edge_flops=int(sp.head_flops),
                    server_flops=int(sp.tail_flops),
                    edge_params=int(sp.head_params),
                    edge_memory_bytes=int(sp.head_params) * FLOAT_BYTES
                    + int(sp.head_peak_activation_bytes),
                    cs=self.inputs.cs(sp.index),
                    compute=self.inputs.compute_label,
                    **self._scales,
                    tail=tail,
                    regenerate=regenerate,
                    lossless_top1=top1[sp.index, enc.dtype],
                    **server_share(self.inputs.graph, sp),
                )
                self._keep_within_budget(deployment)
                out.append(deployment)
        return out

    def _encode_group(self, group: list, cancel: Cancel | None, progress: Progress):
        """(frames per (split, encoding), lossless top-1 per (split, element type other
        than fp32), each split's first payloads (for timing), each split's (head, tail))."""
        import torch

        graph = self.inputs.graph
        names = [t.name for sp in group for t in sp.tensors]
        frames: dict[tuple, list[bytes]] = {
            (sp.index, e): [] for sp in group for e in self.encodings
        }
        # one encoding per element type other than fp32 runs the tail (compression is lossless)
        tail_encodings = list({e.dtype: e for e in self.encodings if e.dtype != "fp32"}.values())
        tails = {sp.index: graph.split(sp.index) for sp in group}
        top1: dict[tuple, list] = {(sp.index, e.dtype): [] for sp in group for e in tail_encodings}
        first_payloads: dict[int, list] = {}
        want_output = self._graph_top1 is None
        graph_top1 = []
        dtypes = [e.dtype for e in self.encodings]

        def frame(index: int, bodies: dict) -> None:
            for enc in self.encodings:
                frames[index, enc] += batch_frames(bodies[enc.dtype], enc)

        # Framing (mostly compression, which releases the GIL) of one split runs in the
        # background while its tails run; at most one split's frames are in flight.
        batches = self.inputs.images.split(BATCH)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sei-frames") as framing:
            pending = None
            for b, batch in enumerate(batches):
                check_cancel(cancel)
                if want_output:
                    values, output = run_capturing(graph.graph_module, batch, names)
                    graph_top1.append(output.argmax(dim=1))
                else:
                    values, _ = run_capturing(graph.graph_module, batch, names, stop_early=True)
                for k, sp in enumerate(group):
                    check_cancel(cancel)
                    progress(
                        (b * len(group) + k) / (len(batches) * len(group)),
                        f"split {sp.index} ({sp.after}): encoding, accuracy",
                    )
                    tensors = [values[t.name] for t in sp.tensors]
                    if sp.index not in first_payloads:  # copies: a view would pin the batch
                        first_payloads[sp.index] = [t[:TIMED_FRAMES].clone() for t in tensors]
                    bodies = batch_bodies(tensors, dtypes)
                    if pending is not None:
                        pending.result()
                    pending = framing.submit(frame, sp.index, bodies)
                    tail = tails[sp.index][1]
                    for enc in tail_encodings:
                        payload = [torch.from_numpy(d) for d in bodies[enc.dtype].decoded]
                        with torch.inference_mode():
                            top1[sp.index, enc.dtype].append(tail(payload).argmax(dim=1))
                    del bodies
                del values
            if pending is not None:
                pending.result()
        if want_output:
            self._graph_top1 = torch.cat(graph_top1)
        top1_of = {key: torch.cat(parts) for key, parts in top1.items()}
        return frames, top1_of, first_payloads, tails

    def _split_payloads(self, head) -> list:
        """The head's output tensors over every image (batch first), one per payload tensor."""
        import torch

        with torch.inference_mode():
            outs = [tuple(head(b)) for b in self.inputs.images.split(BATCH)]
        return [torch.cat([o[t] for o in outs]) for t in range(len(outs[0]))]

    def _keep_within_budget(self, deployment: Deployment) -> None:
        """Keep the frames only while they fit the budget (else re-encode on demand)."""
        size = sum(len(f) for f in deployment.frames or [])
        if self._frame_bytes + size > FRAME_BUDGET_BYTES and deployment.regenerate is not None:
            deployment.frames = None
        else:
            self._frame_bytes += size


def _mean_size(frames: Sequence[bytes]) -> int:
    return math.ceil(sum(len(f) for f in frames) / len(frames))


def _timed_map(
    fn: Callable, items: Sequence, clock: Callable[[], float] | None = None
) -> tuple[list, float]:
    """`fn` over every item, and the seconds it takes per item on this machine: the median
    over the first TIMED_FRAMES items of each one's median over TIMING_REPEATS calls."""
    clock = clock or time.perf_counter
    out, per_item = [], []
    for i, item in enumerate(items):
        if i >= TIMED_FRAMES:
            out.append(fn(item))
            continue
        calls = []
        for _ in range(TIMING_REPEATS):
            start = clock()
            result = fn(item)
            calls.append(clock() - start)
        out.append(result)
        per_item.append(statistics.median(calls))
    return out, statistics.median(per_item) if per_item else 0.0
