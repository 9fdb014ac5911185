"""`sei analyze --measure HOST:PORT`: measure the deployment a `sei serve` serves with the
analyzed model's own head (the same fx head `sei export` writes), on the same images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sei_tui.core.deploy import wire
from sei_tui.core.deploy.client import RunResult, greet, open_offer, run_frames
from sei_tui.core.deploy.export import TupleHead
from sei_tui.core.deploy.manifest import Manifest
from sei_tui.core.evaluation.encoding import parse_tensor_encoding


def measure_server(
    host: str, port: int, loaded: Any, graph: Any, images: torch.Tensor
) -> tuple[dict[str, Any], RunResult]:
    """(the server's offer, the run of every image once); Mismatch when the server serves
    another model (weights digest) or a split this graph does not have."""
    sock, offer = open_offer(host, port)
    with sock:
        if offer.get("adapters") is not None:
            raise wire.Mismatch(
                f"the server serves a {offer['adapters']} export; --measure runs plain "
                "splits: measure it with sei run"
            )
        if offer["weights_digest"] != loaded.weights_digest:
            raise wire.Mismatch(
                f"weights_digest {offer['weights_digest'][:12]}… (the server) is not this "
                f"model's {loaded.weights_digest[:12]}…"
            )
        index = offer["split_index"]
        if not 0 <= index < len(graph.split_points):
            raise wire.Mismatch(f"split_index {index}: {graph.name} has no such split point")
        head_module, _ = graph.split(index)
        head = TupleHead(head_module, len(graph.split_points[index].tensors)).eval()
        with torch.inference_mode():
            out = head(images[0:1])
        tensors = out if isinstance(out, tuple) else (out,)
        document = {
            "format_version": offer["format_version"],
            "weights_digest": loaded.weights_digest,
            "split_index": index,
            "encoding": offer["encoding"],
            "tensors": [
                {"name": spec.name, "shape": list(t.shape), "dtype": "float32"}
                for spec, t in zip(graph.split_points[index].tensors, tensors, strict=True)
            ],
        }
        manifest = Manifest(document, parse_tensor_encoding(offer["encoding"]), Path("."))
        greet(sock, manifest)
        return offer, run_frames(sock, manifest, images, len(images), head=head)


def run_report(
    result: RunResult,
    evaluation: Any,
    deployment: Any,
    predicted: Any,
    split_index: int,
    encoding: str,
    adapters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `sei run --json` document (docs/cli.md): a run scored on the evaluation's
    images; `deployment` / `predicted` (its Deployment and Row) may be None; `adapters`:
    the manifest's entry of an exported early exit or bottleneck."""
    answered = result.top1_by_image()
    exited = result.exited_by_image()
    images = sorted(answered)
    labels = evaluation.labels
    whole = evaluation.whole_top1
    expected = None if deployment is None else deployment.lossless_top1

    def fraction(reference) -> float | None:
        if not images or reference is None:
            return None
        return sum(answered[i] == int(reference[i]) for i in images) / len(images)

    return {
        "frames": len(result.records),
        "images": len(images),
        "accuracy": fraction(labels),
        "accuracy_kind": "labels" if evaluation.has_labels else "agreement with the whole model",
        "agreement": fraction(whole),
        "evaluation_agreement": fraction(expected),
        "p50_latency": result.percentile(50),
        "p95_latency": result.percentile(95),
        "p99_latency": result.percentile(99),
        "parts": result.parts(),
        "payload_bytes": sum(r.payload_bytes for r in result.records) / len(result.records),
        "split_index": split_index,
        "encoding": encoding,
        "top1": [answered[i] for i in images],
        "predicted": None if predicted is None else predicted.to_dict(),
        # added with exported exits and bottlenecks (docs/cli.md)
        "strategy": "split" if adapters is None else adapters["kind"],
        "adapters": adapters,
        "early_exit_frames": sum(r.exited for r in result.records),
        "exit_rate": None
        if adapters is None or adapters["kind"] != "early_exit" or not images
        else sum(exited[i] for i in images) / len(images),
        "exited": [exited[i] for i in images],
    }
