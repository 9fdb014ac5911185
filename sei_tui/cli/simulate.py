"""`sei simulate`: send a scenario's frames through libsim and report per-frame latency."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from sei_tui.core.errors import SeiInputError

# Per-frame rows shown for humans before the middle is elided (all of them are in --json).
FRAME_ROWS_HEAD = 6
FRAME_ROWS_TAIL = 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="scenario TOML file, or a built-in name (demo, lan, lte, four-cameras, three-tier)",
    )
    p.add_argument(
        "--payload-bytes",
        metavar="N",
        help="bytes per frame for every flow (units allowed: 150528, 1.5MB, 588KiB)",
    )
    p.add_argument(
        "--payload-sizes",
        metavar="N,N,...",
        help="one size per frame for every flow (comma list, units allowed: 1000,2.5kB); "
        "the list's length is the number of frames",
    )
    p.add_argument("--frames", metavar="K", help="frames per flow")
    p.add_argument("--fps", metavar="F", help="frames per second per flow (0 = back to back)")
    p.add_argument("--protocol", metavar="tcp|udp", help="transport protocol")
    p.add_argument("--seed", metavar="S", help="random seed (same seed, same result)")
    p.add_argument("--json", action="store_true", help="print JSON (stable keys) instead of tables")
    add_trace_argument(p)


def add_trace_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace",
        action="append",
        metavar="LINK=FILE[:FORMAT]",
        help="make LINK follow a bandwidth trace instead of its bitrate: a file (format "
        "mahimahi|csv|pensieve, default csv for .csv) or a built-in trace name; repeatable",
    )


def with_trace_flags(scenario: Any, texts: list[str] | None) -> Any:
    """The scenario with each `--trace LINK=FILE[:FORMAT]` attached (a FILE relative to the
    working folder, else a built-in trace name)."""
    import os
    from pathlib import Path

    from sei_tui.core.network.traces import TRACE_FORMATS, builtin_trace_names

    for text in texts or []:
        link, equals, target = text.partition("=")
        if not equals or not link.strip() or not target.strip():
            raise SeiInputError(
                f"--trace = {text!r}: expected LINK=FILE[:FORMAT], e.g. "
                "uplink=lte-walking-synthetic or uplink=trace.log:mahimahi"
            )
        file, fmt = target, None
        head, colon, tail = target.rpartition(":")
        if colon and tail in TRACE_FORMATS:
            file, fmt = head, tail
        names = [candidate.name for candidate in scenario.links]
        if link not in names:
            raise SeiInputError(
                f"--trace = {text!r}: the scenario {scenario.name!r} has no link {link!r} "
                f"(links: {', '.join(names)})"
            )
        if Path(file).exists():
            file = os.path.abspath(file)
        elif file not in builtin_trace_names():
            raise SeiInputError(
                f"--trace = {text!r}: {file}: no such file, and not a built-in trace "
                f"(built-in: {', '.join(builtin_trace_names())})"
            )
        table: dict[str, Any] = {"file": file}
        if fmt is not None:
            table["format"] = fmt
        try:
            scenario = scenario.with_link(link, trace=table)
        except SeiInputError as exc:
            raise SeiInputError(f"--trace = {text!r}: {exc}") from None
    return scenario


def _integer(flag: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.replace("_", ""), 10)
    except ValueError:
        raise SeiInputError(f"{flag} = {text!r}: expected an integer") from None


def _number(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SeiInputError(f"{flag} = {text!r}: expected a number") from None
    if not math.isfinite(value):
        raise SeiInputError(f"{flag} = {text!r}: must be a finite number")
    return value


def _bare_integer(text: str) -> int | float | str:
    """A flag's bare number is a count (``150528``, ``1.5e6``); anything else carries a unit."""
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return float(text)  # parse_bytes refuses fractions and non-finite values
    except ValueError:
        return text


# The core's name of each override -> the flag that sets it: errors name the flag.
OVERRIDE_FLAGS = {
    "payload_bytes": "--payload-bytes",
    "frames": "--frames",
    "fps": "--fps",
    "protocol": "--protocol",
    "seed": "--seed",
}


def _payload_sizes(text: str) -> list[int]:
    """`--payload-sizes 1000,2.5kB,3000`: one size per frame."""
    from sei_tui.core.units import parse_bytes

    items = text.split(",")
    if not text.strip() or any(not item.strip() for item in items):
        raise SeiInputError(
            f"--payload-sizes = {text!r}: expected a comma list of sizes, e.g. 1000,2500,1.5kB"
        )
    return [
        parse_bytes(_bare_integer(item.strip()), f"--payload-sizes item {index}")
        for index, item in enumerate(items, 1)
    ]


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from sei_tui.core.units import parse_bytes

    sizes = getattr(args, "payload_sizes", None)
    if sizes is not None:
        if args.payload_bytes is not None:
            raise SeiInputError("--payload-sizes: give either --payload-bytes or --payload-sizes")
        return {
            "payload_bytes": _payload_sizes(sizes),
            "frames": _integer("--frames", args.frames),
            "fps": _number("--fps", args.fps),
            "protocol": args.protocol,
            "seed": _integer("--seed", args.seed),
        }
    return {
        "payload_bytes": None
        if args.payload_bytes is None
        else parse_bytes(_bare_integer(args.payload_bytes), "--payload-bytes"),
        "frames": _integer("--frames", args.frames),
        "fps": _number("--fps", args.fps),
        "protocol": args.protocol,
        "seed": _integer("--seed", args.seed),
    }


def _as_typed(text: str) -> str:
    """A flag's value as the user typed it: numbers bare, words quoted."""
    try:
        float(text)
    except ValueError:
        return repr(text)
    return text


def network_for(scenario: Any, args: argparse.Namespace) -> Any:
    """The scenario's NetworkSpec with the flags' overrides; a bad value names its flag (the
    scenario file is not where it came from)."""
    try:
        return scenario.to_network(**_overrides(args))
    except SeiInputError as exc:
        flag = OVERRIDE_FLAGS.get(exc.key or "")
        if flag is None or exc.problem is None:
            raise
        attribute = exc.key
        if exc.key == "payload_bytes" and getattr(args, "payload_sizes", None) is not None:
            flag, attribute = "--payload-sizes", "payload_sizes"
        text = getattr(args, attribute)
        if text is None:  # the setting is missing from the file and was not given
            raise SeiInputError(f"{exc} (add it to the file or pass {flag})") from None
        raise exc.renamed(flag, _as_typed(text)) from None


def simulation_json(scenario_name: str, net: Any, result: Any) -> dict[str, Any]:
    """The `sei simulate --json` document (keys per docs/cli.md, plus extras:
    per-frame `lost_ranges`, per-flow `payload_bytes` (a list with one size per frame),
    `fps` and `collisions`, and the run's `link_packets`)."""
    flows = []
    for spec, flow in zip(net.flows, result.flows, strict=True):
        summary = flow.summary
        flows.append(
            {
                "from": flow.src,
                "to": flow.dst,
                "payload_bytes": spec.payload_bytes
                if isinstance(spec.payload_bytes, int)
                else list(spec.payload_bytes),
                "fps": spec.fps,
                "frames": [
                    {
                        "index": frame.index,
                        "sent_s": frame.sent_s,
                        "delivered_s": frame.delivered_s,
                        "latency_s": frame.latency_s,
                        "complete": frame.complete,
                        "lost_bytes": frame.lost_bytes,
                        "lost_ranges": [[start, end] for start, end in frame.lost_ranges],
                    }
                    for frame in flow.frames
                ],
                "summary": {
                    "frames": summary.frames,
                    "complete": summary.complete,
                    "mean_s": summary.mean_s,
                    "p50_s": summary.p50_s,
                    "p95_s": summary.p95_s,
                    "p99_s": summary.p99_s,
                    "max_s": summary.max_s,
                    "packets_sent": summary.packets_sent,
                    "packets_lost": summary.packets_lost,
                    "retransmissions": summary.retransmissions,
                    "goodput_bps": summary.goodput_bps,
                    "collisions": summary.collisions,
                },
            }
        )
    document = {
        "scenario": scenario_name,
        "protocol": net.protocol,
        "seed": net.seed,
        "flows": flows,
        "events": result.events,
        "wall_s": result.wall_s,
        "link_packets": result.link_packets,
    }
    traced = [link for link in net.links if link.trace is not None]
    if traced:  # only then: the document of a fixed-rate scenario is unchanged
        document["traces"] = [
            {
                "link": link.name,
                "loop": link.trace.loop,
                "start_s": link.trace.start_s,
                "mean_bps": link.trace.mean_bps(),
            }
            for link in traced
        ]
    return document


def _print_tables(scenario: Any, net: Any, result: Any) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from sei_tui.core.units import format_bytes, format_rate, format_seconds

    def table(title: str, columns: tuple[str, ...]) -> Table:
        out = Table(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        for index, column in enumerate(columns):
            out.add_column(column, justify="left" if index == 0 else "right", no_wrap=True)
        return out

    console = Console()
    console.print(f"[bold]{scenario.name}[/]")
    console.print(
        f"{net.protocol.upper()} · seed {net.seed} · {result.events} events · "
        f"{result.link_packets} link packets · wall {format_seconds(result.wall_s)}"
    )
    for link in scenario.links:
        if link.trace is not None:
            trace = link.trace
            console.print(
                f"link {link.name}: trace {trace.name} ({trace.format}"
                f"{', loop' if trace.loop else ''}"
                f"{f', from {format_seconds(trace.start_s)}' if trace.start_s else ''}), "
                f"mean {format_rate(trace.mean_bps())}"
            )
    latency = table("Latency per flow", ("flow", "ok", "mean", "p50", "p95", "p99", "max"))
    packets = table(
        "Packets per flow", ("flow", "payload", "sent", "lost", "retx", "collisions", "goodput")
    )
    for spec, flow in zip(net.flows, result.flows, strict=True):
        s = flow.summary
        label = f"{flow.src} → {flow.dst}"
        latency.add_row(
            label,
            f"{s.complete}/{s.frames}",
            *(format_seconds(v) for v in (s.mean_s, s.p50_s, s.p95_s, s.p99_s, s.max_s)),
        )
        packets.add_row(
            label,
            _payload_text(spec.payload_bytes, format_bytes),
            str(s.packets_sent),
            str(s.packets_lost),
            str(s.retransmissions),
            str(s.collisions),
            format_rate(s.goodput_bps),
        )
    console.print(latency)
    console.print(packets)
    for flow in result.flows:
        frames_table = table(
            f"Frames {flow.src} → {flow.dst}",
            ("#", "sent", "delivered", "latency", "complete", "lost bytes"),
        )
        frames = list(flow.frames)
        shown: list[Any] = frames
        if len(frames) > FRAME_ROWS_HEAD + FRAME_ROWS_TAIL + 1:
            shown = frames[:FRAME_ROWS_HEAD] + [None] + frames[-FRAME_ROWS_TAIL:]
        for frame in shown:
            if frame is None:
                hidden = len(frames) - FRAME_ROWS_HEAD - FRAME_ROWS_TAIL
                frames_table.add_row("…", f"{hidden} more", "", "", "", "")
                continue
            frames_table.add_row(
                str(frame.index),
                format_seconds(frame.sent_s),
                format_seconds(frame.delivered_s),
                format_seconds(frame.latency_s),
                "yes" if frame.complete else "[bold red]no[/]",
                str(frame.lost_bytes),
            )
        console.print(frames_table)


def _payload_text(payload: int | tuple[int, ...], format_bytes: Any) -> str:
    """One size, or the range of a flow's per-frame sizes (`1 kB–5 kB`)."""
    if isinstance(payload, int):
        return format_bytes(payload)
    low, high = min(payload), max(payload)
    return format_bytes(low) if low == high else f"{format_bytes(low)}–{format_bytes(high)}"


def run(args: argparse.Namespace) -> int:
    import libsim
    from sei_tui.core.network.scenario import resolve_scenario

    scenario = with_trace_flags(resolve_scenario(args.scenario), args.trace)
    net = network_for(scenario, args)
    try:
        result = libsim.simulate(net)
    except libsim.LibsimInputError as exc:
        raise SeiInputError(f"{scenario.label}: the simulator refused the network: {exc}") from exc
    if args.json:
        json.dump(simulation_json(scenario.name, net, result), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _print_tables(scenario, net, result)
    return 0
