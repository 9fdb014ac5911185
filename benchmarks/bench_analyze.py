"""Wall time of `sei analyze` and of a whole-model network sweep. Prints figures.

1. `sei analyze` (no arguments: demo model, demo scenario, synthetic data), as a user runs
   it, in a fresh process, after the demo model has been trained and cached. Target < 10 s.
2. The network sweep over every split point of resnet50 (fp32 payload of each cut) on the
   demo scenario, 30 frames each, through libsim.simulate_many, one simulation per distinct
   payload size as `sei analyze` runs it. Target < 2 s.

Run: .venv/bin/python benchmarks/bench_analyze.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def bench_cli(repeat: int) -> None:
    from sei_tui.core.model.demo import demo_model

    start = time.perf_counter()
    demo_model()  # trains and caches on the first run; not part of the figure
    print(f"demo model ready (cached) in {time.perf_counter() - start:.2f} s")
    command = [sys.executable, "-m", "sei_tui", "analyze", "--format", "json"]
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"sei analyze failed with exit code {out.returncode}")
    import json

    rows = len(json.loads(out.stdout)["rows"])
    print(
        f"sei analyze (demo, {rows} deployments): median {statistics.median(walls):.2f} s, "
        f"min {min(walls):.2f} s over {repeat} runs (target < 10 s); "
        f"CPU {statistics.median(cpus):.1f} s; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )


def bench_network_sweep(repeat: int) -> None:
    import torchvision

    import libsim
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.network.scenario import builtin_scenario

    start = time.perf_counter()
    graph = analyze_model(torchvision.models.resnet50(weights=None).eval(), (3, 224, 224))
    print(f"resnet50 analysed in {time.perf_counter() - start:.2f} s (not timed below)")
    scenario = builtin_scenario("demo")
    # As `sei analyze --all-splits` does: one simulation per distinct payload size (the
    # same network and seed give the same result bit for bit).
    sizes = sorted({sp.payload_bytes for sp in graph.split_points})
    nets = [scenario.to_network(payload_bytes=size, frames=30) for size in sizes]
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        results = dict(libsim.simulate_many(nets))
        walls.append(time.perf_counter() - start)
    assert len(results) == len(nets)
    packets = sum(r.link_packets for r in results.values())
    print(
        f"network sweep: resnet50, {len(graph.split_points)} split points = {len(nets)} "
        f"distinct fp32 payloads x 30 frames ({min(sizes)}..{max(sizes)} B, "
        f"{packets} link packets): "
        f"median {statistics.median(walls):.3f} s, min {min(walls):.3f} s "
        f"over {repeat} runs (target < 2 s); load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_cli(args.repeat)
    bench_network_sweep(args.repeat)


if __name__ == "__main__":
    main()
