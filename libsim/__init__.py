"""libsim: a packet-level network simulator on SystemC, called through cffi."""

from libsim.binding import (
    check_network,
    interrupt,
    percentile,
    prepare_workers,
    simulate,
    simulate_many,
)
from libsim.errors import LibsimError, LibsimInputError, LibsimInternalError, LibsimInterrupted
from libsim.spec import (
    LINK_KINDS,
    PROTOCOLS,
    RECOVERY_EXITS,
    RTO_SSTHRESHES,
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
    "RECOVERY_EXITS",
    "RTO_SSTHRESHES",
    "BurstLoss",
    "FlowResult",
    "FlowSpec",
    "FlowSummary",
    "FrameResult",
    "LibsimError",
    "LibsimInputError",
    "LibsimInternalError",
    "LibsimInterrupted",
    "LinkSpec",
    "NetworkSpec",
    "SimResult",
    "TcpConfig",
    "check_network",
    "interrupt",
    "percentile",
    "prepare_workers",
    "simulate",
    "simulate_many",
]
