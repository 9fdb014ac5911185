"""Policies over a stream: wall time of the static, adaptive and oracle policies.

60 s of a 10 fps stream (600 frames) from the camera of scenarios/lte.toml, its radio link
following the built-in lte-driving-synthetic trace, every split point of the demo model
(`--all-splits`) with the default encodings as the candidates. The model, data and encoded
frames are prepared first (not timed); then the rows (one simulation per distinct frame
sizes) and the policies (those static runs again, plus the adaptive run; the oracle is
computed from the static runs) are timed, with the packets the simulations put on links.
Target: the policies in < 5 s on 2 cores.
Run: nice .venv/bin/python benchmarks/bench_policies.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import sei_tui.core.evaluation.policies as policies_module
from sei_tui.cli.simulate import with_trace_flags
from sei_tui.core.evaluation.engine import Evaluation
from sei_tui.core.evaluation.prepare import load_scenario
from sei_tui.core.evaluation.ranking import rank
from sei_tui.core.evaluation.simulation import simulate as sei_simulate

ROOT = Path(__file__).resolve().parent.parent
FRAMES, FPS = 600, 10


class PacketCount:
    """Wraps the one simulate() the policies call, adding up the packets of its runs."""

    def __init__(self) -> None:
        self.packets = 0
        self.runs = 0

    def __call__(self, nets, processes, cancel, name):
        for index, sim in sei_simulate(nets, processes, cancel, name):
            self.packets += sim.link_packets
            self.runs += 1
            yield index, sim


def main() -> None:
    text = (ROOT / "scenarios" / "lte.toml").read_text(encoding="utf-8")
    text = text.replace("frames = 20", f"frames = {FRAMES}").replace("fps = 5", f"fps = {FPS}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lte-stream.toml"
        path.write_text(text, encoding="utf-8")
        scenario = with_trace_flags(load_scenario(str(path)), ["lte-radio=lte-driving-synthetic"])
    evaluation = Evaluation(model="demo", scenario=scenario, all_splits=True, max_images=16)
    start = time.perf_counter()
    evaluation.prepare()
    print(
        f"prepared {len(evaluation.deployments)} deployments in {time.perf_counter() - start:.1f} s"
    )
    start = time.perf_counter()
    rows = rank(list(evaluation.rows(deadline=0.2)), None).rows
    print(f"rows: {len(rows)} rows in {time.perf_counter() - start:.2f} s")
    counter = PacketCount()
    policies_module.simulate = counter
    start = time.perf_counter()
    results = evaluation.policies(rows, deadline=0.2)
    wall = time.perf_counter() - start
    print(
        f"policies: {len(results)} entries ({len(rows)} static, adaptive, oracle), "
        f"{counter.runs} simulations of {FRAMES} frames at {FPS} fps, "
        f"{counter.packets} link packets: wall {wall:.2f} s, "
        f"{counter.packets / wall / 1e6:.2f}e6 simulated packets/s (target < 5 s)"
    )
    by_name = {p.policy: p for p in results}
    best = min((p for p in results if p.policy == "static"), key=lambda p: p.p95_latency)
    for name, p in (
        ("best static", best),
        ("adaptive", by_name["adaptive"]),
        ("oracle", by_name["oracle"]),
    ):
        print(
            f"  {name}: p95 {p.p95_latency * 1e3:.1f} ms, miss {p.deadline_miss:.3f}, "
            f"switches {p.switches}, regret {p.regret * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
