"""libsim's 802.11g channel access: frame latency unsaturated and with synchronised stations.

Each station sends one UDP datagram per frame to an access point on one 802.11g medium
(overhead_bytes = 36, stations 1 m from the ap), as libsim/tools/ns3_wifi_reference.cc does
in ns-3 3.37, so the figures can be compared with it:
- one station, frames far apart (10 fps): latency = DIFS + airtime (1472 B at 54 Mbit/s:
  28 + 254 = 282 us);
- 2, 3 and 4 stations writing their frames at the same instants (synchronised cameras,
  10 fps, 500 frames each, 4 seeds): mean latency and collisions per frame;
- saturation: goodput of 1, 2, 4 and 8 stations sending back to back (600 datagrams each).
Run: .venv/bin/python benchmarks/bench_wifi_access.py   (a few seconds)
"""

from __future__ import annotations

import statistics
import time

from libsim import FlowSpec, LinkSpec, NetworkSpec, simulate

ONE_METRE = 1 / 299_792_458  # propagation delay, s


def network(stations: int, frames: int, fps: float, payload: int, rate=54e6, seed=1):
    names = tuple(f"camera{i}" for i in range(stations))
    link = LinkSpec("wifi", "wireless", (*names, "ap"), rate, ONE_METRE, overhead_bytes=36)
    flows = tuple(FlowSpec(name, "ap", frames, fps, payload) for name in names)
    return NetworkSpec((*names, "ap"), (link,), flows, protocol="udp", seed=seed)


def unsaturated_latency(payload: int, rate: float) -> float:
    flow = simulate(network(1, 50, 10, payload, rate)).flows[0]
    return statistics.mean(f.latency_s for f in flow.frames)


def synchronised(stations: int, seeds=range(1, 5), frames=500) -> tuple[float, float]:
    latencies, collisions = [], 0
    for seed in seeds:
        for flow in simulate(network(stations, frames, 10, 1472, seed=seed)).flows:
            latencies += [f.latency_s for f in flow.frames if f.latency_s is not None]
            collisions += flow.summary.collisions
    return statistics.mean(latencies), collisions / (stations * frames * len(seeds))


def saturation_goodput(stations: int, datagrams=600) -> float:
    result = simulate(network(stations, 1, 0, datagrams * 1472))
    end = max(f.frames[0].delivered_s for f in result.flows)
    return 8 * stations * datagrams * 1472 / end


def report() -> None:
    started = time.perf_counter()
    for payload, rate in ((1472, 54e6), (1000, 54e6), (100, 24e6), (1472, 6e6)):
        latency = unsaturated_latency(payload, rate)
        print(
            f"802.11g one idle station, {payload} B UDP at {rate / 1e6:.0f} Mbit/s: "
            f"mean frame latency {latency * 1e6:.3f} us"
        )
    for stations in (2, 3, 4):
        mean, per_frame = synchronised(stations)
        print(
            f"802.11g {stations} synchronised stations, 1472 B at 54 Mbit/s, 10 fps: mean "
            f"frame latency {mean * 1e6:.1f} us, {per_frame:.3f} collisions per frame"
        )
    for stations in (1, 2, 4, 8):
        goodput = saturation_goodput(stations)
        print(f"802.11g saturation, {stations} stations: goodput {goodput / 1e6:.2f} Mbit/s")
    print(f"(802.11 access figures in {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    report()
