"""libsim: a packet-level network simulator on SystemC, called through cffi."""

from libsim.binding import LibsimError, interrupt, percentile, simulate, simulate_many
from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    BurstLoss,
    FlowResult,
    FlowSpec,
    FlowSummary,
    FrameResult,
    LinkSpec,
    NetworkSpec,
    SimResult,
    TcpConfig,
)

__all__ = [
    "LINK_KINDS",
    "PROTOCOLS",
    "BurstLoss",
    "FlowResult",
    "FlowSpec",
    "FlowSummary",
    "FrameResult",
    "LibsimError",
    "LinkSpec",
    "NetworkSpec",
    "SimResult",
    "TcpConfig",
    "interrupt",
    "percentile",
    "simulate",
    "simulate_many",
]
