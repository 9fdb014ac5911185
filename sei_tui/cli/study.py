"""`sei study`: run a study file's grid on a process pool or Dask into a results folder,
or report a results folder (`--report`). Format: docs/study-format.md."""

from __future__ import annotations

import argparse
import sys

from sei_tui.core.errors import SeiInputError

FORMATS = ("table", "json", "csv", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", nargs="?", help="the study file (TOML, docs/study-format.md)")
    parser.add_argument("--out", metavar="DIR", help="results folder (created; resumed if present)")
    parser.add_argument(
        "--report", metavar="DIR", help="report a results folder (finished or not) and exit"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="report format")
    parser.add_argument(
        "--axes", metavar="X,Y", help="sensitivity map axes (default: bitrate across, loss down)"
    )
    parser.add_argument(
        "--objective",
        choices=("latency", "energy"),
        help="what each point's ranking minimises: p95 latency or the edge's energy per "
        "frame (default: the study file's `objective`, else latency)",
    )
    parser.add_argument(
        "--processes", type=int, metavar="N", help="local pool size (default: every core)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="run on a local Dask cluster of N processes"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster at ADDRESS (tcp://host:8786)",
    )


def run(args: argparse.Namespace) -> int:
    from sei_tui.core.study.report import read_report, render_study_report

    if args.report:
        if args.study or args.out or args.objective:
            raise SeiInputError("--report DIR takes no study file, --out or --objective")
        report = read_report(args.report)
        sys.stdout.write(render_study_report(report, args.format, args.axes))
        return 0
    if not args.study:
        raise SeiInputError("give a study file (sei study STUDY.toml --out DIR) or --report DIR")
    if not args.out:
        raise SeiInputError(f"{args.study}: --out DIR is required (where results are written)")
    for flag in ("processes", "workers"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise SeiInputError(f"--{flag} = {value}: must be at least 1")
    if args.scheduler and (args.workers or args.processes):
        raise SeiInputError(
            "--scheduler: the cluster has its own workers (no --workers/--processes)"
        )
    if args.workers and args.processes:
        raise SeiInputError("--workers (Dask) and --processes (local pool): choose one")
    from sei_tui.core.study.spec import load_study

    study = load_study(args.study)
    if args.objective:
        study.objective = args.objective
    if args.axes:
        from sei_tui.core.evaluation.sensitivity import parse_axes

        parse_axes(args.axes, [a.key for a in study.axes])
    from pathlib import Path

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SeiInputError(f"--out {args.out}: exists and is not a folder")
    from sei_tui.core.study.executors import make_executor

    executor = make_executor(
        workers=args.workers or args.processes, scheduler=args.scheduler, dask=bool(args.workers)
    )
    outcome = _run_with_progress(study, out, executor)
    print(
        f"sei study: computed {outcome.computed} of {outcome.total} points on the "
        f"{executor.name}, results in {out}",
        file=sys.stderr,
    )
    report = read_report(out)
    sys.stdout.write(render_study_report(report, args.format, args.axes))
    return 0


def _run_with_progress(study, out, executor):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from sei_tui.core.study.runner import run_study

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("study", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, description="points", completed=done, total=total)

        def preparing(text: str) -> None:
            bar.update(task, description=text)

        def announce(text: str) -> None:
            console.print(f"sei study: {text}", markup=False, highlight=False)

        return run_study(
            study, out, executor, progress=step, prepare_progress=preparing, announce=announce
        )
