"""The plain data of an evaluation: one `Row` per deployment, and the recommendation.

Kept apart from `evaluate` so that QoS parsing, reports and the TUI can use the row's
columns without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

STRATEGIES = ("local", "remote", "split", "early_exit", "bottleneck")
# two-cut rows (device -> edge box -> server): only when the scenario has an edge box, so
# not a `--strategies` choice; ranked after every other strategy (ranking.canonical_key)
SPLIT2 = "split2"


@dataclass
class Row:
    """One deployment: where the model runs, what travels, and what that costs.

    Times are seconds per frame. Latencies of frames that never arrived are infinite,
    so a percentile that reaches them is `inf` (JSON: null).
    """

    strategy: str  # one of STRATEGIES
    split_index: int | None  # SplitPoint.index for `split`, else None
    after: str | None  # fx node the head ends at (`split`), else None
    encoding: str  # fp32 / fp16 / int8 (+zlib|+lz4); raw / jpegQ (remote); result (local)
    payload_bytes: int  # bytes of one frame on the network (mean over evaluation images)
    head_s: float = 0.0  # compute on the edge (whole model for `local`)
    encode_s: float = 0.0
    network_p50_s: float = 0.0
    network_p95_s: float = 0.0
    network_p99_s: float = 0.0
    network_mean_s: float = 0.0
    decode_s: float = 0.0
    tail_s: float = 0.0  # compute on the server (whole model for `remote`)
    p50_latency: float = 0.0
    p95_latency: float = 0.0
    p99_latency: float = 0.0
    mean_latency: float = 0.0
    deadline_miss: float | None = None  # fraction of frames over the deadline
    frames: int = 0
    frames_complete: int = 0
    packets_lost: int = 0
    retransmissions: int = 0
    accuracy: float | None = None  # vs labels, or top-1 agreement when there are none
    agreement: float | None = None  # top-1 agreement with the whole model
    cs: float | None = None  # cumulative saliency at the split (the paper's predictor)
    edge_flops: int = 0
    server_flops: int = 0
    edge_params: int = 0
    edge_memory_bytes: int = 0  # head parameter bytes + head peak activation bytes
    compute: str = ""  # how compute times were obtained, e.g. "edge estimated, server measured"
    pareto: bool = False
    feasible: bool = True
    violations: list[str] = field(default_factory=list)
    # added after the first release: last, so CSV columns keep their places
    # encode_s / decode_s are this machine's times x these (the edge's, the server's speed)
    encode_scale: float = 1.0
    decode_scale: float = 1.0
    codec_scale: str = ""  # where they came from, e.g. "edge host x1, server profile/host x3.2"
    # early_exit and bottleneck rows (None on the others): see docs/cli.md
    exit_threshold: float | None = None  # exit top-1 probability at or above: answer on the edge
    exit_rate: float | None = None  # fraction of evaluation images answered by the exit
    bottleneck_channels: int | None = None  # channels of the tensor that travels
    train_images: int | None = None  # images the exit or bottleneck was trained on
    eval_images: int | None = None  # images accuracy and exit rate are counted on
    exit_path_p95_latency: float | None = None  # early_exit: p95 of the frames answered on
    offload_path_p95_latency: float | None = None  # the edge, and of those sent on
    # joules per frame (core.evaluation.energy); None: a node's profile gives no power
    edge_energy_j: float | None = None  # the edge: compute + encode + radio
    total_energy_j: float | None = None  # every node that computes on the frame, + radio
    edge_radio_energy_j: float | None = None  # the radio's part of edge_energy_j
    # split2 rows (None on the others; see docs/cli.md, "Two cuts"): `split_index` is k1,
    # `after` the fx node the device's head ends at, `payload_bytes` the LARGEST hop's mean
    # frame (what QoS and the table use), `tail_s` the edge box's and the server's compute
    cuts: list[int] | None = None  # [k1, k2], split indices, k1 < k2
    nodes: list[str] | None = None  # the compute node of each segment: device, box, server
    hop_payload_bytes: list[int] | None = None  # each hop's mean frame (JSON: payload_bytes)
    middle_s: float | None = None  # the edge box's compute (part of tail_s)
    # the edge box's share of the model (split2 rows; 0 on the others, where no edge box
    # computes, as server_flops is 0 on `local`): QoS columns like edge_flops
    middle_flops: int = 0
    middle_params: int = 0
    middle_memory_bytes: int = 0  # middle parameter bytes + the middle's peak activation bytes
    # the server's share (0 on `local`, as server_flops): its segment's parameters and their
    # fp32 bytes + the segment's peak live activation bytes, the payload it receives included
    # (`remote`: the whole model, the decoded image included); QoS columns like edge_*
    server_params: int = 0
    server_memory_bytes: int = 0

    @property
    def label(self) -> str:
        if self.strategy == "split":
            return f"split@{self.split_index} {self.after} {self.encoding}"
        if self.strategy == "early_exit":
            return f"exit@{self.split_index} τ={self.exit_threshold:g} {self.encoding}"
        if self.strategy == "bottleneck":
            return f"bottleneck@{self.split_index} c={self.bottleneck_channels} {self.encoding}"
        if self.strategy == SPLIT2 and self.cuts:
            return f"2-cut {self.cuts[0]}|{self.cuts[1]} {self.encoding}"
        return f"{self.strategy} {self.encoding}"

    def to_dict(self) -> dict:
        """The row as JSON-ready values; on split2 rows `encoding` and `payload_bytes` are
        per-hop lists (the in-memory row keeps one encoding and the largest hop)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        if self.strategy == SPLIT2 and self.hop_payload_bytes is not None:
            out["encoding"] = [self.encoding] * len(self.hop_payload_bytes)
            out["payload_bytes"] = list(self.hop_payload_bytes)
        return out


def _numeric_columns() -> tuple[str, ...]:
    numeric = {"int", "float", "int | None", "float | None"}
    return tuple(f.name for f in fields(Row) if f.type in numeric)


NUMERIC_COLUMNS = _numeric_columns()


@dataclass(frozen=True)
class Recommendation:
    """Which row to deploy and why; `row`/`runner_up`/`closest` index the row list."""

    row: int | None
    why: str
    binding: str | None = None  # the constraint with the least relative slack
    margin: float | None = None  # its slack, in the column's unit
    runner_up: int | None = None
    failing_everywhere: tuple[str, ...] = ()  # when nothing is feasible
    closest: int | None = None  # when nothing is feasible: the smallest total shortfall

    def to_dict(self) -> dict:
        out = asdict(self)
        out["failing_everywhere"] = list(self.failing_everywhere)
        return out
