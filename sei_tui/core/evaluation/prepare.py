"""Stage 1 of an evaluation: everything that does not depend on the network.

The model and its graph, the evaluation images, the whole model's predictions on them,
the labels they are scored against, cumulative saliency at the split points, and the
edge and server compute models: one `EvaluationInputs`, read by every later stage.

Accuracy is against the labels when the data's classes are the model's (matched by name
when the model names its classes, else by index when the counts agree), else top-1
agreement with the whole model; `agreement` is always the latter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.inference import (
    BATCH,
    Cancel,
    Progress,
    batch_threads,
    check_cancel,
)

__all__ = [
    "DEFAULT_IMAGES",
    "MAX_IMAGES",
    "EvaluationInputs",
    "analyze",
    "compute_models",
    "label_mapping",
    "load_model_and_graph",
    "load_scenario",
    "open_data",
    "prepare_inputs",
]

DEFAULT_IMAGES = 64  # synthetic evaluation images when no data folder is given
MAX_IMAGES = 64  # evaluation images taken from a data folder (spread evenly over it)


@dataclass
class EvaluationInputs:
    """The model, the evaluation images and what they are scored against."""

    loaded: Any  # LoadedModel
    graph: Any  # ModelGraph
    model_name: str
    images: Any  # torch.Tensor (N, C, H, W), float32
    whole_logits: Any  # torch.Tensor (N, classes): the whole model on the images
    whole_top1: Any  # torch.Tensor (N,)
    labels: Any  # torch.Tensor (N,): model class indices, or whole_top1 without labels
    has_labels: bool
    whole_accuracy: float
    saliency: Any | None  # SaliencyResult over the graph's split points, or None
    saliency_error: str  # why there is no saliency ("" when there is, or none was asked)
    edge_compute: Any  # ComputeModel
    server_compute: Any  # ComputeModel

    @property
    def compute_label(self) -> str:
        return f"edge {self.edge_compute.label}, server {self.server_compute.label}"

    def cs(self, index: int) -> float | None:
        """Cumulative saliency at split point `index` (None without saliency)."""
        if self.saliency is None:
            return None
        for point in self.saliency.points:
            if point.index == index:
                return float(point.cs)
        return None


def prepare_inputs(
    loaded: Any,
    graph: Any,
    scenario: Any,
    data: str | Path | None = None,
    synthetic: int | None = None,
    max_images: int = MAX_IMAGES,
    saliency: bool = True,
    given_saliency: Any | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> EvaluationInputs:
    """Open the data, run the whole model, find the labels, the saliency and the compute
    models. `given_saliency` (over the same data) is used instead of computing it."""
    import torch

    report = progress or (lambda _f, _s: None)
    if given_saliency is not None:
        cuts = [p.index for p in given_saliency.points]
        if cuts != [sp.index for sp in graph.split_points]:
            raise ValueError("Evaluation: saliency_result is not over the graph's split points")
    check_cancel(cancel)
    report(0.1, "loading evaluation data")
    dataset = open_data(data, synthetic, loaded)
    # Folders list images class by class: take every k-th so that all classes appear.
    total = len(dataset)
    n = min(total, max_images)
    items = [dataset[i * total // n] for i in range(n)]
    images = torch.stack([x for x, _ in items]).float()
    check_cancel(cancel)
    report(0.2, "running the whole model")
    module = loaded.module
    with batch_threads(), torch.inference_mode():
        whole_logits = torch.cat([module(b).float() for b in images.split(BATCH)])
    whole_top1 = whole_logits.argmax(dim=1)
    model_of = label_mapping(
        list(getattr(dataset, "classes", None) or []),
        getattr(loaded, "class_names", None),
        getattr(loaded, "num_classes", None),
    )
    if model_of is not None:
        labels = torch.tensor([model_of[int(y)] for _, y in items])
    else:
        labels = whole_top1.clone()
    result, error = None, ""
    if saliency and given_saliency is not None:
        result = given_saliency
    elif saliency:
        report(0.3, "cumulative saliency")
        try:
            from sei_tui.core.saliency.cumulative import cumulative_saliency

            result = cumulative_saliency(graph, dataset, cancel=cancel)
        except SeiInputError as exc:  # CS is a predictor shown beside accuracy: optional
            error = str(exc)
    check_cancel(cancel)
    edge_compute, server_compute = compute_models(scenario, graph)
    return EvaluationInputs(
        loaded=loaded,
        graph=graph,
        model_name=getattr(loaded, "name", None) or str(graph.name),
        images=images,
        whole_logits=whole_logits,
        whole_top1=whole_top1,
        labels=labels,
        has_labels=model_of is not None,
        whole_accuracy=float((whole_top1 == labels).float().mean()),
        saliency=result,
        saliency_error=error,
        edge_compute=edge_compute,
        server_compute=server_compute,
    )


def label_mapping(
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


def load_model_and_graph(
    spec: str | Any, weights: str | None, input_shape: tuple[int, int, int] | None = None
) -> tuple[Any, Any]:
    """(LoadedModel, ModelGraph) of a model name, 'demo', FILE.py:factory or a LoadedModel."""
    if not isinstance(spec, str):
        return spec, analyze(spec)
    from sei_tui.core.model.loading import load_model

    loaded = load_model(spec, weights, input_shape=input_shape)
    return loaded, analyze(loaded)


def analyze(loaded: Any) -> Any:
    from sei_tui.core.model.graph import analyze_model

    return analyze_model(loaded)


def load_scenario(spec: str | Path | Any | None) -> Any:
    """A Scenario from a file, a built-in name, a Scenario, or None (the demo)."""
    from sei_tui.core.network import scenario as scenario_module

    if spec is None:
        return scenario_module.builtin_scenario("demo")
    if isinstance(spec, str | Path):
        return scenario_module.resolve_scenario(spec)
    return spec


def open_data(data: str | Path | None, synthetic: int | None, loaded: Any) -> Any:
    """The labelled images in `data`, or `synthetic` (default DEFAULT_IMAGES) shape images,
    preprocessed for `loaded`."""
    from sei_tui.core.data.datasets import open_dataset

    if data is None and synthetic is None:
        synthetic = DEFAULT_IMAGES
    return open_dataset(
        data, synthetic if data is None else None, loaded.preprocess, loaded.input_shape
    )


def compute_models(scenario: Any, graph: Any) -> tuple[Any, Any]:
    """(edge, server) ComputeModel from the scenario's compute profiles."""
    from sei_tui.core.model.compute import ComputeModel

    edge_profile, server_profile = scenario.edge_and_server_compute()
    return (
        ComputeModel.from_profile(edge_profile, graph),
        ComputeModel.from_profile(server_profile, graph),
    )
