"""libsim's per-flow byte and packet counts at each end (FlowIO), against hand counts."""

from __future__ import annotations

import math

import libsim
from sei_tui.core.network.builtin import builtin_scenario

IP_UDP = 28  # IPv4 20 + UDP 8
IP_TCP = 40  # IPv4 20 + TCP 20


def _run(protocol: str, payload: int, frames: int):
    net = builtin_scenario("lan").to_network(
        payload_bytes=payload, frames=frames, protocol=protocol
    )
    return libsim.simulate(net).flows[0]


def test_udp_bytes_are_payload_plus_headers_per_datagram():
    flow = _run("udp", 10_000, 3)
    datagrams = math.ceil(10_000 / (1500 - IP_UDP))  # 7 per frame
    assert flow.io.src_tx_packets == 3 * datagrams
    assert flow.io.src_tx_bytes == 3 * (10_000 + datagrams * IP_UDP)
    assert flow.io.dst_rx_bytes == flow.io.src_tx_bytes  # the LAN loses nothing
    assert flow.io.src_rx_bytes == flow.io.dst_tx_bytes == 0  # UDP: no ACKs


def test_tcp_counts_each_direction_at_both_ends():
    flow = _run("tcp", 20_000, 2)
    io = flow.io
    segments = 2 * math.ceil(20_000 / (1500 - IP_TCP))
    # data segments + SYN + the handshake's final ACK, all carrying a 40-byte header
    assert io.src_tx_packets == segments + 2
    assert io.src_tx_bytes == 2 * 20_000 + IP_TCP * io.src_tx_packets
    assert io.dst_rx_bytes == io.src_tx_bytes and io.dst_rx_packets == io.src_tx_packets
    # the receiver sends SYN-ACK and pure ACKs only (40 bytes each)
    assert io.dst_tx_bytes == IP_TCP * io.dst_tx_packets > 0
    assert io.src_rx_bytes == io.dst_tx_bytes
