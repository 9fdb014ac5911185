"""Plain data that crosses the libsim boundary: what to simulate and what came out.

These dataclasses are the contract between the scenario layer (sei_tui.core.network.scenario),
the native binding (libsim.binding) and every front end. Units are SI: bit/s, seconds,
bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

LINK_KINDS = ("full_duplex", "half_duplex", "wireless")
PROTOCOLS = ("tcp", "udp")
# TcpConfig.recovery_exit: cwnd when a full ACK ends fast recovery: "ssthresh" (Linux, ns-3)
# or "flightsize" (RFC 6582 option 1: min(ssthresh, max(FlightSize, MSS) + MSS)).
RECOVERY_EXITS = ("ssthresh", "flightsize")
# TcpConfig.rto_ssthresh: ssthresh after a timeout that interrupts fast recovery:
# "flightsize" (RFC 5681 eq. 4: max(FlightSize / 2, 2 MSS)) or "keep" (Linux).
RTO_SSTHRESHES = ("flightsize", "keep")
# FlowPolicy.estimator: the throughput a policy predicts with (libsim.h, LIBSIM_ESTIMATOR_*):
# "perfect" reads the path's bottleneck rate now: a test and upper-bound aid, not a device.
ESTIMATORS = ("ewma", "harmonic", "perfect")


@dataclass(frozen=True)
class TcpConfig:
    initial_window: int = 10  # segments (RFC 6928)
    min_rto: float = 0.2  # seconds (RFC 6298 lower bound, Linux-like)
    delayed_ack: bool = True  # ack every 2nd full segment, or after ack_delay
    ack_delay: float = 0.04  # seconds: Linux's delayed-ACK timeout (ATO)
    rwnd: int = 4_194_304  # receive window, bytes
    handshake: bool = True  # first frame of a connection pays SYN / SYN-ACK
    # RFC 5681 4.1: after an idle period longer than the RTO, restart from min(IW, cwnd).
    idle_restart: bool = True
    recovery_exit: str = "ssthresh"  # one of RECOVERY_EXITS
    rto_ssthresh: str = "flightsize"  # one of RTO_SSTHRESHES


@dataclass(frozen=True)
class BurstLoss:
    """Gilbert-Elliott two-state loss; replaces the link's `loss` when present."""

    p_good_to_bad: float
    p_bad_to_good: float
    loss_bad: float
    loss_good: float = 0.0


@dataclass(frozen=True)
class RateTrace:
    """A piecewise-constant link: row i holds from ``times_s[i]`` (``times_s[0] == 0``,
    increasing) until the next row; a packet on the wire when the rate changes sends its
    remaining bits at the new rate. ``loss`` / ``delay_s`` (optional, one per row) replace
    the link's loss and delay for packets whose last bit leaves in the row. ``loop``: repeat
    every ``duration_s``; else the last row holds forever. ``start_s``: the trace time at
    simulated time 0. On a wireless link the rate is the 802.11 data rate."""

    times_s: tuple[float, ...]
    bitrate_bps: tuple[float, ...]
    duration_s: float
    loss: tuple[float, ...] | None = None
    delay_s: tuple[float, ...] | None = None
    loop: bool = False
    start_s: float = 0.0

    def mean_bps(self) -> float:
        """The time-weighted mean rate over one pass of the trace."""
        ends = (*self.times_s[1:], self.duration_s)
        total = sum(
            r * (e - t) for t, e, r in zip(self.times_s, ends, self.bitrate_bps, strict=True)
        )
        return total / self.duration_s


@dataclass(frozen=True)
class OpportunityTrace:
    """Mahimahi delivery opportunities (point-to-point links): at each time (integer ms,
    non-decreasing, the last > 0) up to 1500 IP bytes may leave (libsim.h,
    LIBSIM_OPPORTUNITY_BYTES). ``loop``: repeat every ``times_ms[-1]`` ms (as mm-link);
    else the trace's mean opportunity rate continues after it."""

    times_ms: tuple[int, ...]
    loop: bool = False
    start_s: float = 0.0
    opportunity_bytes: int = 1500

    @property
    def duration_s(self) -> float:
        return self.times_ms[-1] / 1000.0

    def mean_bps(self) -> float:
        return len(self.times_ms) * self.opportunity_bytes * 8.0 / self.duration_s


@dataclass(frozen=True)
class LinkSpec:
    name: str
    kind: str  # one of LINK_KINDS
    nodes: tuple[str, ...]  # full/half duplex: exactly 2; wireless: 2 or more
    bitrate_bps: float
    delay_s: float
    loss: float = 0.0
    overhead_bytes: int = 38
    queue_packets: int = 100
    burst: BurstLoss | None = None
    # The link follows this trace; bitrate_bps is then not used by the simulator.
    trace: RateTrace | OpportunityTrace | None = None


def _sizes_tuple(sizes: int | Sequence[int]) -> int | tuple[int, ...]:
    if isinstance(sizes, Sequence) and not isinstance(sizes, str | bytes):
        return tuple(sizes)
    return sizes


@dataclass(frozen=True)
class Candidate:
    """A deployment a flow policy may choose: its frames' payload (one size, or one per frame
    of the flow) and its compute time outside the network (device before sending + server
    after arrival), seconds."""

    payload_bytes: int | tuple[int, ...]
    fixed_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_bytes", _sizes_tuple(self.payload_bytes))

    def frame_bytes(self, frame: int) -> int:
        sizes = self.payload_bytes
        return sizes[frame] if isinstance(sizes, tuple) else sizes


@dataclass(frozen=True)
class FlowPolicy:
    """A closed-loop choice among ``candidates`` before each frame (libsim.h,
    libsim_set_flow_policy): the smallest predicted latency fixed_s + base_delay_s +
    bits / estimate; a switch needs a predicted gain above ``margin`` (relative) for
    ``hold_frames`` decisions in a row. ``estimator``: one of ESTIMATORS; ``alpha`` (EWMA
    weight of the newest sample), ``window`` (harmonic: the last samples), ``prior_bps`` (the
    estimate before the first delivery)."""

    candidates: tuple[Candidate, ...]
    estimator: str = "harmonic"
    alpha: float = 0.3
    window: int = 5
    margin: float = 0.1
    hold_frames: int = 2
    prior_bps: float = 1e6
    base_delay_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))


@dataclass(frozen=True)
class FlowSpec:
    """One flow of frames. `payload_bytes` is every frame's size, or one size per frame (a
    sequence, kept as a tuple: frame i carries payload_bytes[i]); `frames` may then be
    None, which becomes the sequence's length, and otherwise must equal it."""

    src: str
    dst: str
    frames: int  # None with per-frame sizes: their count
    fps: float  # 0 = back to back
    payload_bytes: int | tuple[int, ...]
    # With a policy, each frame carries its chosen candidate's size instead of payload_bytes.
    policy: FlowPolicy | None = None

    def __post_init__(self) -> None:
        sizes = self.payload_bytes
        if isinstance(sizes, Sequence) and not isinstance(sizes, str | bytes):
            object.__setattr__(self, "payload_bytes", tuple(sizes))
            if self.frames is None:
                object.__setattr__(self, "frames", len(sizes))

    @property
    def payload_sizes(self) -> tuple[int, ...] | None:
        """The per-frame sizes, or None when every frame has `payload_bytes`."""
        return self.payload_bytes if isinstance(self.payload_bytes, tuple) else None

    def frame_bytes(self, frame: int) -> int:
        """The payload size of frame `frame`."""
        sizes = self.payload_sizes
        return self.payload_bytes if sizes is None else sizes[frame]  # type: ignore[return-value]


@dataclass(frozen=True)
class NetworkSpec:
    nodes: tuple[str, ...]
    links: tuple[LinkSpec, ...]
    flows: tuple[FlowSpec, ...]
    protocol: str = "tcp"  # one of PROTOCOLS
    mtu: int = 1500
    seed: int = 1
    tcp: TcpConfig = field(default_factory=TcpConfig)


@dataclass(frozen=True)
class FrameResult:
    index: int
    sent_s: float
    delivered_s: float | None  # None when nothing of the frame arrived
    latency_s: float | None
    complete: bool
    lost_bytes: int
    lost_ranges: tuple[tuple[int, int], ...] = ()  # [start, end) byte ranges of the payload


@dataclass(frozen=True)
class FlowSummary:
    """Statistics of one flow's frames.

    Latency statistics cover the frames that arrived at least in part (`latency_s` not
    None); p50/p95/p99 are nearest-rank percentiles (the smallest latency with at least p %
    of the values at or below it). `goodput_bps` is the payload that arrived, in bits, over
    the time from the first frame's `sent_s` to the last delivery. `packets_sent` and
    `packets_lost` count data-direction packets (TCP: segments and SYNs, retransmissions
    included); `collisions` counts this flow's wireless transmissions that collided.
    """

    frames: int
    complete: int
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    packets_sent: int
    packets_lost: int
    retransmissions: int
    goodput_bps: float
    collisions: int = 0


@dataclass(frozen=True)
class FlowIO:
    """IP bytes and packets of every kind (data, SYN, ACK) each end of a flow originated
    (`tx`) and received (`rx`), retransmissions included, over the whole run."""

    src_tx_bytes: int = 0
    src_tx_packets: int = 0
    src_rx_bytes: int = 0
    src_rx_packets: int = 0
    dst_tx_bytes: int = 0
    dst_tx_packets: int = 0
    dst_rx_bytes: int = 0
    dst_rx_packets: int = 0


FLOW_IO_FIELDS = tuple(f.name for f in fields(FlowIO))


@dataclass(frozen=True)
class FlowResult:
    src: str
    dst: str
    frames: tuple[FrameResult, ...]
    summary: FlowSummary
    # With a policy: the index into its candidates each frame used.
    choices: tuple[int, ...] | None = None
    io: FlowIO | None = None  # what each end sent and received (radio energy)


@dataclass(frozen=True)
class SimResult:
    flows: tuple[FlowResult, ...]
    events: int
    wall_s: float
    link_packets: int = 0  # packets put on any link (for throughput figures)
