"""`sei profile`: measure per-node latency on this machine (batch 1, median of repeats)."""

from __future__ import annotations

import argparse
import json
import sys

from sei_tui.cli.inspect import add_model_arguments, integer_option, terminal_progress

# Slowest nodes listed for humans (the file / --json has all of them).
SLOWEST_ROWS = 15


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--out", metavar="FILE.json", help="write the profile here (for scenarios)")
    p.add_argument("--repeats", metavar="N", default="10", help="timed passes (median; default 10)")
    p.add_argument("--warmup", metavar="N", default="3", help="untimed passes first (default 3)")
    p.add_argument(
        "--threads", metavar="N", help="torch intra-op threads (default: torch's own choice)"
    )
    p.add_argument("--json", action="store_true", help="print the profile JSON to stdout")


def run(args: argparse.Namespace) -> int:
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.model.loading import load_model, parse_input_shape
    from sei_tui.core.model.profiling import (
        check_profile_destination,
        profile_json,
        profile_model,
        save_profile,
    )

    if args.out:
        check_profile_destination(args.out)
    repeats = integer_option("--repeats", args.repeats, 1)
    warmup = integer_option("--warmup", args.warmup, 0)
    if args.threads is not None:
        import torch

        torch.set_num_threads(integer_option("--threads", args.threads, 1))
    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    loaded = load_model(args.model, weights=args.weights, input_shape=shape)
    graph = analyze_model(loaded)

    profile = profile_model(
        graph, warmup=warmup, repeats=repeats, progress=terminal_progress("profiling")
    )
    if args.out:
        save_profile(profile, args.out)
    if args.json:
        json.dump(profile_json(profile), sys.stdout)
        sys.stdout.write("\n")
        return 0
    _print_summary(graph, profile, args.out)
    return 0


def _print_summary(graph, profile, out: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from sei_tui.core.units import format_seconds

    console = Console()
    console.print(
        f"[bold]{graph.name}[/] · input {'x'.join(map(str, graph.input_shape))} · batch 1 · "
        f"torch {profile.torch_version} · {profile.threads} threads · "
        f"{profile.machine['processor']}"
    )
    console.print(
        f"whole model {format_seconds(profile.total_seconds)} (sum of per-node medians, "
        f"{profile.repeats} repeats after {profile.warmup} warm-up) · "
        f"fingerprint {profile.fingerprint}"
    )
    table = Table(
        title=f"Slowest {SLOWEST_ROWS} nodes",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for i, column in enumerate(("node", "op", "time", "share")):
        table.add_column(column, justify="left" if i < 2 else "right", no_wrap=True)
    ops = {n.name: n.target.rpartition(".")[2] for n in graph.nodes}
    total = profile.total_seconds or 1.0
    slowest = sorted(profile.node_seconds.items(), key=lambda kv: -kv[1])[:SLOWEST_ROWS]
    for name, seconds in slowest:
        table.add_row(name, ops.get(name, ""), format_seconds(seconds), f"{seconds / total:.1%}")
    console.print(table)
    if out:
        console.print(f"profile written to {out}")
