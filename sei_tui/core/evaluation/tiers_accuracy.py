"""Accuracy of split2 (two-cut) deployments: each image's top-1 through both hops.

Lossless (`lossless_top1s`): what `tiers.two_cut_top1` computes for one deployment,
head -> hop 1 -> middle -> hop 2 -> tail with each hop encoded and decoded, for every
deployment at once and without repeating work: the decoded payload of a hop depends only
on the element type (compression is lossless), so it is worked out once per (cut, element
type); the middle segments of one first cut run as one pass of the graph continued from
the decoded hop-1 payload, capturing every later cut's tensors; each second cut's tail
module is built once. The same operations on the same values as `two_cut_top1`, so the
same answers (tests/test_tiers_nodes.py checks it on random DAGs). Where the same
operation would run again on bit-identical input (the fp32 hops: decoding gives back the
graph's own values), its result is reused instead.

Under loss (`lossy_top1`, UDP): as for a single split (see `accuracy`), image j takes the
lost byte ranges of frame j mod F of each hop's simulated flow; hop 1's frame is decoded
with its losses concealed (`encoding.decode_tensors`), the middle runs on that, the edge box
encodes its output again and hop 2's losses are concealed in that frame (ranges past its
end ignored: after a loss upstream, a compressed frame may be shorter than the one
simulated), then the tail runs. Images whose frames lost nothing keep the lossless answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sei_tui.core.evaluation.inference import Cancel, check_cancel

__all__ = ["Segments", "lossless_top1s", "lossy_top1"]


class Segments:
    """The middle and tail modules of one graph, each built once, on first use."""

    def __init__(self, graph: Any):
        self.graph = graph
        self._tails: dict[int, Any] = {}
        self._middles: dict[tuple[int, int], Any] = {}

    def tail(self, index: int) -> Any:
        if index not in self._tails:
            self._tails[index] = self.graph.split(index)[1]
        return self._tails[index]

    def middle(self, first: int, second: int) -> Any:
        if (first, second) not in self._middles:
            self._middles[first, second] = self.graph.middle(first, second)
        return self._middles[first, second]


def _decoded(tensors: Sequence[Any], dtype: str) -> list:
    """What the receiver decodes of each image's frame of `tensors` (batch first) in
    element type `dtype`, as contiguous tensors (as `tiers.hop_roundtrip` gives them)."""
    import torch

    from sei_tui.core.evaluation.encoding import batch_bodies

    body = batch_bodies(list(tensors), [dtype])[dtype]
    return [torch.from_numpy(d) for d in body.decoded]


def _same(a: Any, b: Any) -> bool:
    """Bit-identical tensors in the same layout (the same input to any operation)."""
    import torch

    return a.dtype == b.dtype and a.stride() == b.stride() and torch.equal(a, b)


def _continued(
    graph: Any, images: Any, point: Any, received: list, wanted: set, plain: dict
) -> dict:
    """The values of the `wanted` fx nodes when the graph runs on `images` with `point`'s
    payload tensors replaced by `received` for every node after the cut (what the middle
    segments from `point` compute on the received payload); a wanted tensor produced at or
    before the cut is the received one (it passes straight through the middle). `plain`
    holds the graph's own values of (at least) `point`'s and the wanted tensors: when every
    received tensor is bit for bit and stride for stride the graph's own (fp32), the run
    would repeat the graph's, so its values are taken from `plain`."""
    import torch

    from sei_tui.core.model.capture import StopRun, run_nodes

    position = {n.name: n.position for n in graph.nodes}
    payload = {t.name: v for t, v in zip(point.tensors, received, strict=True)}
    if all(_same(plain[name], value) for name, value in payload.items()):
        return {name: plain[name] for name in wanted}
    out = {name: payload[name] for name in wanted if position[name] <= point.position}
    if len(out) == len(wanted):
        return out
    swapped = False

    def step(node: Any, run: Any, env: dict) -> Any:
        nonlocal swapped
        if not swapped and position.get(node.name, math.inf) > point.position:
            for n in list(env):  # from here on, later nodes read what the box received
                if n.name in payload:
                    env[n] = payload[n.name]
            swapped = True
        value = run()
        if node.name in wanted and node.name not in out:
            out[node.name] = value
            if len(out) == len(wanted):
                raise StopRun()
        return value

    with torch.inference_mode():
        run_nodes(graph.graph_module, images, step=step)
    return out


def lossless_top1s(
    graph: Any,
    images: Any,
    pairs: Sequence[tuple[Any, Any]],
    encodings: Sequence[Any],
    segments: Segments | None = None,
    cancel: Cancel | None = None,
) -> dict[tuple[tuple[int, int], str], Any]:
    """Top-1 per image of every pair of split points (a, b) (`tiers.cut_pairs`) in every
    encoding (TensorEncoding) when no byte is lost, keyed by ((a.index, b.index), encoding
    name): the module's doc says how."""
    import torch

    from sei_tui.core.model.capture import run_capturing

    segments = segments or Segments(graph)
    firsts = sorted({a.index: a for a, _ in pairs}.values(), key=lambda sp: sp.index)
    seconds = {a.index: [b for x, b in pairs if x.index == a.index] for a in firsts}
    names = list(dict.fromkeys(t.name for pair in pairs for sp in pair for t in sp.tensors))
    values, _ = run_capturing(graph.graph_module, images, names, stop_early=True)
    dtypes = list(dict.fromkeys(e.dtype for e in encodings))
    by_dtype: dict[tuple[int, int, str], Any] = {}
    # per (second cut, element type): the last tail input and its answer, reused when the
    # next first cut hands the tail the same tensors (fp32: the graph's own values)
    last: dict[tuple[int, str], tuple[list, Any]] = {}
    for a in firsts:
        wanted = {t.name for b in seconds[a.index] for t in b.tensors}
        for dtype in dtypes:
            check_cancel(cancel)
            received = _decoded([values[t.name] for t in a.tensors], dtype)
            later = _continued(graph, images, a, received, wanted, values)
            for b in seconds[a.index]:
                hop2 = _decoded([later[t.name] for t in b.tensors], dtype)
                seen = last.get((b.index, dtype))
                if seen is not None and all(map(_same, seen[0], hop2)):
                    top1 = seen[1]
                else:
                    with torch.inference_mode():
                        top1 = segments.tail(b.index)(hop2).argmax(dim=1)
                    last[b.index, dtype] = (hop2, top1)
                by_dtype[a.index, b.index, dtype] = top1
            del received, later
    return {
        ((a.index, b.index), e.name): by_dtype[a.index, b.index, e.dtype]
        for a, b in pairs
        for e in encodings
    }


def lossy_top1(
    graph: Any,
    images: Any,
    cuts: tuple[int, int],
    encoding: Any,
    lossless: Any,
    losses: tuple[Sequence, Sequence],
    segments: Segments | None = None,
) -> Any:
    """Top-1 per image of the deployment with `cuts` in `encoding` (TensorEncoding) when
    hop h's frame f lost the byte ranges `losses[h][f]` (accuracy.frame_loss); `lossless`
    is its top-1 without loss, kept for the images whose frames lost nothing."""
    import torch

    from sei_tui.core.evaluation.encoding import decode_tensors, encode_tensors
    from sei_tui.core.model.capture import run_capturing

    segments = segments or Segments(graph)
    hop1_losses, hop2_losses = losses
    hit = [
        j
        for j in range(len(images))
        if hop1_losses[j % len(hop1_losses)] or hop2_losses[j % len(hop2_losses)]
    ]
    if not hit:
        return lossless
    first, second = (graph.split_points[k] for k in cuts)

    def hop(tensors: list, lost: Sequence) -> list:
        shapes = [(1, *t.shape[1:]) for t in tensors]
        decoded = [
            decode_tensors(
                encode_tensors([t[i : i + 1] for t in tensors], encoding),
                shapes,
                lost[j % len(lost)],
            )
            for i, j in enumerate(hit)
        ]
        return [torch.cat([torch.from_numpy(d[k]) for d in decoded]) for k in range(len(shapes))]

    names = [t.name for t in first.tensors]
    values, _ = run_capturing(graph.graph_module, images[hit], names, stop_early=True)
    with torch.inference_mode():
        received = hop([values[n] for n in names], hop1_losses)
        middle = list(segments.middle(*cuts)(received))
        top1 = segments.tail(second.index)(hop(middle, hop2_losses)).argmax(dim=1)
    out = lossless.clone()
    out[hit] = top1
    return out
