"""`sei run`: the device side of an exported split, measured next to sei's prediction."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from sei_tui.core.errors import SeiInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="a `sei export` folder")
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="where `sei serve` runs")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="labelled images: one folder per class, or CIFAR-10")
    data.add_argument("--synthetic", metavar="N", help="N synthetic shape images")
    p.add_argument("--fps", metavar="F", help="send at most F frames per second (default: at once)")
    p.add_argument(
        "--frames", metavar="K", help="frames to send, the images in turn (default: one per image)"
    )
    p.add_argument(
        "--scenario", help="scenario of the predicted row (default: demo), simulated over TCP"
    )
    p.add_argument(
        "--protocol",
        choices=("tcp", "udp"),
        default="tcp",
        help="frames over TCP (default) or as UDP datagrams, lost chunks concealed "
        "by the server as the evaluation does; the predicted row uses the same transport",
    )
    p.add_argument("--json", action="store_true", help="print JSON (stable keys)")
    p.add_argument(
        "--compare",
        action="store_true",
        help="also print every part measured next to the predicted row's",
    )


def _checked(args: argparse.Namespace) -> dict[str, Any]:
    from sei_tui.cli.inspect import integer_option
    from sei_tui.core.deploy.client import parse_server

    try:
        host, port = parse_server(args.server)
    except ValueError as exc:
        raise SeiInputError(f"--server {exc}") from None
    out: dict[str, Any] = {"host": host, "port": port, "fps": None, "frames": None}
    out["synthetic"] = (
        None if args.synthetic is None else integer_option("--synthetic", args.synthetic)
    )
    if args.frames is not None:
        out["frames"] = integer_option("--frames", args.frames)
    if args.fps is not None:
        try:
            fps = float(args.fps)
        except ValueError:
            raise SeiInputError(f"--fps = {args.fps!r}: expected a number") from None
        if not (math.isfinite(fps) and fps > 0):
            raise SeiInputError(f"--fps = {args.fps}: must be a positive number")
        out["fps"] = fps
    return out


def run(args: argparse.Namespace) -> int:
    from sei_tui.core.deploy.manifest import read_manifest

    flags = _checked(args)
    manifest = read_manifest(args.folder)
    doc = manifest.document
    from sei_tui.core.deploy import wire
    from sei_tui.core.deploy.adapters import adapter_of_manifest, model_classes
    from sei_tui.core.deploy.client import connect, open_datagrams, run_frames
    from sei_tui.core.deploy.measure import run_report
    from sei_tui.core.deploy.predicted import adapter_evaluation, deployment_of, split_evaluation
    from sei_tui.core.evaluation.prepare import load_scenario
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.model.loading import load_model

    scenario = load_scenario(args.scenario)
    model = doc["model"]
    log(f"loading {model['spec']} and the evaluation images")
    loaded = load_model(model["spec"], model.get("weights"), tuple(model["input_shape"]))
    if loaded.weights_digest != doc["weights_digest"]:
        raise SeiInputError(
            f"{args.folder}: the model {model['spec']} loads with weights digest "
            f"{loaded.weights_digest[:12]}…, the export was made with {doc['weights_digest'][:12]}…"
        )
    graph = analyze_model(loaded)
    adapter = adapter_of_manifest(manifest, graph, model_classes(graph))
    common = {
        "data": args.data,
        "synthetic": flags["synthetic"],
        "scenario": scenario,
        "protocol": args.protocol,
    }
    strategy = "split" if adapter is None else adapter.kind
    if adapter is None:
        evaluation = split_evaluation(
            loaded, graph, doc["split_index"], manifest.encoding.name, **common
        )
    else:  # the exported part's own deployment, evaluated as sei analyze evaluates it
        evaluation = adapter_evaluation(loaded, graph, adapter, manifest.encoding.name, **common)
    images = evaluation.images
    frames = flags["frames"] or len(images)
    try:
        sock = connect(flags["host"], flags["port"], manifest)
    except wire.Mismatch as exc:
        raise SeiInputError(f"--server {args.server}: refused: {exc}") from None
    except (OSError, wire.WireError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SeiInputError(f"--server {args.server}: cannot connect: {reason}") from None
    log(
        f"connected to {args.server}: {frames} frames, {manifest.encoding.name}, "
        f"{args.protocol.upper()}"
    )
    with sock, _progress(frames) as advance:
        sender = None
        try:
            if args.protocol == "udp":
                sender = open_datagrams(sock)
            result = run_frames(
                sock,
                manifest,
                images,
                frames,
                flags["fps"],
                advance,
                datagrams=sender,
                exit_threshold=manifest.exit_threshold,
            )
        except (OSError, wire.WireError) as exc:
            raise SeiInputError(f"--server {args.server}: connection lost: {exc}") from None
        finally:
            if sender is not None:
                sender.close()
    predicted = next(r for r in evaluation.rows() if r.strategy == strategy)
    report = run_report(
        result,
        evaluation,
        deployment_of(evaluation, strategy),
        predicted,
        doc["split_index"],
        manifest.encoding.name,
        manifest.adapters,
    )
    report["server"] = args.server
    report["protocol"] = args.protocol
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_report(report, args.compare)
    return 0


def log(line: str) -> None:
    print(f"sei run: {line}", file=sys.stderr, flush=True)


_PREDICTED_PART = {
    "head": "head_s",
    "encode": "encode_s",
    "network_server": "network_p50_s",
    "decode": "decode_s",
    "tail": "tail_s",
}


def _print_report(report: dict[str, Any], compare: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from sei_tui.core.units import display_fraction, display_seconds

    predicted = report["predicted"]
    console = Console()
    what = {"early_exit": "early exit", "bottleneck": "bottleneck"}.get(report["strategy"], "")
    if report["strategy"] == "early_exit":
        what += f" τ = {report['adapters']['threshold']:g} ({report['early_exit_frames']} frames "
        what += "answered on the device) "
    elif report["strategy"] == "bottleneck":
        what += f" c = {report['adapters']['width']} "
    console.print(
        f"[bold]{what}split {report['split_index']} {report['encoding']}[/] · "
        f"{report['frames']} frames over {report['images']} images · "
        f"{report['payload_bytes']:.0f} B per frame · accuracy = {report['accuracy_kind']}"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("", "measured (loopback)", "predicted (sei analyze)"):
        table.add_column(column, justify="right" if column else "left")

    share = display_fraction

    def seconds(value: float | None) -> str:
        return "-" if value is None else display_seconds(value)

    for key in ("p50_latency", "p95_latency", "p99_latency"):
        table.add_row(key, seconds(report[key]), seconds(predicted[key]))
    table.add_row("accuracy", share(report["accuracy"]), share(predicted["accuracy"]))
    table.add_row("agreement", share(report["agreement"]), share(predicted["agreement"]))
    if report["exit_rate"] is not None:
        table.add_row("exit rate", share(report["exit_rate"]), share(predicted["exit_rate"]))
    if compare:
        for part, column in _PREDICTED_PART.items():
            table.add_row(
                f"{part} (median)", seconds(report["parts"][part]), seconds(predicted[column])
            )
    console.print(table)


class _progress:  # noqa: N801 - used as a context manager factory
    """A rich progress bar on stderr when it is a terminal; a no-op otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.bar: Any = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("frames", total=self.total)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
