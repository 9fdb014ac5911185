"""The `sei analyze` row of one exported deployment, through the core Evaluation API.

Used by `sei export` (the mean frame size of compressed encodings; training an exit or a
bottleneck as analyze does) and by `sei run` (the prediction a measured run is set
against, on the same images). An exported exit or bottleneck is evaluated as analyze
evaluates it, from the exported part instead of a newly trained one (`AdapterEvaluation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sei_tui.core.evaluation.engine import Deployment, Evaluation
from sei_tui.core.evaluation.inference import BATCH


class SplitEvaluation(Evaluation):
    """An Evaluation of the `split` deployments at given split points only."""

    def __init__(self, *args: Any, split_indices: Sequence[int] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.split_indices = tuple(split_indices)

    def candidate_splits(self) -> list:
        return [self.graph.split_points[i] for i in self.split_indices]


def split_evaluation(
    loaded: Any,
    graph: Any,
    split_index: int,
    encoding: str,
    data: str | None = None,
    synthetic: int | None = None,
    scenario: str | None = None,
    protocol: str | None = "tcp",
    max_images: int | None = None,
) -> SplitEvaluation:
    """A prepared evaluation of the one split deployment (`split`, `encoding`)."""
    return _prepared(
        SplitEvaluation,
        loaded,
        graph,
        encoding,
        dict(data=data, synthetic=synthetic, scenario=scenario, protocol=protocol),
        max_images,
        strategies=("split",),
        split_indices=(split_index,),
    )


def _prepared(
    kind: type, loaded: Any, graph: Any, encoding: str, where: dict, max_images: int | None,
    **options: Any,
) -> Any:  # fmt: skip
    """An evaluation of class `kind` of one encoding, without saliency, prepared; `where`
    holds data, synthetic, scenario and protocol."""
    if max_images is not None:
        options["max_images"] = max_images
    evaluation = kind(
        loaded, encodings=[encoding], saliency=False, loaded=loaded, graph=graph,
        **where, **options,
    )  # fmt: skip
    evaluation.prepare()
    return evaluation


def deployment_of(evaluation: Evaluation, strategy: str = "split") -> Any:
    """The one Deployment of `strategy` of a `split_evaluation` / `adapter_evaluation`."""
    (deployment,) = [d for d in evaluation.deployments if d.strategy == strategy]
    return deployment


class AdapterEvaluation(SplitEvaluation):
    """An Evaluation of one split point with a given (already trained) exit or bottleneck:
    its `split` deployment and its `early_exit` or `bottleneck` deployment, built as
    `sei analyze` builds them (`sei_tui.core.adapters.deploy`) from the given part."""

    def __init__(self, *args: Any, adapter: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.adapter = adapter

    def _plan_adapters(self, candidates: list) -> Any:
        return None  # nothing to train: the part is given

    def _adapter_deployments(
        self, plan: Any, built: list, report: Any, cancel: Any
    ) -> list[Deployment]:
        import torch

        from sei_tui.core.adapters.deploy import (
            ExitRetuner,
            adapter_seconds,
            bottleneck_deployments,
            result_encode_seconds,
        )
        from sei_tui.core.adapters.exits import pool_features
        from sei_tui.core.adapters.training import ExitOutputs

        adapter, inputs = self.adapter, self.inputs
        point = inputs.graph.split_points[adapter.split_index]
        whole = split_tensors(inputs.graph, inputs.images, point, cancel)
        n_train = adapter.train_images
        if adapter.kind == "bottleneck":
            _, tail = inputs.graph.split(adapter.split_index)
            tail.eval()
            return bottleneck_deployments(
                inputs, point, adapter.module, tail, whole, self.encodings, n_train
            )
        branch = adapter.module
        with torch.inference_mode():  # pooled per batch, then classified: as train_exits
            pooled = torch.cat([pool_features(b, adapter.layout) for b in whole.split(BATCH)])
            probabilities = torch.softmax(branch.classify(pooled), dim=1)
        top = probabilities.max(dim=1)
        shape = tuple(point.tensors[0].shape[1:])
        outputs = ExitOutputs(branch, top.values, top.indices, branch.flops(shape), branch.params())
        exit_s = adapter_seconds(inputs.edge_compute, inputs.graph, outputs.flops)
        self.exit_retuner = ExitRetuner(
            {point.index: (outputs, exit_s)},
            {(point.index, d.encoding): d for d in built if d.strategy == "split"},
            result_encode_seconds(),
            n_train,
        )
        return [
            self.exit_retuner.deployment(point.index, e.name, adapter.threshold)
            for e in self.encodings
        ]


def split_tensors(graph: Any, images: Any, point: Any, cancel: Any = None) -> Any:
    """The single tensor crossing `point` for every image, batch first, float32 (the
    evaluation's forward pass: batches of `BATCH` on the evaluation's threads)."""
    import torch

    from sei_tui.core.evaluation.inference import batch_threads, check_cancel
    from sei_tui.core.model.capture import run_capturing

    name = point.tensors[0].name
    out = []
    with batch_threads(), torch.inference_mode():
        for batch in images.split(BATCH):
            check_cancel(cancel)
            values, _ = run_capturing(graph.graph_module, batch, [name])
            out.append(values[name].float().clone())
    return torch.cat(out)


def adapter_evaluation(
    loaded: Any,
    graph: Any,
    adapter: Any,
    encoding: str,
    data: str | None = None,
    synthetic: int | None = None,
    scenario: str | None = None,
    protocol: str | None = "tcp",
    max_images: int | None = None,
) -> AdapterEvaluation:
    """A prepared evaluation of the split and the `adapter`'s deployment at its point."""
    return _prepared(
        AdapterEvaluation,
        loaded,
        graph,
        encoding,
        dict(data=data, synthetic=synthetic, scenario=scenario, protocol=protocol),
        max_images,
        strategies=("split", adapter.kind),
        split_indices=(adapter.split_index,),
        adapter=adapter,
    )


def train_adapter(
    loaded: Any,
    graph: Any,
    kind: str,
    split_index: int,
    options: Any,
    threshold: float | None = None,
    width: int | None = None,
    data: str | None = None,
    synthetic: int | None = None,
    max_images: int | None = None,
) -> Any:
    """The exit or bottleneck `sei analyze` trains at `split_index` with the same data,
    `--images` and training `options` (an `adapters.training.AdapterOptions`): the same
    training images, seed and cache key, so the same part (read from analyze's cache
    when it trained it already). Returned as a `deploy.adapters.Adapter`."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from sei_tui.core.deploy.adapters import adapter_file_name, load_adapter
    from sei_tui.core.errors import SeiInputError

    kwargs: dict[str, Any] = {}
    if max_images is not None:
        kwargs["max_images"] = max_images
    with tempfile.TemporaryDirectory(prefix="sei-export-") as folder:
        changes: dict[str, Any] = {"save_dir": Path(folder)}
        if width is not None:
            changes["widths"], changes["widths_given"] = (width,), True
        evaluation = SplitEvaluation(
            loaded,
            data=data,
            synthetic=synthetic,
            encodings=["fp32"],  # training does not depend on the payload's encoding
            saliency=False,
            loaded=loaded,
            graph=graph,
            strategies=(kind,),
            split_indices=(split_index,),
            adapters=replace(options, **changes),
            **kwargs,
        )
        evaluation.prepare()
        path = Path(folder) / adapter_file_name(kind, split_index, width)
        if not path.is_file():
            raise SeiInputError(f"--split {split_index}: no {kind} can be trained there")
        (trained,) = {d.train_images for d in evaluation.deployments}
        return load_adapter(
            path,
            kind,
            graph,
            split_index,
            int(evaluation.whole_logits.shape[1]),
            width,
            threshold,
            train_images=trained,
        )
