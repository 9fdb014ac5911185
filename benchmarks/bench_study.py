"""Wall time of a `sei study` grid on the demo: 4 encodings, 25 bitrates x 10 loss rates
(250 grid points x 4 encodings = 1,000 encoding x network points; every point simulates
every deployment: local, remote raw/jpeg90 and each candidate split in each encoding).

Preparation (model, saliency, encoded payloads: torch) runs once and is timed apart; the
grid then runs on a local pool of 1 and of 2 worker processes (fresh results folders).
Prints wall time, points per second, the speed-up, and where the time goes, in worker
seconds: the simulator (network building + libsim), torch (decoding lost frames and the
tail, once per deployment, image and lost byte ranges per worker) and row assembly; the
rest of the wall is the pool's start and the ranking and storing here. Measure on idle
cores (`uptime`): other work on them shows as a smaller speed-up.
Targets: the grid in < 60 s on 2 cores after preparation; 2 workers >= 1.7x one.

Run: nice .venv/bin/python benchmarks/bench_study.py [--bitrates 25] [--losses 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

STUDY = """
models = ["demo"]
scenarios = ["demo"]
encodings = ["fp32", "fp16", "int8", "int8+zlib"]
qos = "p95_latency<=0.05"
protocol = "udp"
[sweep]
"wifi.bitrate" = {{ start = "1Mbps", stop = "100Mbps", count = {bitrates} }}
loss = {{ start = 0, stop = 0.05, count = {losses} }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bitrates", type=int, default=25)
    parser.add_argument("--losses", type=int, default=10)
    parser.add_argument("--workers", default="1,2", help="pool sizes to time, comma list")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    from sei_tui.core.study.executors import LocalPool
    from sei_tui.core.study.runner import run_study
    from sei_tui.core.study.spec import load_study

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(STUDY.format(bitrates=args.bitrates, losses=args.losses))
        study = load_study(path)
        started = time.perf_counter()
        # a one-point study of the same model prepares and caches everything once
        warm = load_study(path)
        warm.axes = tuple(type(a)(a.parameter, a.link, a.values[:1]) for a in warm.axes)
        run_study(warm, Path(tmp) / "warm", LocalPool(1))
        print(
            f"first preparation (model, saliency, codec times cached): "
            f"{time.perf_counter() - started:.1f} s"
        )
        walls = {}
        for workers in (int(w) for w in args.workers.split(",")):
            outcome = run_study(study, Path(tmp) / f"w{workers}", LocalPool(workers))
            walls[workers] = outcome.grid_s
            grid = outcome.computed
            busy = outcome.simulate_s + outcome.accuracy_s + outcome.rows_s
            print(
                f"{workers} worker(s): {grid} grid points ({grid * 4} encoding x network "
                f"points, {outcome.simulations} simulations): preparation "
                f"{outcome.prepare_s:.1f} s, grid {outcome.grid_s:.1f} s = "
                f"{grid / outcome.grid_s:.1f} points/s ({grid * 4 / outcome.grid_s:.1f} "
                f"encoding x network points/s); worker seconds: simulator "
                f"{outcome.simulate_s:.1f}, torch {outcome.accuracy_s:.1f} "
                f"({outcome.accuracy_runs} images through a tail), rows {outcome.rows_s:.1f}; "
                f"ranking and storing here {outcome.store_s:.1f} s; "
                f"torch {outcome.accuracy_s / busy:.0%} vs simulator "
                f"{outcome.simulate_s / busy:.0%} of the workers' busy time"
            )
            for first, last, seconds in sorted(outcome.workers.values()):
                print(
                    f"  a worker: first task at {first - outcome.grid_started_at:.1f} s "
                    f"(pool start), last done at {last - outcome.grid_started_at:.1f} s, "
                    f"busy {seconds:.1f} s"
                )
        if 1 in walls and 2 in walls:
            print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
            print(f"speed-up 2 vs 1 worker: {walls[1] / walls[2]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
