"""`sei saliency`: the cumulative-saliency curve of every split point and its maxima."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sei_tui.cli.inspect import add_model_arguments, integer_option
from sei_tui.core.errors import SeiInputError

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
BAR_WIDTH = 24


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", metavar="DIR", help="image folder (one sub-folder per class) or CIFAR-10 batches"
    )
    source.add_argument("--synthetic", metavar="N", help="N generated shape images")
    p.add_argument("--seed", metavar="S", default="0", help="seed of the synthetic images (0)")
    p.add_argument("--batch", metavar="B", default="32", help="images per forward/backward (32)")
    p.add_argument("--per-class", action="store_true", help="also one curve per class")
    p.add_argument(
        "--target",
        choices=("top1", "label"),
        default="top1",
        help="class score explained: the top-1 prediction (default) or the label",
    )
    p.add_argument("--no-cache", action="store_true", help="recompute even if a result is cached")
    p.add_argument("--json", action="store_true", help="print JSON (cli.md shape)")
    p.add_argument(
        "--figure",
        metavar="FILE",
        help="also draw the CS curve into FILE (.svg, .pdf or .png, from the suffix)",
    )


def run(args: argparse.Namespace) -> int:
    synthetic = None if args.synthetic is None else integer_option("--synthetic", args.synthetic)
    batch = integer_option("--batch", args.batch)
    seed = integer_option("--seed", args.seed, minimum=0)
    if args.data is not None and not Path(args.data).expanduser().is_dir():
        # checked before the (slow) model load; open_dataset validates the contents
        what = "not a directory" if Path(args.data).expanduser().exists() else "no such directory"
        raise SeiInputError(f"--data = {args.data}: {what}")
    if args.figure is not None:
        from sei_tui.core.figures.files import check_figure_file

        check_figure_file(args.figure, "--figure")  # before the slow work

    from sei_tui.core.data.datasets import open_dataset
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.model.loading import load_model, parse_input_shape
    from sei_tui.core.saliency.cumulative import cumulative_saliency

    input_shape = parse_input_shape(args.input_shape) if args.input_shape else None
    with _progress() as report:
        loaded = load_model(args.model, args.weights, input_shape, progress=report)
        graph = analyze_model(loaded, progress=report)
        dataset = open_dataset(
            args.data, synthetic, loaded.preprocess, loaded.input_shape, seed=seed
        )
        result = cumulative_saliency(
            graph,
            dataset,
            batch_size=batch,
            target=args.target,
            per_class=args.per_class,
            progress=report,
            cache=not args.no_cache,
            weights_digest_hint=loaded.weights_digest,
        )
    if args.figure is not None:
        from sei_tui.core.figures.files import write_saliency_figure

        write_saliency_figure(result, args.figure, graph.split_points)
    classes = list(getattr(dataset, "classes", []) or [])
    if args.target == "top1" and loaded.class_names:
        classes = list(loaded.class_names)
    if args.json:
        payload = result.to_json()
        payload["weights"] = loaded.weights
        payload["dataset"] = {
            "source": str(args.data) if args.data else f"synthetic:{synthetic}:seed={seed}",
            "fingerprint": dataset.fingerprint,
        }
        payload["class_names"] = {str(k): _class_name(classes, k) for k in result.per_class}
        json.dump(payload, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _print_table(result, classes)
    return 0


def _class_name(classes: list[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else str(index)


@contextmanager
def _progress() -> Iterator[Callable[[float, str], None] | None]:
    """A transient progress bar on stderr when it is a terminal (stdout stays clean JSON)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=1.0)

        def report(fraction: float, label: str) -> None:
            bar.update(task, completed=max(0.0, min(1.0, fraction)), description=label)

        yield report


def sparkline(values: list[float]) -> str:
    """One character per value, scaled between the finite minimum and maximum."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    chars = []
    for v in values:
        if not math.isfinite(v):
            chars.append(" ")
        elif span == 0:
            chars.append(SPARK_LEVELS[len(SPARK_LEVELS) // 2])
        else:
            level = round((v - low) / span * (len(SPARK_LEVELS) - 1))
            chars.append(SPARK_LEVELS[level])
    return "".join(chars)


def _print_table(result, classes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    curve = [p.log10_cs for p in result.points]
    finite = [v for v in curve if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    maxima = set(result.maxima)
    table = Table(title=f"cumulative saliency: {result.model}, {result.images} images")
    table.add_column("#", justify="right")
    table.add_column("after")
    table.add_column("CS", justify="right")
    table.add_column("log10 CS", justify="right")
    table.add_column("curve")
    table.add_column("")
    for point in result.points:
        value = point.log10_cs
        if math.isfinite(value) and high > low:
            filled = round((value - low) / (high - low) * BAR_WIDTH)
        else:
            filled = BAR_WIDTH if math.isfinite(value) else 0
        is_max = point.index in maxima
        table.add_row(
            str(point.index),
            point.after,
            f"{point.cs:.4g}",
            f"{value:.3f}" if math.isfinite(value) else "-inf",
            ("[bold]" if is_max else "") + "█" * filled + "·" * (BAR_WIDTH - filled),
            "[bold]◀ max[/bold]" if is_max else "",
        )
    console.print(table)
    console.print(f"curve   {sparkline(curve)}")
    after = {p.index: p.after for p in result.points}
    console.print("maxima  " + (", ".join(f"{i} ({after[i]})" for i in result.maxima) or "none"))
    for k, values in sorted(result.per_class.items()):
        name = _class_name(classes, k)
        logs = [math.log10(v) if v > 0 else float("-inf") for v in values]
        marks = ", ".join(str(i) for i in result.per_class_maxima.get(k, []))
        count = result.class_counts.get(k, 0)
        console.print(f"{name:>12} ({count:>4})  {sparkline(logs)}  maxima: {marks or 'none'}")
    source = "cached result" if result.cached else f"{result.wall_s:.2f} s"
    console.print(f"target: {result.target}; {source}")
