"""How long the TUI takes to get the demo from nothing to a full results table. Prints figures.

The real app (headless, 160x48) on the real core services (`CoreServices`), as `sei tui`
starts it: load the demo model and analyse it, cumulative saliency, then the evaluation
(preparation: encoding every split and measuring lossless accuracy; then the simulations,
rows streaming into the table). Printed: when each stage was done (seconds after the app
started), the time inside each service call, and the CPU time of the process and its
simulation workers. The demo model must be trained and cached first (it is, after one
`sei analyze`); the saliency of the demo is cached on disk after its first computation, as
for a user's second start.

Run: .venv/bin/python benchmarks/bench_tui_pipeline.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time

from sei_tui.tui.app import SeiApp
from sei_tui.tui.services import CoreServices


class TimedServices(CoreServices):
    """The real services, timing each stage from the inside."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, float] = {}

    def open_model(self, spec, weights, progress, cancel):
        start = time.perf_counter()
        try:
            return super().open_model(spec, weights, progress, cancel)
        finally:
            self.spans["open_model"] = time.perf_counter() - start

    def saliency(self, graph, data_dir, progress, cancel):
        start = time.perf_counter()
        try:
            return super().saliency(graph, data_dir, progress, cancel)
        finally:
            self.spans["saliency"] = time.perf_counter() - start

    def evaluate(self, spec, weights, scenario, data_dir, qos, progress, cancel):
        start = time.perf_counter()
        first = True
        for row in super().evaluate(spec, weights, scenario, data_dir, qos, progress, cancel):
            if first:
                self.spans["evaluate: until the first row (preparation)"] = (
                    time.perf_counter() - start
                )
                first = False
            yield row
        self.spans["evaluate: all rows"] = time.perf_counter() - start


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def one_run(timeout_s: float = 600.0) -> tuple[dict[str, float], dict[str, float], float]:
    services = TimedServices()
    app = SeiApp(services=services)
    marks: dict[str, float] = {}
    cpu0 = _cpu_s()
    start = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        seen_running = False
        while time.perf_counter() - start < timeout_s:
            now = time.perf_counter() - start
            if app.graph is not None:
                marks.setdefault("model tree shown", now)
            if app.saliency_done:
                marks.setdefault("saliency shown", now)
            rows = len(app.query_one("#results-table").rows)
            if rows:
                marks.setdefault("first row in the table", now)
            seen_running = seen_running or app.sweep_running
            if seen_running and not app.sweep_running and rows:
                marks["evaluation finished, table full"] = now
                await pilot.pause(0.5)  # let the last messages land before the app closes
                break
            await pilot.pause(0.05)
        else:
            raise SystemExit(f"the demo evaluation did not finish within {timeout_s:.0f} s")
        rows = len(app.query_one("#results-table").rows)
    marks[f"({rows} rows)"] = marks["evaluation finished, table full"]
    return marks, services.spans, _cpu_s() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from sei_tui.core.model.demo import demo_model

    demo_model()  # trains and caches on the very first run; not part of the figure
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    totals = []
    for i in range(args.repeat):
        # A fresh process state per run would be fairer; the core's per-process caches are
        # part of what a user's session has after its first analysis, so report run 1 too.
        marks, spans, cpu = asyncio.run(one_run())
        totals.append(marks["evaluation finished, table full"])
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in marks.items()))
        print("  inside the services: " + ", ".join(f"{k} {v:.1f} s" for k, v in spans.items()))
        print(f"  CPU (process + simulation workers): {cpu:.1f} s")
    print(
        f"TUI demo, app start -> full results table: median {statistics.median(totals):.1f} s "
        f"over {args.repeat} run(s); load average now {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
