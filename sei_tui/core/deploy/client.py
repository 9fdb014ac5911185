"""`sei run`: the device side of an exported split: run the head, encode, send, and time
each part of every frame against the server's answer."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sei_tui.core.deploy import wire
from sei_tui.core.deploy.datagrams import DatagramSender
from sei_tui.core.deploy.export import load_program
from sei_tui.core.deploy.manifest import Manifest
from sei_tui.core.evaluation.encoding import encode_tensors
from sei_tui.core.evaluation.latency import nearest_rank

CONNECT_TIMEOUT_S = 30.0
PARTS = ("head", "encode", "network_server", "decode", "tail")


@dataclass
class FrameRecord:
    """One frame: which image, the answer's top-1, and its parts in seconds."""

    image: int
    top1: int
    head_s: float
    encode_s: float
    network_server_s: float  # send to answer received: network both ways + server's work
    decode_s: float  # the server's decode of the payload (from its answer)
    tail_s: float  # the server's tail (from its answer)
    payload_bytes: int  # 0 for a frame answered by the early exit (nothing was sent)
    exited: bool = False  # answered on the device by the early exit

    @property
    def latency_s(self) -> float:
        return self.head_s + self.encode_s + self.network_server_s


@dataclass
class RunResult:
    records: list[FrameRecord] = field(default_factory=list)

    def latencies(self) -> list[float]:
        return [r.latency_s for r in self.records]

    def percentile(self, q: float) -> float:
        return nearest_rank(sorted(self.latencies()), q)

    def parts(self) -> dict[str, float | None]:
        """Median seconds of each part over the frames that took it (every frame has a
        head; early-exit frames have no other part); None when no frame took it."""
        out: dict[str, float | None] = {}
        for part in PARTS:
            took = [r for r in self.records if part == "head" or not r.exited]
            out[part] = statistics.median(getattr(r, f"{part}_s") for r in took) if took else None
        return out

    def exited_by_image(self) -> dict[int, bool]:
        return {r.image: r.exited for r in self.records}

    def top1_by_image(self) -> dict[int, int]:
        return {r.image: r.top1 for r in self.records}


def parse_server(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port), or ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def connect(host: str, port: int, manifest: Manifest) -> socket.socket:
    """A connection after a successful hello; Mismatch with the server's reason when the
    server refuses it, OSError when it cannot be reached."""
    sock, _offer = open_offer(host, port)
    try:
        greet(sock, manifest)
    except BaseException:
        sock.close()
        raise
    return sock


def open_offer(host: str, port: int) -> tuple[socket.socket, dict[str, Any]]:
    """A connection and the server's offer (the identity of what it serves)."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _, body = wire.recv_message(sock, {wire.OFFER: wire.MAX_HELLO_BYTES})
        offer = wire.parse_hello(body)
    except BaseException:
        sock.close()
        raise
    return sock, offer


def greet(sock: socket.socket, manifest: Manifest) -> None:
    """Send this side's hello; Mismatch with the server's reason if it refuses."""
    wire.send_message(sock, wire.HELLO, wire.hello_body(manifest))
    kind, body = wire.recv_message(
        sock, {wire.WELCOME: wire.MAX_HELLO_BYTES, wire.REFUSE: wire.MAX_HELLO_BYTES}
    )
    if kind == wire.REFUSE:
        raise wire.Mismatch(body.decode("utf-8", errors="replace"))
    wire.check_hello(body, manifest)  # the server's identity, checked on this side too


def open_datagrams(sock: socket.socket, drop: Callable[[int], Any] | None = None) -> DatagramSender:
    """Ask the server for the UDP data path of this connection; a sender to its port
    (on the host the TCP connection reached). `drop`: the test hook of `DatagramSender`."""
    wire.send_message(sock, wire.DATAGRAMS, b"")
    _, body = wire.recv_message(sock, {wire.DATAGRAMS: 2})
    return DatagramSender(sock.getpeername()[0], wire.parse_port(body), drop)


def run_frames(
    sock: socket.socket,
    manifest: Manifest,
    images: torch.Tensor,
    frames: int,
    fps: float | None = None,
    progress: Callable[[int], None] | None = None,
    head: Callable[..., Any] | None = None,
    datagrams: DatagramSender | None = None,
    exit_threshold: float | None = None,
) -> RunResult:
    """Send `frames` frames (images in turn, cycling), one at a time, paced at `fps`;
    over `datagrams` (UDP, then a FRAME_END on `sock`) when given, else as TCP FRAMEs.
    `exit_threshold` (an early-exit export, whose head returns the exit's probabilities
    first): a frame whose top-1 probability is at least it is answered here, unsent."""
    if head is None:
        path, fmt = manifest.program("head")
        head = load_program(path, fmt)
    with torch.inference_mode():  # untimed: the first call of a program builds its caches
        head(images[0:1])
    result = RunResult()
    limits = {wire.ANSWER: wire.answer_limit()}
    period = 1.0 / fps if fps else 0.0
    start = time.perf_counter()
    for i in range(frames):
        if period:
            wait = start + i * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        index = i % len(images)
        x = images[index : index + 1]
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = head(x)
        tensors: Sequence = out if isinstance(out, tuple | list) else (out,)
        if exit_threshold is not None:
            probabilities, tensors = tensors[0], tensors[1:]
            top = probabilities.reshape(-1).max(dim=0)
            # a tensor comparison, as the evaluation's (tau rounds to float32 the same way)
            if bool(top.values >= exit_threshold):  # answered by the exit: nothing sent
                t1 = time.perf_counter()
                result.records.append(
                    FrameRecord(index, int(top.indices), t1 - t0, 0.0, 0.0, 0.0, 0.0, 0, True)
                )
                if progress is not None:
                    progress(i + 1)
                continue
        t1 = time.perf_counter()
        payload = encode_tensors(tensors, manifest.encoding)
        t2 = time.perf_counter()
        if datagrams is not None:
            datagrams.send(i, payload)
            wire.send_message(sock, wire.FRAME_END, wire.frame_end_body(i, len(payload)))
        else:
            wire.send_message(sock, wire.FRAME, wire.frame_body(i, payload))
        _, body = wire.recv_message(sock, limits)
        t3 = time.perf_counter()
        answer = wire.parse_answer(body)
        if answer.frame_id != i or not answer.classes:
            raise wire.WireError(f"answer to frame {answer.frame_id} while waiting for {i}")
        result.records.append(
            FrameRecord(
                index,
                answer.classes[0],
                t1 - t0,
                t2 - t1,
                t3 - t2,
                answer.server_decode_s,
                answer.server_tail_s,
                len(payload),
            )
        )
        if progress is not None:
            progress(i + 1)
    return result
