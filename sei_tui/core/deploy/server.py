"""`sei serve`: the server side of an exported split (runs the tail, answers top-k).

Threads, not asyncio: the work per frame is the tail (torch, which releases the GIL while
it computes) and plain blocking sockets keep every connection's failure to its own
thread; a lock runs one tail at a time, so concurrent clients do not share the cores
in the middle of a timed tail.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from sei_tui.core.deploy import wire
from sei_tui.core.deploy.datagrams import Reassembler
from sei_tui.core.deploy.export import load_program
from sei_tui.core.deploy.manifest import Manifest

IDLE_TIMEOUT_S = 60.0  # a connection silent this long is closed (a stuck peer holds nothing)
MAX_CONNECTIONS = 64


class TailServer:
    """Accepts connections on (host, port) and serves the manifest's tail on each."""

    def __init__(
        self,
        manifest: Manifest,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] = print,
        top_k: int = wire.TOP_K,
    ):
        self.manifest = manifest
        self.log = log
        path, fmt = manifest.program("tail")
        self.tail = load_program(path, fmt)
        self.top_k = max(1, min(top_k, wire.MAX_TOP_K))
        with torch.inference_mode():  # the first call of a program builds its caches: not timed
            self.tail(*(torch.zeros(shape) for shape in manifest.shapes))
        self.tail_lock = threading.Lock()
        self.stopping = threading.Event()
        self.listener = socket.create_server((host, port), backlog=16)
        self.listener.settimeout(0.2)  # the accept loop looks at `stopping` this often
        self.address = self.listener.getsockname()[:2]
        self.served = 0
        self.concealed = 0  # UDP frames answered with lost byte ranges concealed
        self._threads: set[threading.Thread] = set()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def serve_forever(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    conn, peer = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self.stopping.is_set():
                        break
                    raise
                if not self._slots.acquire(blocking=False):
                    self.log(f"{_peer(peer)}: refused, {MAX_CONNECTIONS} connections open")
                    conn.close()
                    continue
                thread = threading.Thread(
                    target=self._connection, args=(conn, peer), daemon=True, name="sei-serve"
                )
                self._threads.add(thread)
                thread.start()
        finally:
            self.listener.close()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float = 2.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _peer_log(self, peer: Any) -> Callable[[str], None]:
        return lambda line: self.log(f"{_peer(peer)}: {line}")

    def _connection(self, conn: socket.socket, peer: Any) -> None:
        udp: Reassembler | None = None
        try:
            conn.settimeout(IDLE_TIMEOUT_S)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._handshake(conn)
            limits = {
                wire.FRAME: wire.frame_limit(self.manifest),
                wire.DATAGRAMS: 0,
                wire.FRAME_END: 8,
            }
            while not self.stopping.is_set():
                try:
                    kind, body = wire.recv_message(conn, limits)
                except wire.PeerClosed:
                    break
                if kind == wire.DATAGRAMS:  # the device asks for the UDP data path
                    if udp is None:
                        local = conn.getsockname()[0]
                        udp = Reassembler(self.manifest, local, peer[0], self._peer_log(peer))
                    wire.send_message(conn, wire.DATAGRAMS, wire.port_body(udp.port))
                    continue
                start = time.perf_counter()
                if kind == wire.FRAME_END:
                    if udp is None:
                        raise wire.WireError("frame end before the datagrams request")
                    frame_id, total = wire.parse_frame_end(body, self.manifest)
                    payload, lost = udp.collect(frame_id, total)
                    start = time.perf_counter()  # the reassembly wait is network time
                    tensors = wire.decode_concealed(frame_id, payload, lost, self.manifest)
                    if lost:
                        self.concealed += 1
                else:
                    frame_id, tensors = wire.decode_frame(body, self.manifest)
                decoded = time.perf_counter()
                answer = self._answer(frame_id, tensors)
                answer = wire.Answer(
                    frame_id,
                    answer.classes,
                    answer.probabilities,
                    decoded - start,
                    answer.server_tail_s,
                )
                wire.send_message(conn, wire.ANSWER, wire.answer_body(answer))
                self.served += 1
        except wire.Mismatch as exc:
            self.log(f"{_peer(peer)}: refused: {exc}")
            _send_quietly(conn, wire.REFUSE, wire.refuse_body(str(exc)))
        except wire.WireError as exc:
            self.log(f"{_peer(peer)}: closed: {exc}")
        except TimeoutError:
            self.log(f"{_peer(peer)}: closed: silent for {IDLE_TIMEOUT_S:g} s")
        except OSError as exc:
            self.log(f"{_peer(peer)}: closed: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - one connection's failure never stops the server
            self.log(f"{_peer(peer)}: closed: internal error: {type(exc).__name__}: {exc}")
        finally:
            if udp is not None:
                udp.close()
            conn.close()
            self._slots.release()
            self._threads.discard(threading.current_thread())

    def _handshake(self, conn: socket.socket) -> None:
        wire.send_message(conn, wire.OFFER, wire.hello_body(self.manifest))
        _, body = wire.recv_message(conn, {wire.HELLO: wire.MAX_HELLO_BYTES})
        wire.check_hello(body, self.manifest)
        wire.send_message(conn, wire.WELCOME, wire.hello_body(self.manifest))

    def _answer(self, frame_id: int, tensors: list) -> wire.Answer:
        inputs = [torch.from_numpy(t) for t in tensors]
        with self.tail_lock, torch.inference_mode():
            start = time.perf_counter()
            logits = self.tail(*inputs)
            elapsed = time.perf_counter() - start
        probabilities = torch.softmax(logits.reshape(-1).float(), dim=0)
        k = min(self.top_k, probabilities.numel())
        top = torch.topk(probabilities, k)
        return wire.Answer(
            frame_id, [int(i) for i in top.indices], [float(p) for p in top.values], 0.0, elapsed
        )


def _send_quietly(conn: socket.socket, kind: int, body: bytes) -> None:
    with contextlib.suppress(OSError):  # the peer may be gone already
        wire.send_message(conn, kind, body)


def _peer(peer: Any) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
