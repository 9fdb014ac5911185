"""Latency x accuracy of every deployment on a simulated network, QoS and recommendation.

A *deployment* is `local` (the whole model on the edge; only the result travels),
`remote` (the input travels; the server runs the whole model) or `split` at a split point
(the head on the edge, its output tensors travel in an encoding, the tail on the server).

Per deployment, per frame:
    latency = head compute (edge profile) + encode + network (libsim) + decode
              + tail compute (server profile)
where encode/decode are the mean wall times of the one-frame encoder/decoder measured on
this machine over the first (up to 8) evaluation images, and the network time of frame f is libsim's latency for frame f of the
scenario's edge -> server flow with `payload_bytes` set to this deployment's payload, all
frames, so queueing and contention show. A frame that never arrived has infinite latency.
Percentiles are nearest-rank over the frames (so they add up part by part).

`payload_bytes` is the mean encoded frame size over the evaluation images (rounded up);
without compression every image has the same size.

Accuracy is measured on the evaluation images: image j is carried by simulated frame
j mod frames. The tail runs on the payload as decoded (dequantised; with UDP, the byte
ranges libsim reports lost in that frame concealed as in `sei_tui.core.evaluation.encoding`; a frame
of which nothing arrived decodes to all zeros). With TCP, loss only costs latency. A
`local` result whose frame lost any byte counts as a wrong answer. `accuracy` is against
the labels when the data's classes are the model's (matched by name when the model names
its classes, else by index when the counts agree), else top-1 agreement with the whole
model; `agreement` is always the latter.

An fp32 payload decodes bit for bit to the head's output, so the tail's input is the
whole graph's own value at the cut and the rest of the graph's forward pass over the
evaluation batch is the tail's computation on it (the tail is a copy of those graph nodes):
the lossless fp32 prediction of every split is read off that one pass instead of running
each tail again. Other element types run their tails, one call per batch of images.

Sweeps (`parse_sweep`): `bitrate` axes are log-spaced (geometric: they span decades),
every other axis (`loss`, `delay`) is evenly spaced. An axis applies to every link of the
scenario, or to one link with `LINK.bitrate=...`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.evaluation.encoding import (
    DEFAULT_INPUT_ENCODINGS,
    RESULT_BYTES,
    InputEncoding,
    TensorEncoding,
    batch_bodies,
    batch_frames,
    decode_image,
    decode_tensors,
    default_tensor_encodings,
    encode_image,
    encode_result,
    encode_tensor_batches,
    encode_tensors,
    parse_input_encoding,
    parse_tensor_encoding,
)
from sei_tui.core.evaluation.qos import QoS, parse_qos
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.rows import Recommendation, Row
from sei_tui.core.model.capture import run_capturing

__all__ = [
    "Deployment",
    "Evaluation",
    "Recommendation",
    "Row",
    "SweepAxis",
    "SweepPoint",
    "evaluate",
    "evaluation_threads",
    "latency_parts",
    "nearest_rank",
    "parse_sweep",
]

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]
BATCH = 64
TIMED_FRAMES = 8  # frames timed through the one-frame encoder and decoder per deployment
DEFAULT_IMAGES = 64  # synthetic evaluation images when no --data is given
MAX_IMAGES = 64  # evaluation images taken from --data (spread evenly over it)
FLOAT_BYTES = 4  # parameters are counted as fp32 on the edge
FRAME_BUDGET_BYTES = 256 * 2**20  # encoded frames kept in memory; the rest are re-encoded


# ================================================================ pure functions over rows


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `percent`% at or below it."""
    if not len(values):
        return math.inf
    ordered = sorted(values)
    rank = max(math.ceil(percent / 100.0 * len(ordered)), 1)
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class LatencyParts:
    network_p50_s: float
    network_p95_s: float
    network_p99_s: float
    network_mean_s: float
    p50_latency: float
    p95_latency: float
    p99_latency: float
    mean_latency: float
    deadline_miss: float | None


def latency_parts(
    network_s: Sequence[float | None], fixed_s: float, deadline: float | None = None
) -> LatencyParts:
    """Per-frame totals = `fixed_s` (compute + encode + decode) + each frame's network time.

    A frame with no network time (None: never arrived) is infinitely late.
    """
    net = [math.inf if v is None else float(v) for v in network_s]
    total = [fixed_s + v for v in net]
    finite = [v for v in net if math.isfinite(v)]
    mean_net = sum(net) / len(net) if net and len(finite) == len(net) else math.inf
    miss = None
    if deadline is not None and total:
        miss = sum(1 for v in total if v > deadline) / len(total)
    return LatencyParts(
        network_p50_s=nearest_rank(net, 50),
        network_p95_s=nearest_rank(net, 95),
        network_p99_s=nearest_rank(net, 99),
        network_mean_s=mean_net,
        p50_latency=nearest_rank(total, 50),
        p95_latency=nearest_rank(total, 95),
        p99_latency=nearest_rank(total, 99),
        mean_latency=fixed_s + mean_net,
        deadline_miss=miss,
    )


# ================================================================ sweeps

SWEEP_PARAMETERS = ("bitrate", "loss", "delay")


@dataclass(frozen=True)
class SweepAxis:
    parameter: str  # one of SWEEP_PARAMETERS
    link: str | None  # None: every link
    values: tuple[float, ...]

    @property
    def key(self) -> str:
        return self.parameter if self.link is None else f"{self.link}.{self.parameter}"


@dataclass
class SweepPoint:
    values: dict[str, float]
    row: Row | None  # the recommended deployment at this point, if any is feasible
    recommendation: Recommendation

    def to_dict(self) -> dict:
        r = self.row
        return {
            "values": self.values,
            "strategy": None if r is None else r.strategy,
            "split_index": None if r is None else r.split_index,
            "after": None if r is None else r.after,
            "encoding": None if r is None else r.encoding,
            "p95_latency": None if r is None or not math.isfinite(r.p95_latency) else r.p95_latency,
            "accuracy": None if r is None else r.accuracy,
            "why": self.recommendation.why,
        }


def parse_sweep(text: str) -> list[SweepAxis]:
    """`bitrate=1e6:1e9:7,loss=0:0.05:6` -> axes (bitrate log-spaced, others linear)."""
    axes: list[SweepAxis] = []
    for term in text.split(","):
        m = re.fullmatch(r"\s*(?:([\w.-]+)\.)?(\w+)\s*=\s*([^:]+):([^:]+):(\d+)\s*", term)
        if m is None:
            raise SeiInputError(
                f"--sweep: {term.strip()!r}: expected PARAMETER=START:STOP:COUNT, "
                "e.g. bitrate=1e6:1e9:7"
            )
        link, parameter, start_text, stop_text, count_text = m.groups()
        if parameter not in SWEEP_PARAMETERS:
            raise SeiInputError(
                f"--sweep: {term.strip()!r}: unknown parameter {parameter!r} "
                f"(one of {', '.join(SWEEP_PARAMETERS)})"
            )
        try:
            start, stop = float(start_text), float(stop_text)
        except ValueError:
            raise SeiInputError(
                f"--sweep: {term.strip()!r}: START and STOP must be numbers"
            ) from None
        count = int(count_text)
        if count < 1 or not (math.isfinite(start) and math.isfinite(stop)):
            raise SeiInputError(f"--sweep: {term.strip()!r}: need finite bounds and COUNT >= 1")
        if parameter == "bitrate":
            if start <= 0 or stop <= 0:
                raise SeiInputError(f"--sweep: {term.strip()!r}: bitrates must be positive")
            values = np.geomspace(start, stop, count)
        else:
            if start < 0 or stop < 0:
                raise SeiInputError(f"--sweep: {term.strip()!r}: values must not be negative")
            if parameter == "loss" and max(start, stop) >= 1:
                raise SeiInputError(f"--sweep: {term.strip()!r}: loss must be below 1")
            values = np.linspace(start, stop, count)
        axes.append(SweepAxis(parameter, link, tuple(float(v) for v in values)))
    return axes


def apply_overrides(net, overrides: dict[str, float]):
    """A NetworkSpec with swept link parameters replaced (`loss` also drops burst loss)."""
    if not overrides:
        return net
    names = {link.name for link in net.links}
    links = []
    for link in net.links:
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            target, _, parameter = key.rpartition(".")
            if target and target not in names:
                raise SeiInputError(f"--sweep: {key}: the scenario has no link {target!r}")
            if target and target != link.name:
                continue
            if parameter == "bitrate":
                changes["bitrate_bps"] = float(value)
            elif parameter == "loss":
                changes["loss"] = float(value)
                changes["burst"] = None
            elif parameter == "delay":
                changes["delay_s"] = float(value)
        links.append(replace(link, **changes) if changes else link)
    return replace(net, links=tuple(links))


def _grid(axes: Sequence[SweepAxis]) -> list[dict[str, float]]:
    points: list[dict[str, float]] = [{}]
    for axis in axes:
        points = [{**p, axis.key: v} for p in points for v in axis.values]
    return points


# ================================================================ the evaluation engine


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
    # deployments that decode to identical payloads (fp32 and fp32+zlib: lossless
    # compression) share one measurement of lossless accuracy
    decoded_as: tuple | None = None

    def encoded_frames(self) -> list[bytes]:
        return self.frames if self.frames is not None else self.regenerate()


def _check(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise SeiCancelled()


class Evaluation:
    """Everything `evaluate` needs, prepared once: model, graph, data, compute profiles and
    the encoded frames of every deployment. `rows()` and `sweep()` then only simulate and
    measure accuracy, so a TUI can re-run them when the scenario or QoS changes.

    A caller that already holds the model can hand it over instead of having it loaded
    again: `loaded` (the LoadedModel; defaults to `model` when that is not a name), `graph`
    (its ModelGraph, from `analyze_model(loaded)`) and `saliency_result` (its
    SaliencyResult over the same evaluation data: `data`, or the default synthetic set).
    """

    def __init__(
        self,
        model: str | Any = "demo",
        weights: str | None = None,
        scenario: str | Path | Any | None = None,
        data: str | Path | None = None,
        synthetic: int | None = None,
        encodings: Sequence[str | TensorEncoding] | None = None,
        input_encodings: Sequence[str | InputEncoding] | None = None,
        all_splits: bool = False,
        max_images: int = MAX_IMAGES,
        saliency: bool = True,
        frames: int | None = None,
        protocol: str | None = None,
        *,
        loaded: Any | None = None,
        graph: Any | None = None,
        saliency_result: Any | None = None,
    ):
        if loaded is None and not isinstance(model, str):
            loaded = model
        if graph is not None and loaded is None:
            raise ValueError("Evaluation: graph= needs the LoadedModel it came from (loaded=)")
        self.given_loaded = loaded
        self.given_graph = graph
        self.given_saliency = saliency_result
        self.model_spec = model
        self.weights = weights
        self.scenario_spec = scenario
        self.data = data
        self.synthetic = synthetic
        self.encodings = [
            e if isinstance(e, TensorEncoding) else parse_tensor_encoding(e)
            for e in (encodings or default_tensor_encodings())
        ]
        self.input_encodings = [
            e if isinstance(e, InputEncoding) else parse_input_encoding(e)
            for e in (input_encodings or DEFAULT_INPUT_ENCODINGS)
        ]
        self.all_splits = all_splits
        self.max_images = max_images
        self.use_saliency = saliency
        self.frames = frames  # None: the scenario flow's
        self.protocol = protocol  # None: the scenario's
        self.deployments: list[Deployment] = []
        self.prepared = False

    # ------------------------------------------------------------ preparation

    def prepare(self, progress: Progress | None = None, cancel: Cancel | None = None) -> None:
        if self.prepared:
            return
        import torch

        report = progress or (lambda _f, _s: None)
        report(0.0, "loading model")
        self.scenario = _load_scenario(self.scenario_spec)
        if self.given_loaded is not None:
            self.loaded = self.given_loaded
            self.graph = self.given_graph or _analyze(self.loaded)
        else:
            self.loaded, self.graph = _load_model(self.model_spec, self.weights)
        self.model_name = getattr(self.loaded, "name", str(self.model_spec))
        if self.given_saliency is not None:
            cuts = [p.index for p in self.given_saliency.points]
            if cuts != [sp.index for sp in self.graph.split_points]:
                raise ValueError("Evaluation: saliency_result is not over the graph's split points")
        _check(cancel)
        report(0.1, "loading evaluation data")
        self.dataset = _open_data(self.data, self.synthetic, self.loaded)
        # Folders list images class by class: take every k-th so that all classes appear.
        total = len(self.dataset)
        n = min(total, self.max_images)
        items = [self.dataset[i * total // n] for i in range(n)]
        self.images = torch.stack([x for x, _ in items]).float()
        _check(cancel)
        report(0.2, "running the whole model")
        module = self.loaded.module
        with _batch_threads(), torch.inference_mode():
            self.whole_logits = torch.cat([module(b).float() for b in self.images.split(BATCH)])
        self.whole_top1 = self.whole_logits.argmax(dim=1)
        model_of = _label_mapping(
            list(getattr(self.dataset, "classes", None) or []),
            getattr(self.loaded, "class_names", None),
            getattr(self.loaded, "num_classes", None),
        )
        self.has_labels = model_of is not None
        if model_of is not None:
            self.labels = torch.tensor([model_of[int(y)] for _, y in items])
        else:
            self.labels = self.whole_top1.clone()
        self.whole_accuracy = float((self.whole_top1 == self.labels).float().mean())
        self.saliency = None
        self.saliency_error = ""
        if self.use_saliency and self.given_saliency is not None:
            self.saliency = self.given_saliency
        elif self.use_saliency:
            report(0.3, "cumulative saliency")
            try:
                self.saliency = _saliency(self.graph, self.dataset, cancel)
            except SeiInputError as exc:  # CS is a predictor shown beside accuracy: optional
                self.saliency_error = str(exc)
        _check(cancel)
        self.edge_compute, self.server_compute = _compute_models(self.scenario, self.graph)
        self.compute_label = f"edge {self.edge_compute.label}, server {self.server_compute.label}"
        self.deployments = []
        self._frame_bytes = 0
        self._top1: dict[tuple, Any] = {}  # lossless top-1 per distinct decode
        self._graph_top1 = None  # the whole graph's top-1 (= every fp32 split's, see above)
        candidates = self.candidate_splits()
        groups = self._split_groups(candidates)
        with _batch_threads():
            report(0.35, "local and remote")
            self._prepare_local()
            self._prepare_remote()
            done = 0
            for group in groups:
                _check(cancel)

                def step(fraction: float, label: str, before: int = done, size: int = len(group)):
                    whole = (before + fraction * size) / max(len(candidates), 1)
                    report(0.4 + 0.6 * whole, label)

                self._prepare_splits(group, cancel, step)
                done += len(group)
        report(1.0, "prepared")
        self.prepared = True

    def candidate_splits(self) -> list:
        points = list(self.graph.split_points)
        if self.all_splits:
            return points
        maxima = set(self.saliency.maxima) if self.saliency is not None else set()
        return [sp for sp in points if sp.single_tensor or sp.index in maxima]

    def _cs(self, index: int) -> float | None:
        if self.saliency is None:
            return None
        for point in self.saliency.points:
            if point.index == index:
                return float(point.cs)
        return None

    def _prepare_local(self) -> None:
        import torch

        top = torch.softmax(self.whole_logits, dim=1).max(dim=1)
        results = list(enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)))
        frames, encode_s = _timed_map(lambda r: encode_result(r[0], r[1][1], r[1][0]), results)
        peak = max(
            [sp.head_peak_activation_bytes for sp in self.graph.split_points]
            + [int(node.bytes or 0) for node in self.graph.nodes]
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
            head_s=float(self.edge_compute.whole_seconds()),
            tail_s=0.0,
            edge_flops=int(self.graph.total_flops),
            server_flops=0,
            edge_params=int(self.graph.total_params),
            edge_memory_bytes=int(self.graph.total_params) * FLOAT_BYTES + int(peak),
            cs=None,
            compute=self.compute_label,
        )
        self._keep_within_budget(deployment)
        self.deployments.append(deployment)

    def _prepare_remote(self) -> None:
        shape = tuple(self.images.shape[1:])
        for enc in self.input_encodings:
            frames, encode_s = _timed_map(lambda x, e=enc: encode_image(x, e), self.images)
            _, decode_s = _timed_map(lambda f: decode_image(f, shape), frames[:8])
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
                tail_s=float(self.server_compute.whole_seconds()),
                edge_flops=0,
                server_flops=int(self.graph.total_flops),
                edge_params=0,
                edge_memory_bytes=int(np.prod(shape)),  # the uint8 image being sent
                cs=None,
                compute=self.compute_label,
                tail=self.loaded.module,
            )
            self._keep_within_budget(deployment)
            self.deployments.append(deployment)

    def _split_payloads(self, head) -> list:
        """The head's output tensors over every image (batch first), one per payload tensor."""
        import torch

        with torch.inference_mode():
            outs = [tuple(head(b)) for b in self.images.split(BATCH)]
        return [torch.cat([o[t] for o in outs]) for t in range(len(outs[0]))]

    def _split_groups(self, candidates: list) -> list[list]:
        """Consecutive split points whose encoded frames fit the memory budget together:
        each group's payloads come from one forward pass."""
        per_split = len(self.images) * len(self.encodings)
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

    def _prepare_splits(self, group: list, cancel: Cancel | None, progress: Progress) -> None:
        """Encode every image's payload at every split of `group`, in every encoding, and
        measure each distinct decode's lossless top-1, from one forward pass per batch."""
        import torch

        names = [t.name for sp in group for t in sp.tensors]
        keys = [(sp.index, e) for sp in group for e in self.encodings]
        frames: dict[tuple, list[bytes]] = {k: [] for k in keys}
        # one encoding per element type other than fp32 runs the tail (compression is lossless)
        tail_encodings = list({e.dtype: e for e in self.encodings if e.dtype != "fp32"}.values())
        tails = {sp.index: self.graph.split(sp.index) for sp in group}
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
        batches = self.images.split(BATCH)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sei-frames") as framing:
            pending = None
            for b, batch in enumerate(batches):
                _check(cancel)
                if want_output:
                    values, output = run_capturing(self.graph.graph_module, batch, names)
                    graph_top1.append(output.argmax(dim=1))
                else:
                    values, _ = run_capturing(
                        self.graph.graph_module, batch, names, stop_early=True
                    )
                for k, sp in enumerate(group):
                    _check(cancel)
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
        for key, parts in top1.items():
            self._top1[key] = torch.cat(parts)
        for sp in group:
            head, tail = tails[sp.index]
            self._top1[sp.index, "fp32"] = self._graph_top1
            sample = [
                [t[j : j + 1] for t in first_payloads[sp.index]]
                for j in range(len(first_payloads[sp.index][0]))
            ]
            shape = [(1, *t.shape[1:]) for t in first_payloads[sp.index]]
            for enc in self.encodings:
                these = frames.pop((sp.index, enc))
                _, encode_s = _timed_map(lambda p, e=enc: encode_tensors(p, e), sample)
                _, decode_s = _timed_map(
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
                    head_s=float(self.edge_compute.head_seconds(sp.index)),
                    tail_s=float(self.server_compute.tail_seconds(sp.index)),
                    edge_flops=int(sp.head_flops),
                    server_flops=int(sp.tail_flops),
                    edge_params=int(sp.head_params),
                    edge_memory_bytes=int(sp.head_params) * FLOAT_BYTES
                    + int(sp.head_peak_activation_bytes),
                    cs=self._cs(sp.index),
                    compute=self.compute_label,
                    tail=tail,
                    regenerate=regenerate,
                    decoded_as=(sp.index, enc.dtype),
                )
                self._keep_within_budget(deployment)
                self.deployments.append(deployment)

    def _keep_within_budget(self, deployment: Deployment) -> None:
        """Measure lossless accuracy now; keep the frames only while they fit the budget."""
        self.measure_accuracy(deployment, None)
        size = sum(len(f) for f in deployment.frames or [])
        if self._frame_bytes + size > FRAME_BUDGET_BYTES and deployment.regenerate is not None:
            deployment.frames = None
        else:
            self._frame_bytes += size

    # ------------------------------------------------------------ accuracy

    def measure_accuracy(
        self, deployment: Deployment, frame_losses: Sequence[Sequence[tuple[int, int]]] | None
    ) -> tuple[float, float]:
        """(accuracy, agreement) with frame f's lost byte ranges applied to images j = f mod F;
        `frame_losses` None means every frame arrived whole. Only images whose frame lost
        bytes go through the tail again; the others keep their lossless prediction."""
        top1 = self._lossless_top1(deployment).clone()
        if frame_losses:
            hit = [j for j in range(len(top1)) if frame_losses[j % len(frame_losses)]]
            if hit and deployment.strategy == "local":
                top1[hit] = -1  # the result never arrived whole: no answer
            elif hit:
                frames = deployment.encoded_frames()
                decoded = [
                    self._decode(deployment, frames[j], frame_losses[j % len(frame_losses)])
                    for j in hit
                ]
                with _batch_threads():
                    top1[hit] = _run_tail(deployment.tail, decoded, deployment.strategy == "remote")
        return (
            float((top1 == self.labels).float().mean()),
            float((top1 == self.whole_top1).float().mean()),
        )

    def _lossless_top1(self, deployment: Deployment):
        key = deployment.decoded_as or (deployment.strategy, deployment.encoding)
        if key not in self._top1:
            if deployment.strategy == "local":
                self._top1[key] = self.whole_top1
            else:
                self._top1[key] = self._tail_top1(deployment, [()] * len(self.whole_top1))
        return self._top1[key]

    def _decode(self, deployment: Deployment, frame: bytes, lost) -> list[np.ndarray]:
        if deployment.strategy == "remote":
            return [decode_image(frame, deployment.shapes[0], lost)[None]]
        return decode_tensors(frame, deployment.shapes, lost)

    def _decode_all(self, deployment: Deployment, losses: list) -> list[list[np.ndarray]]:
        frames = deployment.encoded_frames()
        return [self._decode(deployment, f, lost) for f, lost in zip(frames, losses, strict=True)]

    def _tail_top1(self, deployment: Deployment, losses: list):
        decoded = self._decode_all(deployment, losses)
        return _run_tail(deployment.tail, decoded, deployment.strategy == "remote")

    # ------------------------------------------------------------ simulation

    def network(self, payload_bytes: int, overrides: dict[str, float] | None = None):
        """The scenario's network with every flow carrying `payload_bytes` per frame."""
        net = self.scenario.to_network(
            payload_bytes=int(payload_bytes), frames=self.frames, protocol=self.protocol
        )
        return apply_overrides(net, overrides or {})

    def _flow_index(self, net) -> int:
        edge = self.scenario.edge_node().name
        server = self.scenario.server_node().name
        for i, flow in enumerate(net.flows):
            if flow.src == edge and flow.dst == server:
                return i
        return 0

    def row_from_result(
        self, deployment: Deployment, sim, net, deadline: float | None, qos: QoS
    ) -> Row:
        flow = sim.flows[self._flow_index(net)]
        protocol = net.protocol
        network_s = [f.latency_s if f.delivered_s is not None else None for f in flow.frames]
        fixed = deployment.head_s + deployment.encode_s + deployment.decode_s + deployment.tail_s
        parts = latency_parts(network_s, fixed, deadline)
        losses = None
        if protocol == "udp":
            losses = [_frame_loss(f) for f in flow.frames]
        accuracy, agreement = self.measure_accuracy(deployment, losses)
        sp = deployment.split
        row = Row(
            strategy=deployment.strategy,
            split_index=None if sp is None else sp.index,
            after=None if sp is None else sp.after,
            encoding=deployment.encoding,
            payload_bytes=deployment.payload_bytes,
            head_s=deployment.head_s,
            encode_s=deployment.encode_s,
            decode_s=deployment.decode_s,
            tail_s=deployment.tail_s,
            frames=len(flow.frames),
            frames_complete=sum(1 for f in flow.frames if f.complete),
            packets_lost=flow.summary.packets_lost,
            retransmissions=flow.summary.retransmissions,
            accuracy=accuracy,
            agreement=agreement,
            cs=deployment.cs,
            edge_flops=deployment.edge_flops,
            server_flops=deployment.server_flops,
            edge_params=deployment.edge_params,
            edge_memory_bytes=deployment.edge_memory_bytes,
            compute=deployment.compute,
            **parts.__dict__,
        )
        row.violations = qos.check(row)
        row.feasible = not row.violations
        return row

    def _simulate(self, nets: list, processes: int | None, cancel: Cancel | None):
        """(index, SimResult) as simulations finish; SeiCancelled when `cancel` stops them."""
        import libsim

        try:
            yield from libsim.simulate_many(nets, processes=processes, cancel=cancel)
        except libsim.LibsimError as exc:
            raise SeiInputError(f"{self.scenario.name}: the simulator refused it: {exc}") from None
        _check(cancel)  # simulate_many ends early, without an error, when cancelled

    def rows(
        self,
        qos: QoS | str | None = None,
        deadline: float | None = None,
        overrides: dict[str, float] | None = None,
        processes: int | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Iterator[Row]:
        """Rows as their simulations complete (parallel worker processes); cancellable."""
        self.prepare(cancel=cancel)
        qos = qos if isinstance(qos, QoS) else parse_qos(qos)
        sizes = sorted({d.payload_bytes for d in self.deployments})
        nets = [self.network(size, overrides) for size in sizes]
        by_size: dict[int, list[Deployment]] = {}
        for d in self.deployments:
            by_size.setdefault(d.payload_bytes, []).append(d)
        done = 0
        for i, sim in self._simulate(nets, processes, cancel):
            _check(cancel)
            for deployment in by_size[sizes[i]]:
                yield self.row_from_result(deployment, sim, nets[i], deadline, qos)
                done += 1
                if progress is not None:
                    progress(done / len(self.deployments), deployment.strategy)

    def sweep(
        self,
        axes: Sequence[SweepAxis],
        qos: QoS | str | None = None,
        deadline: float | None = None,
        processes: int | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> list[SweepPoint]:
        """The recommended deployment at every point of the grid spanned by `axes`."""
        self.prepare(cancel=cancel)
        qos = qos if isinstance(qos, QoS) else parse_qos(qos)
        points = _grid(axes)
        sizes = sorted({d.payload_bytes for d in self.deployments})
        jobs = [(p, s) for p in range(len(points)) for s in sizes]
        nets = [self.network(s, points[p]) for p, s in jobs]
        by_size: dict[int, list[Deployment]] = {}
        for d in self.deployments:
            by_size.setdefault(d.payload_bytes, []).append(d)
        rows_at: list[list[Row]] = [[] for _ in points]
        for finished, (i, sim) in enumerate(self._simulate(nets, processes, cancel), 1):
            _check(cancel)
            p, size = jobs[i]
            for deployment in by_size[size]:
                rows_at[p].append(self.row_from_result(deployment, sim, nets[i], deadline, qos))
            if progress is not None:
                progress(finished / len(jobs), "sweep")
        out = []
        for p, rows in enumerate(rows_at):
            ranking = rank(rows, qos)
            out.append(SweepPoint(points[p], ranking.recommended, ranking.recommendation))
        return out


def evaluate(
    model: str | Any = "demo",
    weights: str | None = None,
    scenario: str | Path | Any | None = None,
    data: str | Path | None = None,
    synthetic: int | None = None,
    qos: QoS | str | None = None,
    deadline: float | None = None,
    encodings: Sequence[str] | None = None,
    input_encodings: Sequence[str] | None = None,
    all_splits: bool = False,
    frames: int | None = None,
    protocol: str | None = None,
    processes: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Iterator[Row]:
    """Stream one Row per deployment as its simulation completes (see `Evaluation`)."""
    evaluation = Evaluation(
        model,
        weights,
        scenario,
        data,
        synthetic,
        encodings,
        input_encodings,
        all_splits,
        frames=frames,
        protocol=protocol,
    )
    evaluation.prepare(progress=progress, cancel=cancel)
    yield from evaluation.rows(qos, deadline, processes=processes, cancel=cancel)


# ================================================================ helpers


def _frame_loss(frame) -> tuple[tuple[int, int], ...]:
    if frame.delivered_s is None:
        return ((0, 1 << 62),)  # nothing arrived: every byte is lost
    if frame.lost_ranges:
        return tuple(frame.lost_ranges)
    if not frame.complete and frame.lost_bytes:
        return ((0, 1 << 62),)  # loss without ranges: assume the worst
    return ()


def _label_mapping(
    data_classes: list[str], model_classes: list[str] | None, num_classes: int | None
) -> list[int] | None:
    """Data label -> model class index, or None when the labels cannot be compared.

    Named classes are matched by name (an image folder's classes are sorted names, not the
    model's order); without names, the labels are trusted when the counts agree."""
    if not data_classes:
        return None
    if model_classes:
        index = {name: i for i, name in enumerate(model_classes)}
        if all(name in index for name in data_classes):
            return [index[name] for name in data_classes]
        return None
    if num_classes is None or len(data_classes) == num_classes:
        return list(range(len(data_classes)))
    return None


def _mean_size(frames: Sequence[bytes]) -> int:
    return math.ceil(sum(len(f) for f in frames) / len(frames))


def _timed_map(fn: Callable, items: Sequence) -> tuple[list, float]:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    return out, (time.perf_counter() - start) / max(len(items), 1)


def _run_tail(tail, decoded: list[list[np.ndarray]], remote: bool, batch: int = BATCH):
    """Top-1 of `tail` over per-image decoded payloads, `batch` images per call."""
    import torch

    tops = []
    with torch.inference_mode():
        for start in range(0, len(decoded), batch):
            chunk = decoded[start : start + batch]
            payload = [
                torch.from_numpy(np.concatenate([d[t] for d in chunk]))
                for t in range(len(chunk[0]))
            ]
            logits = tail(payload[0]) if remote else tail(payload)
            tops.append(logits.argmax(dim=1))
    return torch.cat(tops)


# Model analysis is the slow part and does not depend on the scenario: keep it per process.
_MODEL_CACHE: dict[tuple, tuple[Any, Any]] = {}


def _load_model(spec: str | Any, weights: str | None):
    if not isinstance(spec, str):
        return spec, _analyze(spec)
    key = (spec, weights)
    if key not in _MODEL_CACHE:
        from sei_tui.core.model.loading import load_model

        loaded = load_model(spec, weights)
        _MODEL_CACHE[key] = (loaded, _analyze(loaded))
    return _MODEL_CACHE[key]


def evaluation_threads() -> int:
    """torch intra-op threads for the evaluation's batched forward passes: one per core the
    1-minute load average leaves idle, less one for the work beside them (the background
    framing; in the TUI, the UI thread), at least 1, at most torch's own choice.

    On busy cores every parallel region waits for a descheduled thread: on a 2-core
    machine at load 3, the demo's batch-64 forward took 137 ms on 1 thread, 360 ms on 2."""
    import torch

    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(torch.get_num_threads(), round(cores - load) - 1))


@contextlib.contextmanager
def _batch_threads():
    """`evaluation_threads()` intra-op threads inside, torch's previous setting after."""
    import torch

    previous = torch.get_num_threads()
    wanted = evaluation_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)


def _analyze(loaded):
    from sei_tui.core.model.graph import analyze_model

    return analyze_model(loaded)


def _load_scenario(spec):
    from sei_tui.core.network import scenario as scenario_module

    if spec is None:
        return scenario_module.builtin_scenario("demo")
    if isinstance(spec, str | Path):
        return scenario_module.resolve_scenario(spec)
    return spec


def _open_data(data, synthetic, loaded):
    from sei_tui.core.data.datasets import open_dataset

    if data is None and synthetic is None:
        synthetic = DEFAULT_IMAGES
    return open_dataset(
        data, synthetic if data is None else None, loaded.preprocess, loaded.input_shape
    )


def _saliency(graph, dataset, cancel):
    from sei_tui.core.saliency.cumulative import cumulative_saliency

    return cumulative_saliency(graph, dataset, cancel=cancel)


def _compute_models(scenario, graph):
    from sei_tui.core.model.compute import ComputeModel

    edge_profile, server_profile = scenario.edge_and_server_compute()
    return (
        ComputeModel.from_profile(edge_profile, graph),
        ComputeModel.from_profile(server_profile, graph),
    )
