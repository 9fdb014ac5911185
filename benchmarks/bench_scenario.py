"""Scenario layer speed: parse, dump, edit, to_network, and `sei simulate` end to end.

Prints figures; no assertions. The TUI's topology editor re-validates the whole scenario
on every edit, so an edit must stay far below a frame (~16 ms) to feel instant.

Run: .venv/bin/python benchmarks/bench_scenario.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _per_call(function, repeat: int) -> tuple[float, float]:
    """(median, min) seconds per call over `repeat` batches of 200 calls."""
    batches = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(200):
            function()
        batches.append((time.perf_counter() - start) / 200)
    return statistics.median(batches), min(batches)


def _big_scenario(stations: int):
    """One AP, `stations` cameras on one wireless medium, each with a flow to the server."""
    from sei_tui.core.network.scenario import builtin_scenario

    scenario = builtin_scenario("demo")
    for i in range(stations):
        scenario = scenario.add_node(f"cam{i}", "edge", compute="pi4")
    scenario = scenario.with_link(
        "wifi", nodes=["camera", "ap", *(f"cam{i}" for i in range(stations))]
    )
    for i in range(stations):
        scenario = scenario.add_flow(f"cam{i}", "server", frames=10, fps=5, payload_bytes=150528)
    return scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat

    from sei_tui.core.network.scenario import builtin_scenario, dump_scenario, parse_scenario

    for label, scenario in (
        ("demo (3 nodes)", builtin_scenario("demo")),
        ("four-cameras (6 nodes)", builtin_scenario("four-cameras")),
        ("50 cameras (53 nodes, 51 flows)", _big_scenario(50)),
    ):
        text = dump_scenario(scenario)
        figures = {
            "parse+validate": _per_call(lambda t=text: parse_scenario(t), repeat),
            "dump": _per_call(lambda s=scenario: dump_scenario(s), repeat),
            "with_link edit": _per_call(
                lambda s=scenario: s.with_link(0, bitrate="11Mbps"), repeat
            ),
            "to_network": _per_call(lambda s=scenario: s.to_network(frames=5), repeat),
        }
        shown = ", ".join(
            f"{name} {median * 1e3:.3f} ms (min {low * 1e3:.3f})"
            for name, (median, low) in figures.items()
        )
        print(f"{label}: {shown}")

    command = [sys.executable, "-m", "sei_tui", "simulate", "demo", "--json"]
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if out.returncode != 0:
            raise SystemExit(f"sei simulate failed ({out.returncode}): {out.stderr.strip()}")
    print(
        f"`sei simulate demo --json` in a fresh process: median {statistics.median(walls):.3f} s,"
        f" min {min(walls):.3f} s over {repeat} runs"
    )


if __name__ == "__main__":
    main()
