"""The timeline of a stream over a trace link (issue 13): the available bitrate over time,
each frame's latency under one policy (static: a row; adaptive; oracle), the deadline and
the switches between rows. Data from the core's PolicyResult (per-frame `choices` and
`latencies`) and the link's trace (libsim.spec RateTrace / OpportunityTrace)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from sei_tui.core.units import display_seconds
from sei_tui.tui.plots.charts import Across, Series, XYChart

RATE_GLYPH, FRAME_GLYPH, LOST_GLYPH, SWITCH_GLYPH = "·", "•", "×", "┆"
OPPORTUNITY_WINDOW_S = 0.1  # a Mahimahi trace's rate is drawn as its mean over 100 ms


def trace_rate_at(trace: Any, t: float) -> float:
    """The bit rate the trace gives at simulated time `t` (bit/s): a RateTrace's row then
    (with its `start_s` and `loop`), or a Mahimahi trace's opportunities over the 100 ms
    from `t` (after its end without `loop`: its mean rate, as libsim continues it)."""
    if hasattr(trace, "times_s"):
        at = t + trace.start_s
        if trace.loop and trace.duration_s > 0:
            at %= trace.duration_s
        i = max(0, bisect.bisect_right(trace.times_s, at) - 1)
        return float(trace.bitrate_bps[i])
    duration = trace.duration_s
    at = t + trace.start_s
    if at >= duration and not trace.loop:
        return trace.mean_bps()
    if trace.loop and duration > 0:
        at %= duration
    start_ms = round(at * 1000.0, 6)  # the window [start, start + 100 ms) in whole ms
    lo = bisect.bisect_left(trace.times_ms, start_ms)
    hi = bisect.bisect_left(trace.times_ms, start_ms + round(OPPORTUNITY_WINDOW_S * 1000.0))
    return (hi - lo) * trace.opportunity_bytes * 8.0 / OPPORTUNITY_WINDOW_S


@dataclass(frozen=True)
class TimelineData:
    """What the timeline draws; `times_s[f]` is when frame f leaves."""

    policy: str  # "static row 3", "adaptive", "oracle (lower bound)"
    link: str
    times_s: tuple[float, ...]
    rate_bps: tuple[float, ...]
    latencies: tuple[float, ...]  # inf: never arrived
    choices: tuple[int, ...]  # the row each frame used
    deadline_s: float | None
    switches: tuple[int, ...]  # frames whose row differs from the previous frame's


def timeline_data(
    result: Any, trace: Any, link: str, fps: float, deadline_s: float | None, label: str
) -> TimelineData:
    frames = len(result.latencies)
    period = 1.0 / fps if fps > 0 else 0.0
    times = tuple(f * period for f in range(frames)) if period else tuple(map(float, range(frames)))
    choices = tuple(result.choices)
    return TimelineData(
        policy=label,
        link=link,
        times_s=times,
        rate_bps=tuple(trace_rate_at(trace, t) for t in times) if period else (),
        latencies=tuple(result.latencies),
        choices=choices,
        deadline_s=deadline_s,
        switches=tuple(f for f in range(1, len(choices)) if choices[f] != choices[f - 1]),
    )


def _mbps(v: float) -> str:
    return f"{v / 1e6:.3g}M"


def timeline_figure(data: TimelineData, describe_row) -> XYChart:
    """Rate (left, Mbit/s, a line) and frame latency (right, seconds, a point per frame,
    × for a frame that never arrived); the deadline across the latency scale; a switch
    as a dotted column. The cursor steps through the frames."""
    finite = [v for v in data.latencies if math.isfinite(v)]
    worst = max(finite) if finite else 1.0
    shown = [v if math.isfinite(v) else math.inf for v in data.latencies]
    lost = {i: LOST_GLYPH for i, v in enumerate(data.latencies) if not math.isfinite(v)}
    series = [
        Series(
            "frame latency (right)",
            list(data.times_s),
            shown,
            FRAME_GLYPH,
            "s1",
            right=True,
            marks=lost,
        )
    ]
    if data.rate_bps:
        # piecewise constant: each frame's rate holds until the next frame
        xs, ys = [data.times_s[0]], [data.rate_bps[0]]
        for f in range(1, len(data.times_s)):
            if data.rate_bps[f] != data.rate_bps[f - 1]:
                xs.append(data.times_s[f])
                ys.append(data.rate_bps[f - 1])
            xs.append(data.times_s[f])
            ys.append(data.rate_bps[f])
        series.append(
            Series(
                f"{data.link} bit/s",
                xs,
                ys,
                RATE_GLYPH,
                "s0",
                line=True,
            )
        )
    across = [Across(data.times_s[f], SWITCH_GLYPH, "switch", vertical=True) for f in data.switches]
    if data.deadline_s is not None:
        across.append(
            Across(
                data.deadline_s,
                "╌",
                "deadline",
                f"deadline {display_seconds(data.deadline_s)}",
                right=True,
            )
        )

    def describe(f: int) -> str:
        latency = data.latencies[f]
        shown_latency = display_seconds(latency) if math.isfinite(latency) else "never arrived"
        text = f"{data.policy} · frame {f} at {data.times_s[f]:.2f} s: {shown_latency}"
        text += f" · {describe_row(data.choices[f])}" if data.choices else ""
        if data.rate_bps:
            text += f" · {_mbps(data.rate_bps[f])}bit/s"
        return text

    chart = XYChart(
        series,
        across=across,
        x_format=lambda v: f"{v:g}s",
        y_format=_mbps,
        right_format=lambda v: display_seconds(v),
        selectable=0,
        describe_point=describe,
        title="time",
    )
    switches = len(data.switches)
    chart.legend_text = (
        f"{data.policy}, {switches} switch{'es' if switches != 1 else ''}:  {FRAME_GLYPH} latency"
        f" (right)  {RATE_GLYPH} {data.link} bit/s  {SWITCH_GLYPH} switch  {LOST_GLYPH} lost"
    )
    if data.deadline_s is not None:
        chart.legend_text += f"  ╌ deadline {display_seconds(data.deadline_s)}"
    chart.right_range = (0.0, max(worst, data.deadline_s or 0.0) * 1.1)
    if data.rate_bps:
        chart.y_range = (0.0, max(data.rate_bps) * 1.1)
    return chart
