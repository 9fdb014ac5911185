"""libsim over trace-driven links: simulated link packets per second of wall time.

The same transfers on a fixed-rate link and on trace links, to show what a trace costs:
- a 20 MB TCP transfer over one full-duplex link (5 ms): fixed 12 Mbit/s; the built-in
  lte-driving-synthetic csv trace (600 rows, looping); a Mahimahi trace of one opportunity
  per ms (12 Mbit/s, looping);
- four cameras on one 802.11g medium (as scenarios/four-cameras.toml, UDP) at a fixed
  54 Mbit/s data rate, and following wifi-crowded-synthetic.
Run: .venv/bin/python benchmarks/bench_traces.py
"""

from __future__ import annotations

import statistics
from dataclasses import replace

from libsim import FlowSpec, LinkSpec, NetworkSpec, OpportunityTrace, simulate
from sei_tui.core.network.traces import _builtin_path, read_trace


def builtin(name: str, loop: bool = True):
    trace = read_trace(_builtin_path(name), "csv")
    return replace(trace, loop=loop)


def transfer(trace=None) -> NetworkSpec:
    return NetworkSpec(
        nodes=("sender", "receiver"),
        links=(
            LinkSpec("uplink", "full_duplex", ("sender", "receiver"), 12e6, 0.005, trace=trace),
        ),
        flows=(FlowSpec("sender", "receiver", 1, 0, 20_000_000),),
        protocol="tcp",
    )


def four_cameras(trace=None) -> NetworkSpec:
    cameras = tuple(f"camera{i}" for i in range(1, 5))
    wifi = LinkSpec("wifi", "wireless", (*cameras, "ap"), 54e6, 1e-6, overhead_bytes=36)
    return NetworkSpec(
        nodes=(*cameras, "ap", "server"),
        links=(
            replace(wifi, trace=trace),
            LinkSpec("ethernet", "full_duplex", ("ap", "server"), 1e9, 0.002),
        ),
        flows=tuple(FlowSpec(c, "server", 20, 5, 150_528) for c in cameras),
        protocol="udp",
    )


def measure(name: str, net: NetworkSpec, runs: int = 5) -> float:
    simulate(net)  # warm up
    results = [simulate(net) for _ in range(runs)]
    best = min(r.wall_s for r in results)
    median = statistics.median(r.wall_s for r in results)
    packets = results[0].link_packets
    rate = packets / best
    print(
        f"{name}: {packets} link packets, longest frame latency {results[0].flows[0].summary.max_s:.3f} s; "
        f"best {best * 1e3:.1f} ms ({rate / 1e6:.2f}e6 packets/s), median {median * 1e3:.1f} ms"
    )
    return rate


def main() -> None:
    fixed = measure("tcp 20 MB, fixed 12 Mbit/s", transfer())
    csv = measure("tcp 20 MB, lte-driving-synthetic", transfer(builtin("lte-driving-synthetic")))
    mahimahi = measure(
        "tcp 20 MB, mahimahi 1 opportunity/ms",
        transfer(OpportunityTrace(tuple(range(1, 1001)), loop=True)),
    )
    wifi = measure("four cameras udp, fixed 54 Mbit/s", four_cameras())
    crowded = measure(
        "four cameras udp, wifi-crowded-synthetic", four_cameras(builtin("wifi-crowded-synthetic"))
    )
    print(
        f"trace / fixed packets per second: csv {csv / fixed:.2f}, mahimahi {mahimahi / fixed:.2f},"
        f" wireless {crowded / wifi:.2f}"
    )


if __name__ == "__main__":
    main()
