"""Planning and running the training of a run's exits and bottlenecks.

`plan_adapters` checks everything the user gave before any slow work (the data's classes,
enough images left to train on, bottleneck widths) and picks the points: exits at every
single-tensor candidate split point, bottlenecks at the cumulative-saliency maxima among
them (every candidate without saliency). `capture_features` runs the model once over the
training images and once over the evaluation images, keeping each exit point's pooled
features and each bottleneck point's whole tensor; `train_exits` and `train_bottlenecks`
train (or read from the cache, `training_cache`) one part per point and width.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
    single_thread,
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
from sei_tui.core.evaluation.inference import BATCH, Cancel, Progress, batch_threads, check_cancel
from sei_tui.core.model.capture import run_capturing

__all__ = [
    "DEFAULT_EXIT_THRESHOLDS",
    "AdapterOptions",
    "AdapterPlan",
    "ExitOutputs",
    "Features",
    "capture_features",
    "check_classes_covered",
    "check_labels",
    "plan_adapters",
    "train_bottlenecks",
    "train_exits",
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
    accuracy_strict: bool = False  # the QoS says accuracy > bound
    save_dir: Path | None = None  # write each trained part's state dict here
    use_cache: bool = True  # False: always train (benchmarks)


@dataclass
class ExitOutputs:
    """One exit's answers on the evaluation images."""

    branch: ExitBranch
    confidence: torch.Tensor  # (N,) top-1 softmax probability
    top1: torch.Tensor  # (N,)
    flops: int  # per image
    params: int


@dataclass
class AdapterPlan:
    """Checked inputs of the training: images, points and their layouts."""

    options: AdapterOptions
    training: TrainingImages
    exit_points: list
    bottleneck_points: list
    layouts: dict[int, str]
    cache_base: dict[str, str]
    graph: Any


@dataclass
class Features:
    """What the training and the deployments read from the model's forward passes."""

    teacher: torch.Tensor  # whole-model logits on the training images
    pooled_train: dict[int, torch.Tensor]
    whole_train: dict[int, torch.Tensor]
    pooled_eval: dict[int, torch.Tensor]
    whole_eval: dict[int, torch.Tensor]


def adapter_file_name(kind: str, split_index: int, width: int | None = None) -> str:
    """The file `--save-adapters DIR` writes for a part, and `sei export --adapters DIR`
    looks for: `exit-split{K}.pt` or `bottleneck-split{K}-c{C}.pt`."""
    if kind == "early_exit":
        return f"exit-split{split_index}.pt"
    return f"bottleneck-split{split_index}-c{width}.pt"


def check_labels(dataset_classes: list[str], loaded: Any) -> list[int] | None:
    """The data's labels as model classes, or None: train towards the whole model's
    predictions (self-distillation), as accuracy is then agreement with the whole model."""
    from sei_tui.core.evaluation.prepare import label_mapping

    names = getattr(loaded, "class_names", None)
    return label_mapping(dataset_classes, names, getattr(loaded, "num_classes", None))


def check_classes_covered(
    training: TrainingImages, evaluation_labels: Any, names: dict[int, str], data: str | None
) -> None:
    """With labels, every class of the evaluation images needs training images: an exit
    never trained on a class cannot answer it. A SeiInputError naming the class otherwise."""
    if training.labels is None:
        return
    missing = sorted(set(evaluation_labels.tolist()) - set(training.labels.tolist()))
    if missing:
        shown = ", ".join(repr(names.get(c, str(c))) for c in missing[:4])
        where = f"--data {data}" if data is not None else "--synthetic"
        raise SeiInputError(
            f"{where}: no training image of class {shown} (the evaluation images have "
            f"{'it' if len(missing) == 1 else 'them'}): add images or raise --train-images"
        )


def plan_adapters(
    inputs: Any,
    candidates: Sequence[Any],
    options: AdapterOptions,
    data: str | None,
    synthetic: int | None,
) -> AdapterPlan:
    """Check the run's training inputs and choose the points (see the module doc)."""
    from sei_tui.core.evaluation.prepare import open_data

    loaded, graph = inputs.loaded, inputs.graph
    dataset = open_data(data, synthetic, loaded)
    classes = list(getattr(dataset, "classes", None) or [])
    label_of = check_labels(classes, loaded)
    points = [sp for sp in candidates if sp.single_tensor]
    layouts = {sp.index: exit_layout(sp.tensors[0].shape, graph.input_shape) for sp in points}
    bottleneck_points = []
    if options.bottlenecks:
        maxima = set(inputs.saliency.maxima) if inputs.saliency is not None else None
        bottleneck_points = [
            sp
            for sp in points
            if (maxima is None or sp.index in maxima) and len(sp.tensors[0].shape) >= 2
        ]
        _check_widths(options, bottleneck_points, layouts)
    training = training_images(
        data, synthetic, loaded, len(inputs.images), options.train_images, options.seed, label_of
    )
    names = {m: classes[d] for d, m in enumerate(label_of or [])}  # model class -> name
    check_classes_covered(training, inputs.labels, names, data)
    base = {"model": inputs.model_name, "weights": weights_digest(loaded)}
    base["data"] = training.fingerprint
    return AdapterPlan(
        options=options,
        training=training,
        exit_points=points if options.exits else [],
        bottleneck_points=bottleneck_points,
        layouts=layouts,
        cache_base=base,
        graph=graph,
    )


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


def _capture(
    graph: Any,
    images: torch.Tensor,
    pooled: dict,
    whole: dict,
    cancel: Cancel | None,
    threads: Any = batch_threads,
) -> tuple[torch.Tensor, dict, dict]:
    """(the graph's output over `images`, pooled features of the points in `pooled` (index
    -> (point, layout)), whole tensors of the points in `whole` (index -> point)); the
    forward passes run inside the `threads` context."""
    names = {sp.tensors[0].name for sp, _ in pooled.values()}
    names |= {sp.tensors[0].name for sp in whole.values()}
    outputs = []
    got_pooled: dict[int, list] = {i: [] for i in pooled}
    got_whole: dict[int, list] = {i: [] for i in whole}
    with threads(), torch.inference_mode():
        for batch in images.split(BATCH):
            check_cancel(cancel)
            values, output = run_capturing(graph.graph_module, batch, sorted(names))
            outputs.append(output.float())
            for i, (sp, layout) in pooled.items():
                got_pooled[i].append(pool_features(values[sp.tensors[0].name].float(), layout))
            for i, sp in whole.items():
                got_whole[i].append(values[sp.tensors[0].name].float().clone())
            del values
    return (
        torch.cat(outputs),
        {i: torch.cat(v) for i, v in got_pooled.items()},
        {i: torch.cat(v) for i, v in got_whole.items()},
    )


def capture_features(inputs: Any, plan: AdapterPlan, cancel: Cancel | None = None) -> Features:
    """One forward pass over the training images (on one thread, as the training: what the
    parts learn from does not depend on the machine's load) and one over the evaluation
    images (on the evaluation's threads)."""
    pooled = {sp.index: (sp, plan.layouts[sp.index]) for sp in plan.exit_points}
    whole = {sp.index: sp for sp in plan.bottleneck_points}
    teacher, pooled_train, whole_train = _capture(
        plan.graph, plan.training.images, pooled, whole, cancel, single_thread
    )
    _, pooled_eval, whole_eval = _capture(plan.graph, inputs.images, pooled, whole, cancel)
    return Features(teacher, pooled_train, whole_train, pooled_eval, whole_eval)


def _targets(plan: AdapterPlan, features: Features) -> torch.Tensor:
    """Labels when the data has the model's classes, else the whole model's softmax."""
    if plan.training.labels is not None:
        return plan.training.labels
    return torch.softmax(features.teacher.float(), dim=1)


def train_exits(
    plan: AdapterPlan,
    features: Features,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> dict[int, ExitOutputs]:
    """Each exit point's trained branch and its answers on the evaluation images."""
    report = progress or (lambda _f, _s: None)
    options = plan.options
    targets = _targets(plan, features)
    classes = int(features.teacher.shape[1])
    out: dict[int, ExitOutputs] = {}
    for done, sp in enumerate(plan.exit_points):
        check_cancel(cancel)
        report(done / max(len(plan.exit_points), 1), f"split {sp.index}: training the exit")
        layout = plan.layouts[sp.index]
        pooled = features.pooled_train[sp.index]
        config = {
            "kind": "exit",
            "layout": layout,
            "features": int(pooled.shape[1]),
            "classes": classes,
            "epochs": options.exit_epochs,
            "seed": options.seed,
            "labels": plan.training.labels is not None,
        }
        key = cache_key(**plan.cache_base, split_index=sp.index, configuration=config)
        branch = ExitBranch(layout, int(pooled.shape[1]), classes)
        if not (options.use_cache and load_cached(key, branch)):
            branch = train_exit(pooled, layout, targets, classes, options.exit_epochs, options.seed)
            if options.use_cache:
                store(key, branch)
        branch.eval()
        if options.save_dir is not None:
            save_state_dict(
                Path(options.save_dir) / adapter_file_name("early_exit", sp.index), branch
            )
        with torch.inference_mode():
            probs = torch.softmax(branch.classify(features.pooled_eval[sp.index]), dim=1)
        top = probs.max(dim=1)
        shape = tuple(sp.tensors[0].shape[1:])
        out[sp.index] = ExitOutputs(
            branch, top.values, top.indices, branch.flops(shape), branch.params()
        )
    return out


def train_bottlenecks(
    plan: AdapterPlan,
    features: Features,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Iterator[tuple[Any, Bottleneck, Any]]:
    """(split point, trained bottleneck, the point's tail) per bottleneck point and width
    (default widths wider than a point's tensor are skipped there)."""
    report = progress or (lambda _f, _s: None)
    options = plan.options
    steps = max(len(plan.bottleneck_points) * len(options.widths), 1)
    done = 0
    for sp in plan.bottleneck_points:
        layout = plan.layouts[sp.index]
        payload = features.whole_train[sp.index]
        channels = channels_of(payload.shape[1:], layout)
        _, tail = plan.graph.split(sp.index)
        tail.eval()
        for width in options.widths:
            check_cancel(cancel)
            report(done / steps, f"split {sp.index}: training bottleneck {width}")
            done += 1
            if width > channels:
                continue
            config = {
                "kind": "bottleneck",
                "layout": layout,
                "channels": channels,
                "width": int(width),
                "epochs": options.bottleneck_epochs,
                "seed": options.seed,
            }
            key = cache_key(**plan.cache_base, split_index=sp.index, configuration=config)
            model = Bottleneck(layout, channels, int(width))
            if not (options.use_cache and load_cached(key, model)):
                model = train_bottleneck(
                    payload,
                    layout,
                    int(width),
                    tail,
                    features.teacher,
                    options.bottleneck_epochs,
                    options.seed,
                )
                if options.use_cache:
                    store(key, model)
            model.eval()
            if options.save_dir is not None:
                name = adapter_file_name("bottleneck", sp.index, int(width))
                save_state_dict(Path(options.save_dir) / name, model)
            yield sp, model, tail
