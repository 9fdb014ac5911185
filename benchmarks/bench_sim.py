"""libsim throughput: simulated link packets per second of wall time.

Two workloads, each run several times (best run reported, plus the median):
- a 10 MB TCP transfer on one 100 Mbit/s, 5 ms full-duplex link;
- four cameras sharing one 54 Mbit/s 802.11g medium to an access point, then 1 Gbit/s
  Ethernet to a server, as scenarios/four-cameras.toml: 20 frames of 150528 B at 5 fps per
  camera, over UDP (as shipped) and over TCP.

Target (issue 3): at least 5e6 link packets per second on one core.
Also: the cost of starting simulate_many's workers from the fork server (2 workers, 16
small networks), first call of the process and later calls, against simulating in turn.
Then the 802.11 access figures of bench_wifi_access.py (unsaturated and synchronised-station
frame latency, saturation goodput).
Run: .venv/bin/python benchmarks/bench_sim.py
"""

from __future__ import annotations

import statistics
import time

from bench_wifi_access import report as wifi_access_report

from libsim import FlowSpec, LinkSpec, NetworkSpec, simulate, simulate_many


def tcp_transfer() -> NetworkSpec:
    return NetworkSpec(
        nodes=("sender", "receiver"),
        links=(LinkSpec("cable", "full_duplex", ("sender", "receiver"), 100e6, 0.005),),
        flows=(FlowSpec("sender", "receiver", 1, 0, 10_000_000),),
        protocol="tcp",
    )


def four_cameras(protocol: str) -> NetworkSpec:
    cameras = tuple(f"camera{i}" for i in range(1, 5))
    return NetworkSpec(
        nodes=(*cameras, "ap", "server"),
        links=(
            LinkSpec("wifi", "wireless", (*cameras, "ap"), 54e6, 1e-6, overhead_bytes=36),
            LinkSpec("ethernet", "full_duplex", ("ap", "server"), 1e9, 0.002),
        ),
        flows=tuple(FlowSpec(c, "server", 20, 5, 150_528) for c in cameras),
        protocol=protocol,
    )


def measure(name: str, net: NetworkSpec, runs: int) -> None:
    simulate(net)  # warm up: first-call costs (page faults, lazy binding)
    engine, total = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = simulate(net)
        total.append(time.perf_counter() - started)
        engine.append(result.wall_s)
    best, median = min(engine), statistics.median(engine)
    binding = statistics.median(t - e for t, e in zip(total, engine, strict=True))
    print(
        f"{name}: {result.link_packets} link packets, {result.events} events; "
        f"engine wall best {best * 1e3:.2f} ms, median {median * 1e3:.2f} ms; "
        f"{result.link_packets / best / 1e6:.2f} M link packets/s (best), "
        f"{result.link_packets / median / 1e6:.2f} M/s (median); "
        f"Python binding overhead {binding * 1e3:.2f} ms per call (median)"
    )


def measure_pool(runs: int) -> None:
    nets = [
        NetworkSpec(
            nodes=("a", "b"),
            links=(LinkSpec("cable", "full_duplex", ("a", "b"), 100e6, 0.001),),
            flows=(FlowSpec("a", "b", 5, 0, 100_000),),
            seed=seed,
        )
        for seed in range(16)
    ]
    started = time.perf_counter()
    for net in nets:
        simulate(net)
    in_turn = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert len(dict(simulate_many(nets, processes=2))) == len(nets)
        times.append(time.perf_counter() - started)
    print(
        f"simulate_many, 16 small networks, 2 workers: first call {times[0] * 1e3:.0f} ms "
        f"(starts the fork server), later calls median {statistics.median(times[1:]) * 1e3:.0f} "
        f"ms; one after the other in this process {in_turn * 1e3:.0f} ms"
    )


def main() -> None:
    measure_pool(runs=5)
    measure("10 MB TCP, 100 Mbit/s, 5 ms", tcp_transfer(), runs=30)
    measure("4 cameras on 802.11g, UDP", four_cameras("udp"), runs=10)
    measure("4 cameras on 802.11g, TCP", four_cameras("tcp"), runs=10)
    wifi_access_report()


if __name__ == "__main__":
    main()
