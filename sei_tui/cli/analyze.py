"""`sei analyze`: latency x accuracy of every deployment, QoS matching, recommendation.

With no arguments: the built-in demo model on the demo scenario with synthetic data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.encoding import DEFAULT_INPUT_ENCODINGS, DEFAULT_TENSOR_ENCODINGS
from sei_tui.core.evaluation.report import FORMATS

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="demo", help="model name, 'demo', or FILE.py:factory")
    parser.add_argument("--weights", help="torchvision weights name or a state-dict file")
    parser.add_argument(
        "--input-shape", metavar="C,H,W", help="model input shape (default: from the weights/model)"
    )
    parser.add_argument(
        "--scenario", help="scenario TOML file or a built-in scenario name (default: demo)"
    )
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data", help="labelled images: one folder per class, or CIFAR-10")
    data.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help="N synthetic shape images (the default, with N=64, when --data is not given)",
    )
    parser.add_argument(
        "--qos", default="", help='constraints, e.g. "p95_latency<=0.1, accuracy>=0.9"'
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument("--deadline", help="per-frame deadline (seconds, or e.g. 100ms)")
    parser.add_argument(
        "--objective",
        choices=("latency", "energy"),
        default="latency",
        help="what the ranking minimises: p95 latency (default) or the edge's energy per frame",
    )
    parser.add_argument(
        "--encoding",
        default=",".join(DEFAULT_TENSOR_ENCODINGS),
        help="payload encodings, comma list of fp32|fp16|int8 [+zlib|+lz4], or 'all'",
    )
    parser.add_argument(
        "--input-encoding",
        default=",".join(DEFAULT_INPUT_ENCODINGS),
        help="how `remote` sends the image: comma list of raw | jpeg[:Q]",
    )
    parser.add_argument(
        "--all-splits",
        action="store_true",
        help="every split point (default: single-tensor cuts and CS maxima)",
    )
    parser.add_argument("--sweep", help="e.g. bitrate=1e6:1e9:7,loss=0:0.05:6")
    parser.add_argument("--frames", type=int, help="frames per simulation (default: the flow's)")
    parser.add_argument(
        "--protocol", choices=("tcp", "udp"), help="override the scenario's transport"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=64,
        help="evaluate on at most this many --data images, spread evenly over it (default 64)",
    )
    parser.add_argument("--processes", type=int, help="simulation worker processes")
    parser.add_argument(
        "--strategies",
        default="local,remote,split",
        help="deployments: comma list of local, remote, split, early_exit, bottleneck, "
        "or 'all' (default local,remote,split)",
    )
    parser.add_argument(
        "--exit-thresholds",
        metavar="LIST",
        help="early_exit: exit when the top-1 probability is at least each of these, in (0, 1] "
        "(default 0.5,0.9,0.99)",
    )
    parser.add_argument(
        "--bottleneck-channels",
        metavar="LIST",
        help="bottleneck: channels of the transmitted tensor (default 4,8,16)",
    )
    parser.add_argument(
        "--train-images",
        type=int,
        metavar="N",
        help="images to train exits and bottlenecks on, never evaluated on (default 512)",
    )
    parser.add_argument(
        "--train-epochs",
        type=int,
        metavar="E",
        help="training epochs of exits and bottlenecks (default 30 for exits, 4 for bottlenecks)",
    )
    parser.add_argument(
        "--train-seed", type=int, metavar="S", default=0, help="training split and order (0)"
    )
    parser.add_argument(
        "--save-adapters",
        metavar="DIR",
        help="also write each trained exit and bottleneck as a state-dict file in DIR",
    )
    parser.add_argument("--out", help="also write the report to this file (atomically)")
    parser.add_argument(
        "--measure",
        metavar="HOST:PORT",
        help="also run the deployment `sei serve` serves there on the evaluation images and "
        "put the measured figures next to its predicted row",
    )
    from sei_tui.cli.simulate import add_trace_argument

    add_trace_argument(parser)
    parser.add_argument(
        "--figures",
        metavar="DIR",
        help="also write the figures (cs-curve, latency-by-split, pareto, sensitivity-map "
        "with --sweep) into DIR; the Markdown report embeds them",
    )
    parser.add_argument(
        "--figure-format",
        choices=("svg", "pdf", "png"),
        help="format of the --figures files (svg)",
    )


def _deadline(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        from sei_tui.core.units import parse_duration

        value = parse_duration(text, "--deadline")
    if not value > 0:
        raise SeiInputError(f"--deadline = {text}: must be a positive duration")
    return value


def _from_flag(flag: str, parse: Callable[..., T], *args) -> T:
    """`parse(*args)`, its input error prefixed with the flag the text came from."""
    try:
        return parse(*args)
    except SeiInputError as exc:
        raise SeiInputError(f"{flag}: {exc}") from None


def _encodings(text: str) -> list:
    from sei_tui.core.evaluation.encoding import (
        COMPRESSIONS,
        TENSOR_DTYPES,
        lz4_available,
        parse_tensor_encoding,
    )

    if text.strip().lower() == "all":
        comps = [None] + [c for c in COMPRESSIONS if c != "lz4" or lz4_available()]
        names = [d if c is None else f"{d}+{c}" for c in comps for d in TENSOR_DTYPES]
    else:
        names = [t for t in text.split(",") if t.strip()]
    if not names:
        raise SeiInputError("--encoding: empty list")
    return [_from_flag("--encoding", parse_tensor_encoding, n) for n in names]


def _list(flag: str, text: str, parse: Callable[[str], T]) -> list[T]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise SeiInputError(f"{flag}: empty list")
    out = []
    for item in items:
        try:
            out.append(parse(item))
        except ValueError:
            raise SeiInputError(f"{flag}: {item!r} is not a number") from None
    return out


def _strategies(text: str) -> tuple[str, ...]:
    from sei_tui.core.evaluation.rows import STRATEGIES

    if text.strip().lower() == "all":
        return STRATEGIES
    names = _list("--strategies", text, str)
    for name in names:
        if name not in STRATEGIES:
            raise SeiInputError(
                f"--strategies: unknown strategy {name!r} (known: {', '.join(STRATEGIES)}, all)"
            )
    return tuple(dict.fromkeys(names))


def _adapter_options(args: argparse.Namespace, strategies: tuple[str, ...], qos):
    """AdapterOptions from the training flags, checked (None without exits or bottlenecks)."""
    from sei_tui.core.adapters.split_data import MIN_TRAIN_IMAGES

    if not {"early_exit", "bottleneck"} & set(strategies):
        return None
    from sei_tui.core.adapters.deploy import AdapterOptions

    options = AdapterOptions(seed=args.train_seed)
    changes: dict = {}
    if args.exit_thresholds is not None:
        thresholds = _list("--exit-thresholds", args.exit_thresholds, float)
        for t in thresholds:
            if not 0.0 < t <= 1.0:
                raise SeiInputError(f"--exit-thresholds: {t:g} is outside (0, 1]")
        changes["thresholds"] = tuple(dict.fromkeys(thresholds))
    if args.bottleneck_channels is not None:
        widths = _list("--bottleneck-channels", args.bottleneck_channels, int)
        for w in widths:
            if w < 1:
                raise SeiInputError(f"--bottleneck-channels: {w} must be at least 1")
        changes["widths"] = tuple(dict.fromkeys(widths))
        changes["widths_given"] = True
    if args.train_images is not None:
        if args.train_images < MIN_TRAIN_IMAGES:
            raise SeiInputError(
                f"--train-images = {args.train_images}: too few images to train on "
                f"(at least {MIN_TRAIN_IMAGES})"
            )
        changes["train_images"] = args.train_images
    if args.train_epochs is not None:
        if args.train_epochs < 1:
            raise SeiInputError(f"--train-epochs = {args.train_epochs}: must be at least 1")
        changes["exit_epochs"] = changes["bottleneck_epochs"] = args.train_epochs
    bounds = [c.value for c in qos.constraints if c.column == "accuracy" and c.op in (">=", ">")]
    if bounds:
        changes["accuracy_bound"] = max(bounds)
    if args.save_adapters:
        from pathlib import Path

        target = Path(args.save_adapters)
        if target.exists() and not target.is_dir():
            raise SeiInputError(f"--save-adapters {args.save_adapters}: not a folder")
        changes["save_dir"] = target
    from dataclasses import replace

    return replace(options, **changes)


def run(args: argparse.Namespace) -> int:
    from sei_tui.core.evaluation.encoding import parse_input_encoding
    from sei_tui.core.evaluation.qos import parse_qos

    fmt = "json" if args.json else args.format
    # Validate everything the user typed before any slow work.
    qos = _from_flag("--qos", parse_qos, args.qos)
    deadline = _deadline(args.deadline)
    encodings = _encodings(args.encoding)
    input_encodings = [
        _from_flag("--input-encoding", parse_input_encoding, t)
        for t in args.input_encoding.split(",")
        if t.strip()
    ]
    axes = None
    if args.sweep:
        from sei_tui.core.evaluation.sweep import parse_sweep

        axes = _from_flag("--sweep", parse_sweep, args.sweep)
    input_shape = None
    if args.input_shape:
        from sei_tui.core.model.loading import parse_input_shape

        input_shape = parse_input_shape(args.input_shape)  # main renames its error to the flag
    strategies = _strategies(args.strategies)
    adapters = _adapter_options(args, strategies, qos)
    for name in ("frames", "images", "processes", "synthetic"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SeiInputError(f"--{name} = {value}: must be at least 1")
    from sei_tui.cli.simulate import with_trace_flags
    from sei_tui.core.evaluation.prepare import load_scenario

    scenario = with_trace_flags(load_scenario(args.scenario), args.trace)
    scenario.edge_and_server_compute()
    if axes:
        links = {link.name for link in scenario.links}
        for axis in axes:
            if axis.link is not None and axis.link not in links:
                raise SeiInputError(
                    f"--sweep: {axis.key}: the scenario {scenario.name!r} has no link "
                    f"{axis.link!r} (links: {', '.join(sorted(links))})"
                )
    if args.out:
        from sei_tui.core.evaluation.report import check_output_path

        check_output_path(args.out, create_folders=True)  # the writer makes missing folders
    _check_figure_flags(args)
    server = _measure_address(args.measure)

    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.report import AnalysisReport, render

    start = time.perf_counter()
    evaluation = Evaluation(
        model=args.model,
        weights=args.weights,
        scenario=scenario,
        data=args.data,
        synthetic=args.synthetic,
        encodings=encodings,
        input_encodings=input_encodings,
        all_splits=args.all_splits,
        max_images=args.images,
        frames=args.frames,
        protocol=args.protocol,
        input_shape=input_shape,
        strategies=strategies,
        adapters=adapters,
    )
    interactive = fmt == "table" and sys.stderr.isatty()
    progress = _stderr_progress if interactive else None
    evaluation.prepare(progress=progress)
    rows = evaluation.rows(qos, deadline, processes=args.processes)
    ranking = rank(rows, qos, objective=args.objective)
    sweep = []
    if axes:
        sweep = evaluation.sweep(axes, qos, deadline, processes=args.processes)
    # With a trace link: which row each frame uses, under static, adaptive and oracle policies.
    policies = evaluation.policies(ranking.rows, deadline, processes=args.processes)
    measured = _measure(args.measure, server, evaluation, ranking.rows) if server else None
    if interactive:
        print("\r\033[K", end="", file=sys.stderr)
    report = AnalysisReport(
        model=evaluation.model_name,
        scenario=evaluation.scenario.name,
        qos=qos.text,
        rows=ranking.rows,
        recommendation=ranking.recommendation,
        deadline=deadline,
        accuracy_kind="labels" if evaluation.has_labels else "agreement with the whole model",
        whole_accuracy=evaluation.whole_accuracy if evaluation.has_labels else None,
        images=len(evaluation.images),
        sweep=sweep,
        wall_s=time.perf_counter() - start,
        notes=[f"no CS: {evaluation.saliency_error}"] if evaluation.saliency_error else [],
        policies=policies,
        objective=args.objective,
        measured=measured,
    )
    text = render(report, fmt)
    if args.figures:
        text = _write_figures(args, report, evaluation, fmt, text)
    if args.out:
        from pathlib import Path

        from sei_tui.core.cache import atomic_write_bytes

        try:
            atomic_write_bytes(Path(args.out), text.encode())
        except OSError as exc:
            raise SeiInputError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
    return 0


def _measure_address(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    from sei_tui.core.deploy.client import parse_server

    try:
        return parse_server(text)
    except ValueError as exc:
        raise SeiInputError(f"--measure {exc}") from None


def _measure(text: str, server: tuple[str, int], evaluation, rows) -> dict:
    """The `measured` entry of the report: every evaluation image once through the server
    at `server`, scored like `sei run`, next to the matching row (if analyzed)."""
    from sei_tui.core.deploy import wire
    from sei_tui.core.deploy.measure import measure_server, run_report

    try:
        offer, result = measure_server(
            *server, evaluation.loaded, evaluation.graph, evaluation.images
        )
    except wire.Mismatch as exc:
        raise SeiInputError(f"--measure {text}: refused: {exc}") from None
    except (OSError, wire.WireError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SeiInputError(f"--measure {text}: {reason}") from None

    def same(d) -> bool:
        return (
            d.strategy == "split"
            and d.split_index == offer["split_index"]
            and d.encoding == offer["encoding"]
        )

    row = next((r for r in rows if same(r)), None)
    deployment = next(
        (
            d
            for d in evaluation.deployments
            if d.strategy == "split"
            and d.split.index == offer["split_index"]
            and d.encoding == offer["encoding"]
        ),
        None,
    )
    out = run_report(result, evaluation, deployment, row, offer["split_index"], offer["encoding"])
    out["server"] = text
    return out


def _stderr_progress(fraction: float, label: str) -> None:
    width = os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr.isatty() else 80
    line = f"sei analyze: {fraction * 100:3.0f}% {label}"
    print("\r\033[K" + line[: width - 1], end="", file=sys.stderr, flush=True)


def _check_figure_flags(args: argparse.Namespace) -> None:
    """--figures DIR must be a folder this process can create or write (before the run)."""
    if args.figure_format and not args.figures:
        raise SeiInputError("--figure-format: needs --figures DIR")
    if args.figures:
        from sei_tui.core.figures.files import check_figure_folder

        check_figure_folder(args.figures, "--figures")


def _write_figures(args: argparse.Namespace, report, evaluation, fmt: str, text: str) -> str:
    """Write the figures into --figures (matplotlib loads only here); the Markdown report
    gets them linked relative to the --out file's folder (or the working folder)."""
    from pathlib import Path

    from sei_tui.core.figures.files import markdown_figures, write_analysis_figures

    saliency = getattr(evaluation, "saliency", None)
    written = write_analysis_figures(
        report, args.figures, args.figure_format or "svg", saliency=saliency
    )
    if fmt != "md":
        return text
    base = Path(args.out).parent if args.out else Path.cwd()
    return text + markdown_figures(written, base)
