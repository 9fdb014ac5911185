"""Time to train early exits: every candidate split point of the demo, three of resnet18.

Per model: the training plan (checks, training images), one forward pass over the training
images and one over the evaluation images keeping each exit point's pooled features, then
one exit trained per point (the cache is bypassed: every exit is trained). Targets on this
machine's 2 cores: demo (every candidate point, 512 training images) < 30 s; resnet18
(random weights, 256 images at 112 px, three points) < 120 s.

    .venv/bin/python benchmarks/bench_adapters.py [--models demo,resnet18] [--epochs E]

The forward passes use `evaluation_threads()` torch threads (at most 2 here, fewer when the
cores are busy); training runs on one thread (see sei_tui/core/adapters/exits.py).
"""

from __future__ import annotations

import argparse
import time

TARGETS = {"demo": 30.0, "resnet18": 120.0}


def bench(model: str, epochs: int | None) -> float:
    import torch

    from sei_tui.core.adapters.training import (
        AdapterOptions,
        capture_features,
        plan_adapters,
        train_exits,
    )
    from sei_tui.core.evaluation.deployments import candidate_splits
    from sei_tui.core.evaluation.inference import evaluation_threads
    from sei_tui.core.evaluation.prepare import load_model_and_graph, load_scenario, prepare_inputs

    torch.set_num_threads(2)
    shape = None if model == "demo" else (3, 112, 112)
    train = 512 if model == "demo" else 256
    loaded, graph = load_model_and_graph(model, None, shape)
    inputs = prepare_inputs(loaded, graph, load_scenario(None), None, 64, 64, saliency=False)
    points = candidate_splits(graph, None, all_splits=False)
    if model != "demo":  # three points spread over the single-tensor cuts
        points = [points[len(points) * k // 4] for k in (1, 2, 3)]
    options = AdapterOptions(exits=True, train_images=train, use_cache=False)
    if epochs is not None:
        options = AdapterOptions(
            exits=True, train_images=train, use_cache=False, exit_epochs=epochs
        )
    start = time.perf_counter()
    plan = plan_adapters(inputs, points, options, None, None)
    planned = time.perf_counter()
    features = capture_features(inputs, plan)
    captured = time.perf_counter()
    exits = train_exits(plan, features)
    trained = time.perf_counter()
    total = trained - start
    where = ", ".join(f"{sp.index} {sp.after}" for sp in plan.exit_points)
    print(
        f"{model}: {len(exits)} exits ({where if model != 'demo' else 'every candidate'}), "
        f"{len(plan.training.indices)} training + {len(inputs.images)} evaluation images at "
        f"{'x'.join(map(str, graph.input_shape))}, forward threads {evaluation_threads()}"
    )
    print(
        f"  plan + images {planned - start:.2f} s, forward passes {captured - planned:.2f} s, "
        f"training {trained - captured:.2f} s ({options.exit_epochs} epochs): "
        f"total {total:.2f} s (target < {TARGETS.get(model, float('inf')):.0f} s)"
    )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo,resnet18")
    parser.add_argument("--epochs", type=int, help="exit training epochs (default: sei's)")
    args = parser.parse_args()
    for model in args.models.split(","):
        bench(model.strip(), args.epochs)


if __name__ == "__main__":
    main()
