"""The deployment wire protocol: sei's payload frames inside length-prefixed messages.

docs/wire-format.md is the specification. Everything a peer sends is checked against
the manifest before any buffer of the size it declares is allocated; nothing is ever
unpickled (messages are fixed binary layouts, the hello is a small JSON object).

Message: u32 length (of what follows) | u8 type | body, little-endian.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from sei_tui.core.deploy.manifest import ITEM_BYTES, Manifest, compressed_bound
from sei_tui.core.evaluation import encoding as payload_codec

PROTOCOL_VERSION = 1
MAGIC = "sei-deploy"
HELLO, WELCOME, REFUSE, FRAME, ANSWER, OFFER = 1, 2, 3, 4, 5, 6
DATAGRAMS, FRAME_END = 7, 8  # UDP data path (sei_tui.core.deploy.datagrams)
MESSAGE_NAMES = {
    DATAGRAMS: "datagrams",
    FRAME_END: "frame end",
    OFFER: "offer",
    HELLO: "hello",
    WELCOME: "welcome",
    REFUSE: "refuse",
    FRAME: "frame",
    ANSWER: "answer",
}
MAX_HELLO_BYTES = 4096  # the hello and refuse JSON bodies
MAX_TOP_K = 1000
TOP_K = 5
_PREFIX = struct.Struct("<IB")
_FRAME_ID = struct.Struct("<I")
_ANSWER_HEAD = struct.Struct("<IBff")  # frame id, k, server decode s, server tail s
_ANSWER_ITEM = struct.Struct("<If")
_FRAME_END = struct.Struct("<II")  # frame id, total payload bytes
_PORT = struct.Struct("<H")  # class index, probability
# adapters / adapters_digest: the exported early exit or bottleneck's kind and sha256
# (null for a plain split; a peer that predates them sends neither, which reads as null)
IDENTITY_KEYS = (
    "format_version",
    "weights_digest",
    "split_index",
    "encoding",
    "adapters",
    "adapters_digest",
)


class WireError(Exception):
    """A peer's bytes break the protocol: the connection is closed (one log line)."""


class PeerClosed(WireError):
    """The peer closed the connection between two messages: a normal end."""


class Mismatch(WireError):
    """The two sides export different deployments (model digest, split, encoding, adapters)."""


# ------------------------------------------------------------------ socket helpers


def recv_exact(sock: socket.socket, size: int, boundary: bool = False) -> bytes:
    """Exactly `size` bytes (already bounded by the caller), or WireError if the peer
    closes first (PeerClosed when `boundary` and nothing of them came)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            if boundary and got == 0:
                raise PeerClosed("peer closed the connection")
            raise WireError(f"peer closed the connection after {got} of {size} bytes")
        got += n
    return bytes(buffer)


def send_message(sock: socket.socket, kind: int, body: bytes) -> None:
    sock.sendall(_PREFIX.pack(len(body) + 1, kind) + body)


def recv_message(sock: socket.socket, limits: dict[int, int]) -> tuple[int, bytes]:
    """(type, body) of the next message; its type must be in `limits` and its declared
    length at most that type's limit, both checked before the body is read."""
    length, kind = _PREFIX.unpack(recv_exact(sock, _PREFIX.size, boundary=True))
    if kind not in limits:
        expected = " or ".join(MESSAGE_NAMES.get(k, str(k)) for k in limits)
        raise WireError(f"unexpected message type {kind} (expected {expected})")
    if not 1 <= length <= limits[kind] + 1:
        raise WireError(
            f"{MESSAGE_NAMES[kind]} declares {length - 1} bytes (at most {limits[kind]})"
        )
    return kind, recv_exact(sock, length - 1)


# ------------------------------------------------------------------ hello


def hello_body(manifest: Manifest) -> bytes:
    return json.dumps(
        {"magic": MAGIC, "protocol": PROTOCOL_VERSION, **manifest.identity}, sort_keys=True
    ).encode()


def parse_hello(body: bytes) -> dict[str, Any]:
    """A peer's hello or offer: a JSON object of the sei protocol with typed identity fields."""
    try:
        peer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("hello is not a JSON object") from None
    if not isinstance(peer, dict) or peer.get("magic") != MAGIC:
        raise WireError("hello does not start a sei deployment connection")
    if peer.get("protocol") != PROTOCOL_VERSION:
        raise Mismatch(f"protocol {peer.get('protocol')!r} here {PROTOCOL_VERSION}")
    types = {"format_version": int, "weights_digest": str, "split_index": int, "encoding": str}
    for key, kind in types.items():
        if not isinstance(peer.get(key), kind) or isinstance(peer.get(key), bool):
            raise WireError(f"hello: {key} is missing or not a {kind.__name__}")
    for key in ("adapters", "adapters_digest"):
        if not isinstance(peer.get(key), str | None):
            raise WireError(f"hello: {key} is neither null nor a string")
    return peer


def check_hello(body: bytes, manifest: Manifest) -> None:
    """Mismatch naming every field that differs from this side's manifest."""
    peer = parse_hello(body)
    mine = manifest.identity
    differs = [
        f"{key} {_short(peer.get(key))} vs {_short(mine[key])}"
        for key in IDENTITY_KEYS
        if peer.get(key) != mine[key]
    ]
    if differs:
        raise Mismatch("manifest differs: " + "; ".join(differs) + " (client vs server)")


def _short(value: Any) -> str:
    text = repr(value)
    return text[:19] + "…'" if isinstance(value, str) and len(value) > 20 else text


# ------------------------------------------------------------------ payload frames


def frame_limit(manifest: Manifest) -> int:
    """The largest FRAME body a server accepts: frame id + the manifest's largest frame."""
    return _FRAME_ID.size + manifest.max_frame_bytes


def frame_body(frame_id: int, payload: bytes) -> bytes:
    return _FRAME_ID.pack(frame_id) + payload


def decode_frame(body: bytes, manifest: Manifest) -> tuple[int, list[np.ndarray]]:
    """(frame id, tensors) of a FRAME body, every field checked against the manifest
    before the evaluation's decoder (`decode_tensors`) reads it."""
    if len(body) < _FRAME_ID.size + 4:
        raise WireError(f"frame of {len(body)} bytes is shorter than its headers")
    (frame_id,) = _FRAME_ID.unpack_from(body, 0)
    payload = body[_FRAME_ID.size :]
    check_payload(payload, manifest)
    try:
        tensors = payload_codec.decode_tensors(payload, manifest.shapes)
    except Exception as exc:  # noqa: BLE001 - a corrupt block, whatever the codec says
        raise WireError(f"frame {frame_id}: undecodable payload: {exc}") from None
    return frame_id, tensors


def check_payload(payload: bytes, manifest: Manifest) -> None:
    """The payload header (docs/wire-format.md) agrees with the manifest and the frame's
    length with what the header declares; raises WireError otherwise."""
    encoding = manifest.encoding
    version, dtype_code, comp_code, count = struct.unpack_from("<BBBB", payload, 0)
    if version != payload_codec.FORMAT_VERSION:
        raise WireError(
            f"payload format version {version} (expected {payload_codec.FORMAT_VERSION})"
        )
    expected_dtype = payload_codec.TENSOR_DTYPES.index(encoding.dtype)
    expected_comp = (None, *payload_codec.COMPRESSIONS).index(encoding.compression)
    if dtype_code != expected_dtype or comp_code != expected_comp:
        raise WireError(
            f"payload encoding codes {dtype_code}/{comp_code} are not {encoding.name}'s "
            f"({expected_dtype}/{expected_comp})"
        )
    if count != len(manifest.shapes):
        raise WireError(f"payload carries {count} tensors (the manifest: {len(manifest.shapes)})")
    pos = 4
    if encoding.dtype == "int8":
        pos += 5 * count
        if len(payload) < pos:
            raise WireError("payload is shorter than its int8 parameters")
        for i in range(count):
            (scale,) = struct.unpack_from("<f", payload, 4 + 5 * i)
            if not (math.isfinite(scale) and scale > 0):
                raise WireError(f"int8 scale of tensor {i} is {scale} (not a positive number)")
    raw = manifest.elements * ITEM_BYTES[encoding.dtype]
    if encoding.compression is None:
        if len(payload) != pos + raw:
            raise WireError(f"payload of {len(payload)} bytes (the manifest's size: {pos + raw})")
        return
    if len(payload) < pos + 8:
        raise WireError("payload is shorter than its block table")
    block_raw, blocks = struct.unpack_from("<II", payload, pos)
    expected_blocks = -(-raw // payload_codec.RAW_BLOCK_BYTES)
    if block_raw != payload_codec.RAW_BLOCK_BYTES or blocks != expected_blocks:
        raise WireError(
            f"block table: {blocks} blocks of {block_raw} B (expected {expected_blocks} "
            f"of {payload_codec.RAW_BLOCK_BYTES} B)"
        )
    pos += 8
    if len(payload) < pos + 4 * blocks:
        raise WireError("payload is shorter than its block lengths")
    lengths = struct.unpack_from(f"<{blocks}I", payload, pos)
    bound = compressed_bound(payload_codec.RAW_BLOCK_BYTES)
    if any(n > bound for n in lengths):
        raise WireError(f"a compressed block declares more than {bound} bytes")
    if len(payload) != pos + 4 * blocks + sum(lengths):
        raise WireError("payload length differs from its block lengths' sum")


# ------------------------------------------------------------------ answers


@dataclass(frozen=True)
class Answer:
    frame_id: int
    classes: list[int]  # top-k, most probable first
    probabilities: list[float]
    server_decode_s: float
    server_tail_s: float


def answer_body(answer: Answer) -> bytes:
    k = len(answer.classes)
    out = _ANSWER_HEAD.pack(answer.frame_id, k, answer.server_decode_s, answer.server_tail_s)
    return out + b"".join(
        _ANSWER_ITEM.pack(c, p) for c, p in zip(answer.classes, answer.probabilities, strict=True)
    )


def answer_limit() -> int:
    return _ANSWER_HEAD.size + MAX_TOP_K * _ANSWER_ITEM.size


def parse_answer(body: bytes) -> Answer:
    if len(body) < _ANSWER_HEAD.size:
        raise WireError("answer shorter than its header")
    frame_id, k, decode_s, tail_s = _ANSWER_HEAD.unpack_from(body, 0)
    if len(body) != _ANSWER_HEAD.size + k * _ANSWER_ITEM.size:
        raise WireError(f"answer of {len(body)} bytes does not hold its {k} classes")
    items = [
        _ANSWER_ITEM.unpack_from(body, _ANSWER_HEAD.size + i * _ANSWER_ITEM.size) for i in range(k)
    ]
    return Answer(frame_id, [c for c, _ in items], [p for _, p in items], decode_s, tail_s)


def refuse_body(reason: str) -> bytes:
    return reason.encode("utf-8")[:MAX_HELLO_BYTES]


# ------------------------------------------------------------------ UDP data path


def frame_end_body(frame_id: int, total: int) -> bytes:
    return _FRAME_END.pack(frame_id, total)


def parse_frame_end(body: bytes, manifest: Manifest) -> tuple[int, int]:
    """(frame id, total bytes) of a FRAME_END, the total checked against the manifest."""
    if len(body) != _FRAME_END.size:
        raise WireError(f"frame end of {len(body)} bytes (expected {_FRAME_END.size})")
    frame_id, total = _FRAME_END.unpack(body)
    if not 4 <= total <= manifest.max_frame_bytes:
        raise WireError(
            f"frame {frame_id} declares {total} bytes (4 to {manifest.max_frame_bytes})"
        )
    return frame_id, total


def port_body(port: int) -> bytes:
    return _PORT.pack(port)


def parse_port(body: bytes) -> int:
    if len(body) != _PORT.size:
        raise WireError(f"datagrams answer of {len(body)} bytes (expected {_PORT.size})")
    return _PORT.unpack(body)[0]


def payload_header_bytes(manifest: Manifest) -> int:
    """Bytes before the body of the manifest's payload frames (fixed by its shapes)."""
    count = len(manifest.shapes)
    size = 4 + (5 * count if manifest.encoding.dtype == "int8" else 0)
    if manifest.encoding.compression is not None:
        raw = manifest.elements * ITEM_BYTES[manifest.encoding.dtype]
        size += 8 + 4 * -(-raw // payload_codec.RAW_BLOCK_BYTES)
    return size


def decode_concealed(
    frame_id: int, payload: bytes, lost: tuple[tuple[int, int], ...], manifest: Manifest
) -> list[np.ndarray]:
    """The tensors of a frame that lost the byte ranges `lost`, concealed as the
    evaluation does (`inference.decode_payload`). The header, when it arrived, is checked
    as for TCP; a lost header decodes to zeros without reading the frame."""
    from sei_tui.core.evaluation.inference import decode_payload

    if not lost:
        return decode_frame(frame_body(frame_id, payload), manifest)[1]
    if lost[0][0] >= payload_header_bytes(manifest):
        check_payload(payload, manifest)
    try:
        return decode_payload(False, payload, manifest.shapes, lost)
    except Exception as exc:  # noqa: BLE001 - a corrupt block, whatever the codec says
        raise WireError(f"frame {frame_id}: undecodable payload: {exc}") from None
