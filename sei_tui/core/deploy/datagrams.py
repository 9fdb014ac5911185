"""UDP data path of `sei run --protocol udp` / `sei serve` (docs/wire-format.md, "UDP").

The TCP connection stays the control channel (offer, hello, answers); a frame's payload
goes as UDP datagrams of at most `CHUNK_BYTES` each behind a 12-byte header (frame id,
offset, total). The server reassembles a frame until its FRAME_END marker (TCP) has come
and either every chunk arrived or `REASSEMBLY_TIMEOUT_S` passed; the chunks that never
came are the frame's lost byte ranges, concealed by the evaluation's decoder
(`evaluation.inference.decode_payload`), so a measured answer under loss is the one
`sei analyze` predicts for the same lost ranges.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Iterable

from sei_tui.core.deploy.manifest import Manifest

CHUNK_BYTES = 1200  # payload bytes per datagram: 1200 + 12 + 28 fits the 1280-byte IPv6 MTU
DATAGRAM_HEAD = struct.Struct("<III")  # frame id, offset, total frame bytes
REASSEMBLY_TIMEOUT_S = 0.05  # after FRAME_END: how long missing chunks may still come
MAX_REASSEMBLY_FRAMES = 4  # frames held at once; a newer one evicts the oldest
RECEIVE_BUFFER_BYTES = 4 << 20

LostRanges = tuple[tuple[int, int], ...]


def chunks(frame_id: int, payload: bytes) -> list[bytes]:
    """The datagrams of one frame, in offset order."""
    total = len(payload)
    return [
        DATAGRAM_HEAD.pack(frame_id, offset, total) + payload[offset : offset + CHUNK_BYTES]
        for offset in range(0, max(total, 1), CHUNK_BYTES)
    ]


def chunk_ranges(total: int, indices: Iterable[int]) -> LostRanges:
    """[start, end) byte ranges of the chunks `indices` of a `total`-byte frame, merged."""
    out: list[tuple[int, int]] = []
    for c in sorted(set(indices)):
        start, end = c * CHUNK_BYTES, min((c + 1) * CHUNK_BYTES, total)
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)


class DatagramSender:
    """The device's UDP socket towards one server port; `drop` (a test hook) names chunk
    indices per frame id that are never sent, the way a lossy link would lose them."""

    def __init__(self, host: str, port: int, drop: Callable[[int], Iterable[int]] | None = None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.address = (host, port)
        self.drop = drop

    def send(self, frame_id: int, payload: bytes) -> int:
        skipped = set(self.drop(frame_id)) if self.drop else set()
        for index, datagram in enumerate(chunks(frame_id, payload)):
            if index not in skipped:
                self.sock.sendto(datagram, self.address)
        return len(skipped)

    def close(self) -> None:
        self.sock.close()


class _Frame:
    def __init__(self, total: int):
        self.buffer = bytearray(total)  # lost bytes stay 0; the decoder never reads them
        self.received: set[int] = set()
        self.count = -(-total // CHUNK_BYTES) if total else 1


class Reassembler:
    """The server's UDP socket for one connection: datagrams only from the connection's
    peer address, each header checked against the manifest before anything is allocated,
    at most `MAX_REASSEMBLY_FRAMES` frames held."""

    def __init__(
        self, manifest: Manifest, bind_host: str, peer_host: str, log: Callable[[str], None]
    ):
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self.sock.bind((bind_host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.peer_host = peer_host
        self.limit = manifest.max_frame_bytes
        self.log = log
        self.frames: dict[int, _Frame] = {}
        self.done_below = 0  # frames under this id are answered: their datagrams are stale
        self.rejected = 0

    def close(self) -> None:
        self.sock.close()

    def collect(self, frame_id: int, total: int) -> tuple[bytes, LostRanges]:
        """Frame `frame_id` (`total` bytes, from FRAME_END, already checked) with the byte
        ranges that did not arrive in time."""
        deadline = time.monotonic() + REASSEMBLY_TIMEOUT_S
        while True:
            frame = self.frames.get(frame_id)
            if frame is not None and len(frame.received) == frame.count:
                break
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.sock], [], [], wait)[0]:
                break
            self._drain()
        frame = self.frames.pop(frame_id, None)
        for stale in [f for f in self.frames if f < frame_id]:
            del self.frames[stale]
        self.done_below = frame_id + 1
        if frame is None or len(frame.buffer) != total:
            return bytes(total), ((0, total),) if total else ()
        missing = [c for c in range(frame.count) if c not in frame.received]
        return bytes(frame.buffer), chunk_ranges(total, missing)

    def _drain(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(DATAGRAM_HEAD.size + CHUNK_BYTES + 1)
            except BlockingIOError:
                return
            reason = self._accept(data, peer)
            if reason:
                self.rejected += 1
                if self.rejected <= 10 or self.rejected % 1000 == 0:
                    self.log(f"datagram dropped ({self.rejected} so far): {reason}")

    def _accept(self, data: bytes, peer) -> str | None:
        if peer[0] != self.peer_host:
            return f"from {peer[0]}, not the connection's peer"
        if len(data) < DATAGRAM_HEAD.size:
            return f"{len(data)} bytes, shorter than its header"
        frame_id, offset, total = DATAGRAM_HEAD.unpack_from(data, 0)
        size = len(data) - DATAGRAM_HEAD.size
        if frame_id < self.done_below:
            return f"frame {frame_id} is already answered"
        if not 0 < total <= self.limit:
            return f"frame {frame_id} declares {total} bytes (at most {self.limit})"
        if (
            offset % CHUNK_BYTES
            or offset + size > total
            or size != min(CHUNK_BYTES, total - offset)
        ):
            return f"frame {frame_id}: chunk at {offset} of {size} bytes does not fit {total}"
        frame = self.frames.get(frame_id)
        if frame is None:
            if len(self.frames) >= MAX_REASSEMBLY_FRAMES:
                del self.frames[min(self.frames)]
            frame = self.frames[frame_id] = _Frame(total)
        elif len(frame.buffer) != total:
            return f"frame {frame_id}: total {total} differs from its first chunk's"
        frame.buffer[offset : offset + size] = data[DATAGRAM_HEAD.size :]
        frame.received.add(offset // CHUNK_BYTES)
        return None
