"""Generate the synthetic built-in traces in sei_tui/traces/ (seeded: the same files every
run) and print their statistics, which docs/traces.md states.

    python scripts/make_traces.py            # writes sei_tui/traces/*.csv, prints the table
    python scripts/make_traces.py --check    # fails if the files differ from what it makes

These are synthetic: random processes with plausible ranges, not measurements. Each rate is
a log-normal AR(1) process, log r[t] = m + phi (log r[t-1] - m) + sigma e[t], e ~ N(0, 1),
clipped to [low, high]; the Wi-Fi trace is a Markov chain over the 802.11g data rates.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "sei_tui" / "traces"
ERP_OFDM_RATES_MBPS = (6, 9, 12, 18, 24, 36, 48, 54)  # IEEE 802.11-2016, 18.2


def lognormal_ar1(
    seed: int, rows: int, step_s: float, median_mbps: float, phi: float, sigma: float,
    low_mbps: float, high_mbps: float, dips: tuple[float, int, float] | None = None,
) -> list[tuple[float, float]]:  # fmt: skip
    """(time_s, bitrate_bps) rows. `dips` = (probability per row, rows, Mbit/s): short
    deep fades (handovers, tunnels) laid over the process."""
    rng = random.Random(seed)
    m = math.log(median_mbps)
    x = m
    out = []
    fade = 0
    for i in range(rows):
        x = m + phi * (x - m) + sigma * rng.gauss(0.0, 1.0)
        mbps = min(max(math.exp(x), low_mbps), high_mbps)
        if dips is not None:
            if fade == 0 and rng.random() < dips[0]:
                fade = dips[1]
            if fade > 0:
                mbps, fade = dips[2], fade - 1
        out.append((round(i * step_s, 3), round(mbps * 1e6, -3)))
    return out


def wifi_markov(seed: int, rows: int, step_s: float, start: int) -> list[tuple[float, float]]:
    """Rate adaptation under contention and people moving: each step the data rate stays
    (p 0.6), goes one 802.11g rate down (0.22) or up (0.18)."""
    rng = random.Random(seed)
    k = start
    out = []
    for i in range(rows):
        u = rng.random()
        if u < 0.22:
            k = max(k - 1, 0)
        elif u < 0.40:
            k = min(k + 1, len(ERP_OFDM_RATES_MBPS) - 1)
        out.append((round(i * step_s, 3), ERP_OFDM_RATES_MBPS[k] * 1e6))
    return out


TRACES = {
    # walking: slow fading around a median of 8 Mbit/s uplink, 1 s rows, 5 minutes
    "lte-walking-synthetic": lambda: lognormal_ar1(13, 300, 1.0, 8.0, 0.9, 0.25, 0.5, 40.0),
    # driving: faster, deeper fading and handover dips (2 s at 0.3 Mbit/s), 0.5 s rows
    "lte-driving-synthetic": lambda: lognormal_ar1(
        17, 600, 0.5, 6.0, 0.75, 0.45, 0.3, 50.0, dips=(0.01, 4, 0.3)
    ),
    # crowded Wi-Fi: the 802.11g data rate of a station (for wireless links), 0.5 s rows
    "wifi-crowded-synthetic": lambda: wifi_markov(23, 240, 0.5, start=5),
}


def render(rows: list[tuple[float, float]], name: str) -> str:
    lines = [f"# {name}: synthetic, made by scripts/make_traces.py (see docs/traces.md)"]
    lines.append("time_s,bitrate_bps")
    lines += [f"{t:g},{r:.0f}" for t, r in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sei_tui.core.network.traces import parse_csv, trace_statistics

    stale = []
    print("| trace | duration | mean | p5 | median | p95 |")
    print("|---|---|---|---|---|---|")
    for name, make in TRACES.items():
        text = render(make(), name)
        path = FOLDER / f"{name}.csv"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
        s = trace_statistics(parse_csv(text, name))
        print(
            f"| `{name}` | {s['duration_s']:g} s | {s['mean_bps'] / 1e6:.2f} Mbit/s | "
            f"{s['p5_bps'] / 1e6:.2f} | {s['p50_bps'] / 1e6:.2f} | {s['p95_bps'] / 1e6:.2f} |"
        )
    if stale:
        print(f"differ from the generator: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
