"""`sei inspect`: a model's layers and every valid split point (optionally verified)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sei_tui.core.errors import SeiInputError
from sei_tui.core.units import display_bytes, display_count


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """MODEL, --weights and --input-shape: how every model command (inspect, profile,
    saliency) names its model."""
    p.add_argument(
        "model", metavar="MODEL", help="torchvision model name, 'demo', or path/to/file.py:factory"
    )
    p.add_argument("--weights", metavar="W", help="torchvision weights name or a state-dict file")
    p.add_argument(
        "--input-shape", metavar="C,H,W", help="input shape (default: from the weights/model)"
    )


def integer_option(flag: str, text: str, minimum: int = 1) -> int:
    """An integer flag value (1_000 allowed) of at least `minimum`, or one clear error."""
    try:
        value = int(str(text).replace("_", ""), 10)
    except ValueError:
        raise SeiInputError(f"{flag} = {text!r}: expected an integer") from None
    if value < minimum:
        raise SeiInputError(f"{flag} = {text}: must be at least {minimum}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument(
        "--verify",
        action="store_true",
        help="run head then tail for every split vs the whole model (fp32, batch 1)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (stable keys) instead of tables")


def run(args: argparse.Namespace) -> int:
    from sei_tui.core.model.graph import analyze_model, verify_splits
    from sei_tui.core.model.loading import load_model, parse_input_shape

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    loaded = load_model(args.model, weights=args.weights, input_shape=shape)
    graph = analyze_model(loaded)
    verifications = None
    if args.verify:
        verifications = verify_splits(graph, progress=terminal_progress("verifying"))
    if args.json:
        json.dump(inspect_json(graph, loaded, verifications), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_tables(graph, loaded, verifications)
    if verifications is not None and not all(v.verified for v in verifications):
        failed = [graph.split_points[v.index].after for v in verifications if not v.verified]
        print(
            f"sei inspect: {len(failed)} split point(s) failed verification: "
            f"{', '.join(failed[:5])}",
            file=sys.stderr,
        )
        return 1
    return 0


def inspect_json(graph: Any, loaded: Any = None, verifications: Any = None) -> dict[str, Any]:
    """The `sei inspect --json` document (keys documented in docs/cli.md, plus extras:
    node target/dtype/position/group, split position/tail_params/peak memory, weights)."""
    checks = {v.index: v for v in verifications or []}
    return {
        "model": graph.name,
        "input_shape": list(graph.input_shape),
        "weights": getattr(loaded, "weights", None),
        "weights_digest": getattr(loaded, "weights_digest", None),
        "fingerprint": graph.fingerprint,
        "total_flops": graph.total_flops,
        "total_params": graph.total_params,
        "nodes": [
            {
                "name": n.name,
                "op": n.op,
                "target": n.target,
                "module_path": n.module_path,
                "shape": None if n.shape is None else list(n.shape),
                "dtype": n.dtype,
                "bytes": n.bytes,
                "flops": n.flops,
                "params": n.params,
                "position": n.position,
                "group": n.group,
            }
            for n in graph.nodes
        ],
        "split_points": [
            {
                "index": s.index,
                "after": s.after,
                "position": s.position,
                "payload_bytes": s.payload_bytes,
                "tensors": [
                    {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.bytes}
                    for t in s.tensors
                ],
                "single_tensor": s.single_tensor,
                "head_flops": s.head_flops,
                "tail_flops": s.tail_flops,
                "head_params": s.head_params,
                "tail_params": s.tail_params,
                "head_peak_activation_bytes": s.head_peak_activation_bytes,
                "verified": checks[s.index].verified if s.index in checks else None,
                "max_abs_diff": checks[s.index].max_abs_diff if s.index in checks else None,
            }
            for s in graph.split_points
        ],
    }


def _print_tables(graph: Any, loaded: Any, verifications: Any) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    checks = {v.index: v for v in verifications or []}
    console = Console()
    weights = loaded.weights or (
        "trained demo weights" if graph.name == "demo" else "random init (seeded)"
    )
    console.print(f"[bold]{graph.name}[/] · input {'x'.join(map(str, graph.input_shape))}")
    console.print(
        f"{display_count(graph.total_flops)} FLOPs · {display_count(graph.total_params)} params · "
        f"{len(graph.nodes)} nodes · {len(graph.split_points)} split points "
        f"({sum(s.single_tensor for s in graph.split_points)} single-tensor) · weights {weights}"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    console.print(
        "[dim]n = tensors crossing the cut · head/tail = FLOPs on each side · "
        "params/peak = head parameters and peak activation memory[/]"
    )
    columns = ["#", "after", "n", "payload", "head", "tail", "params", "peak"]
    if verifications is not None:
        columns.append("max |diff|")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 1 else "right", no_wrap=i != 1)
    for s in graph.split_points:
        row = [
            str(s.index),
            s.after,
            str(len(s.tensors)),
            display_bytes(s.payload_bytes),
            display_count(s.head_flops),
            display_count(s.tail_flops),
            display_count(s.head_params),
            display_bytes(s.head_peak_activation_bytes),
        ]
        if verifications is not None:
            check = checks.get(s.index)
            if check is None:
                row.append("")
            elif check.verified:
                row.append(f"{check.max_abs_diff:.1e}")
            else:
                row.append(f"[bold red]{check.max_abs_diff:.1e} FAIL[/]")
        table.add_row(*row)
    console.print(table)


def terminal_progress(what: str):
    """A progress callback that redraws one stderr line on a terminal (None otherwise)."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, label: str) -> None:
        end = "\n" if fraction >= 1.0 else ""
        sys.stderr.write(f"\r\033[K{what} {fraction:4.0%} {label}{end}")
        sys.stderr.flush()

    return show
