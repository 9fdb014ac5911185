"""Wire encodings of split payloads and of remote inputs, and concealment of lost bytes.

A *frame* is what one image puts on the network: for a split, the head's output tensors;
for `remote`, the input image; for `local`, the result. Every frame starts with a small
header carrying what the decoder needs; its bytes are counted in the payload.

Frame layout (little-endian), tensor payloads:

    u8 version | u8 dtype code | u8 compression code | u8 tensor count
    int8 only, per tensor:   f32 scale | u8 zero_point
    compressed only:         u32 raw block size | u32 block count | u32 length per block
    body: the tensors' elements, concatenated in `SplitPoint.tensors` order, C order,
          as fp32 / fp16 / uint8 codes; compressed in independent blocks of
          `raw block size` raw bytes when compression is on.

int8 is per-tensor affine quantisation to uint8 codes: the range [min, max] of the tensor
is widened to include 0 (so 0.0, the common ReLU value and the concealment value, is exact),
`scale = (max - min) / 255` (stored as f32), `zero_point = round(-min / scale)`,
`q = clamp(round(x / scale) + zero_point, 0, 255)`, `x' = (q - zero_point) * scale`, hence
`|x - x'| <= scale / 2` for every element.

Concealment of lost byte ranges (UDP), all in the decoded tensor domain:
- a lost header byte makes the frame undecodable: every element decodes to 0.0;
- uncompressed body: an element any of whose bytes is lost decodes to 0.0;
- compressed body: a block decodes up to its first lost byte (zlib streams decode a
  prefix; lz4 blocks decode all or nothing); the rest of that block's raw bytes are lost,
  so their elements decode to 0.0. Other blocks are unaffected.

Remote inputs (`raw`, `jpegQ`): the image tensor is mapped per channel to uint8 pixels
(affine from that channel's min/max: header `u8 version | u8 kind | u8 channels |
f32 min, f32 scale per channel`), then sent as raw HWC bytes or as a JPEG of quality Q
(PIL). A lost raw byte zeroes that pixel channel (0.0 in the tensor domain); a JPEG is
decoded up to its first lost byte (the rest of the picture is what PIL's truncated
decoding fills in), and an undecodable one is all 0.0.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import sys
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sei_tui.core.errors import SeiInputError

FORMAT_VERSION = 1
TENSOR_DTYPES = ("fp32", "fp16", "int8")
COMPRESSIONS = ("zlib", "lz4")
ZLIB_LEVEL = 1
RAW_BLOCK_BYTES = 65536  # independent compression blocks bound the damage of one loss

_DTYPE_CODES = {"fp32": 0, "fp16": 1, "int8": 2}
_COMPRESSION_CODES = {None: 0, "zlib": 1, "lz4": 2}
_NUMPY_DTYPES = {"fp32": np.dtype("<f4"), "fp16": np.dtype("<f2"), "int8": np.dtype("u1")}

LostRanges = Sequence[tuple[int, int]]


def lz4_available() -> bool:
    try:
        import lz4.block  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class TensorEncoding:
    """How a split's payload tensors travel: element type, then optional compression."""

    dtype: str  # one of TENSOR_DTYPES
    compression: str | None = None  # one of COMPRESSIONS, or None

    @property
    def name(self) -> str:
        return self.dtype if self.compression is None else f"{self.dtype}+{self.compression}"


@dataclass(frozen=True)
class InputEncoding:
    """How the `remote` strategy sends the input image: raw uint8 pixels or JPEG."""

    kind: str  # "raw" | "jpeg"
    quality: int | None = None  # JPEG quality 1..95

    @property
    def name(self) -> str:
        return "raw" if self.kind == "raw" else f"jpeg{self.quality}"


def parse_tensor_encoding(text: str) -> TensorEncoding:
    """`fp32`, `fp16`, `int8`, each optionally `+zlib` or `+lz4`."""
    parts = [p.strip().lower() for p in text.strip().split("+")]
    if len(parts) not in (1, 2) or parts[0] not in TENSOR_DTYPES:
        raise SeiInputError(
            f"tensor encoding {text!r}: expected one of {', '.join(TENSOR_DTYPES)}, "
            "optionally followed by +zlib or +lz4"
        )
    compression = parts[1] if len(parts) == 2 else None
    if compression is not None and compression not in COMPRESSIONS:
        raise SeiInputError(f"tensor encoding {text!r}: unknown compression {compression!r}")
    if compression == "lz4" and not lz4_available():
        raise SeiInputError(f"tensor encoding {text!r}: lz4 is not installed (pip install lz4)")
    return TensorEncoding(parts[0], compression)


def parse_input_encoding(text: str) -> InputEncoding:
    """`raw` or `jpeg` / `jpegQ` / `jpeg:Q` with quality Q in 1..95 (default 90)."""
    t = text.strip().lower()
    if t == "raw":
        return InputEncoding("raw")
    m = re.fullmatch(r"jpeg:?(\d+)?", t)
    if m is None:
        raise SeiInputError(f"input encoding {text!r}: expected raw or jpeg[:QUALITY]")
    quality = int(m.group(1)) if m.group(1) else 90
    if not 1 <= quality <= 95:
        raise SeiInputError(f"input encoding {text!r}: JPEG quality must be in 1..95")
    return InputEncoding("jpeg", quality)


# What `sei analyze` and the TUI evaluate unless told otherwise (the same set in both).
DEFAULT_TENSOR_ENCODINGS = ("fp32", "fp16", "int8", "int8+zlib")
DEFAULT_INPUT_ENCODINGS = ("raw", "jpeg90")


def default_tensor_encodings() -> list[TensorEncoding]:
    return [parse_tensor_encoding(name) for name in DEFAULT_TENSOR_ENCODINGS]


# ---------------------------------------------------------------- int8 quantisation


# Casting to fp16 overflows to +-inf and NaN quantises by clipping: the documented results
# of these encodings, not accidents, so numpy's warnings about them are silenced.
def _IEEE_CASTS(function):  # noqa: N802 - reads as the decorator it is
    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):  # a fresh one: nesting, threads
            return function(*args, **kwargs)

    return quiet


def quantisation_params(values: np.ndarray) -> tuple[float, int]:
    """Per-tensor affine (scale, zero_point) from min/max, the range widened to include 0."""
    lo = min(float(values.min()), 0.0) if values.size else 0.0
    hi = max(float(values.max()), 0.0) if values.size else 0.0
    scale = float(np.float32((hi - lo) / 255.0))
    if scale == 0.0 or not np.isfinite(scale):
        return 1.0, 0
    zero_point = int(min(max(round(-lo / scale), 0), 255))
    return scale, zero_point


@_IEEE_CASTS
def quantise(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    q = np.rint(values.astype(np.float64) / np.float32(scale)) + zero_point
    return np.clip(q, 0, 255).astype(np.uint8)


def dequantise(codes: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((codes.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(
        np.float32
    )


# ---------------------------------------------------------------- compression


def _compress(raw: bytes | memoryview, compression: str) -> bytes:
    if compression == "zlib":
        return zlib.compress(raw, ZLIB_LEVEL)
    import lz4.block

    return lz4.block.compress(bytes(raw), store_size=False)


def _decompress(block: bytes, compression: str, raw_size: int) -> bytes:
    if compression == "zlib":
        # bounded: a block never inflates past its raw size (a peer's frame may lie)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(block, raw_size)
        if len(raw) == raw_size and not inflater.eof:  # only the checksum may remain
            raw += inflater.decompress(inflater.unconsumed_tail, 1)
        if not inflater.eof or len(raw) != raw_size:
            raise ValueError(f"a zlib block does not hold the {raw_size} bytes it should")
        return raw
    import lz4.block

    return lz4.block.decompress(block, uncompressed_size=raw_size)


def _decompress_prefix(prefix: bytes, compression: str) -> bytes:
    """What a receiver can still decode from a block cut at its first lost byte."""
    if compression != "zlib" or not prefix:
        return b""  # lz4 blocks are all or nothing
    try:
        return zlib.decompressobj().decompress(prefix)
    except zlib.error:
        return b""


# ---------------------------------------------------------------- tensor payloads


def _as_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().to("cpu").float().numpy()
    return np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))


@_IEEE_CASTS
def encode_tensors(tensors: Sequence, encoding: TensorEncoding) -> bytes:
    """One frame: the header, then the tensors' elements in `encoding`."""
    arrays = [_as_numpy(t) for t in tensors]
    if len(arrays) > 255:
        raise ValueError("a frame carries at most 255 tensors")
    header = bytearray(
        struct.pack(
            "<BBBB",
            FORMAT_VERSION,
            _DTYPE_CODES[encoding.dtype],
            _COMPRESSION_CODES[encoding.compression],
            len(arrays),
        )
    )
    chunks: list[bytes] = []
    for a in arrays:
        if encoding.dtype == "int8":
            scale, zero_point = quantisation_params(a)
            header += struct.pack("<fB", scale, zero_point)
            chunks.append(quantise(a, scale, zero_point).tobytes())
        else:
            chunks.append(a.astype(_NUMPY_DTYPES[encoding.dtype]).tobytes())
    raw = b"".join(chunks)
    if encoding.compression is None:
        return bytes(header) + raw
    blocks = [
        _compress(raw[i : i + RAW_BLOCK_BYTES], encoding.compression)
        for i in range(0, len(raw), RAW_BLOCK_BYTES)
    ]
    header += struct.pack("<II", RAW_BLOCK_BYTES, len(blocks))
    header += b"".join(struct.pack("<I", len(b)) for b in blocks)
    return bytes(header) + b"".join(blocks)


@dataclass
class EncodedBatch:
    """Frames of a batch of images in one encoding, and what a receiver decodes from them."""

    frames: list[bytes]  # frame j == encode_tensors([t[j:j+1] for t in tensors], encoding)
    decoded: list[np.ndarray]  # per tensor, (N, ...) float32: decode_tensors of each frame


@dataclass
class BatchBody:
    """A batch of images' payload tensors in one element type, before framing."""

    dtype: str
    params: list[bytes]  # per image: the int8 header parameters (empty for fp32/fp16)
    codes: list[np.ndarray]  # per tensor, (N, elements) in wire order
    decoded: list[np.ndarray]  # per tensor, (N, ...) float32: what the receiver decodes


def batch_bodies(tensors: Sequence, dtypes: Sequence[str]) -> dict[str, BatchBody]:
    """The payload tensors of a batch (first axis: images) converted once per element type."""
    arrays = [_as_numpy(t) for t in tensors]
    if len(arrays) > 255:
        raise ValueError("a frame carries at most 255 tensors")
    n = arrays[0].shape[0] if arrays else 0
    flat = [a.reshape(n, int(np.prod(a.shape[1:]))) for a in arrays]
    out = {}
    for dtype in dict.fromkeys(dtypes):
        params, codes, decoded = _batch_bodies(flat, dtype)
        shaped = [d.reshape(a.shape) for d, a in zip(decoded, arrays, strict=True)]
        out[dtype] = BatchBody(dtype, params, codes, shaped)
    return out


def batch_frames(body: BatchBody, encoding: TensorEncoding) -> list[bytes]:
    """Frame j is what `encode_tensors` makes of image j (`body` in `encoding.dtype`)."""
    if body.dtype != encoding.dtype:
        raise ValueError(f"a {body.dtype} body cannot be framed as {encoding.name}")
    header = struct.pack(
        "<BBBB",
        FORMAT_VERSION,
        _DTYPE_CODES[encoding.dtype],
        _COMPRESSION_CODES[encoding.compression],
        len(body.codes),
    )
    frames = []
    for j, params in enumerate(body.params):
        rows = [memoryview(c[j]).cast("B") for c in body.codes]
        if encoding.compression is None:
            frames.append(b"".join([header, params, *rows]))
            continue
        raw = rows[0] if len(rows) == 1 else memoryview(b"".join(rows))
        blocks = [
            _compress(raw[i : i + RAW_BLOCK_BYTES], encoding.compression)
            for i in range(0, len(raw), RAW_BLOCK_BYTES)
        ]
        lengths = struct.pack(f"<II{len(blocks)}I", RAW_BLOCK_BYTES, len(blocks), *map(len, blocks))
        frames.append(b"".join([header, params, lengths, *blocks]))
    return frames


def encode_tensor_batches(
    tensors: Sequence, encodings: Sequence[TensorEncoding]
) -> dict[TensorEncoding, EncodedBatch]:
    """Every image of a batch (the first axis of each tensor) in every encoding at once.

    Byte for byte what `encode_tensors` gives image by image, with the lossless decode as
    `decode_tensors` gives it, but element conversions run over the whole batch and each
    element type is converted once for all the compressions that share it."""
    bodies = batch_bodies(tensors, [e.dtype for e in encodings])
    return {
        e: EncodedBatch(batch_frames(bodies[e.dtype], e), bodies[e.dtype].decoded)
        for e in encodings
    }


@_IEEE_CASTS
def _batch_bodies(
    flat: list[np.ndarray], dtype: str
) -> tuple[list[bytes], list[np.ndarray], list[np.ndarray]]:
    """Per image: the int8 header parameters; per tensor: the (N, elements) codes in wire
    order and the decoded float32 values. Element-wise the same operations as
    `encode_tensors` and `decode_tensors` (IEEE conversions and arithmetic, so batching
    changes no bit); the int8 work runs image by image in reused buffers (cache-sized)."""
    n = flat[0].shape[0] if flat else 0
    params = [b""] * n
    codes: list[np.ndarray] = []
    decoded: list[np.ndarray] = []
    if dtype == "int8":
        packed = [bytearray() for _ in range(n)]
        for f in flat:
            c = np.empty(f.shape, dtype=np.uint8)
            d = np.empty(f.shape, dtype=np.float32)
            buffer = np.empty(f.shape[1], dtype=np.float64)
            for j in range(n):
                scale, zero_point = quantisation_params(f[j])
                packed[j] += struct.pack("<fB", scale, zero_point)
                # quantise(): float64 x / scale, rint, + zero_point, clip, to uint8
                np.divide(f[j], np.float64(scale), out=buffer)
                np.rint(buffer, out=buffer)
                np.add(buffer, zero_point, out=buffer)
                np.clip(buffer, 0, 255, out=buffer)
                np.copyto(c[j], buffer, casting="unsafe")
                # dequantise(): float32 (q - zero_point) * scale
                np.subtract(c[j], np.float32(zero_point), out=d[j], dtype=np.float32)
                np.multiply(d[j], np.float32(scale), out=d[j])
            codes.append(c)
            decoded.append(d)
        params = [bytes(p) for p in packed]
    elif dtype == "fp32":
        for f in flat:
            c = np.ascontiguousarray(f, dtype=_NUMPY_DTYPES["fp32"])  # no copy on x86/ARM
            codes.append(c)
            decoded.append(c.astype(np.float32, copy=False))
    else:
        for f in flat:
            c, d = _to_fp16(f)
            codes.append(c)
            decoded.append(d)
    return params, codes, decoded


@_IEEE_CASTS
def _to_fp16(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(little-endian fp16 codes, their float32 values). torch's vectorised conversion is
    IEEE round-to-nearest-even like numpy's, so identical except in NaN payload bits: with
    a NaN present (or on a big-endian machine) numpy converts."""
    if sys.byteorder == "little":
        import torch

        if not np.isnan(values).any():
            half = torch.from_numpy(values).half()
            return half.numpy(), half.float().numpy()
    c = values.astype(_NUMPY_DTYPES["fp16"])
    return c, c.astype(np.float32)


def _lost_mask(length: int, lost_ranges: LostRanges, offset: int) -> np.ndarray:
    """Boolean mask over `length` bytes starting at frame byte `offset`."""
    mask = np.zeros(length, dtype=bool)
    for start, end in lost_ranges:
        s, e = max(start - offset, 0), min(end - offset, length)
        if s < e:
            mask[s:e] = True
    return mask


def _header_lost(header_size: int, lost_ranges: LostRanges) -> bool:
    return any(start < header_size and end > start for start, end in lost_ranges)


def decode_tensors(
    data: bytes,
    shapes: Sequence[Sequence[int]],
    lost_ranges: LostRanges = (),
) -> list[np.ndarray]:
    """Decode a frame into float32 arrays of `shapes`, concealing `lost_ranges` ([start, end)
    byte ranges of the frame) by the rule in the module docstring."""
    counts = [int(np.prod(s)) if len(s) else 1 for s in shapes]
    lost_ranges = [(int(a), int(b)) for a, b in lost_ranges if b > a]
    version, dtype_code, comp_code, n = struct.unpack_from("<BBBB", data, 0)
    zeros = [np.zeros(tuple(s), dtype=np.float32) for s in shapes] if lost_ranges else []
    if _header_lost(4, lost_ranges):
        return zeros
    if version != FORMAT_VERSION or n != len(shapes):
        raise ValueError(f"frame header does not match: version {version}, {n} tensors")
    dtype = TENSOR_DTYPES[dtype_code]
    compression = {v: k for k, v in _COMPRESSION_CODES.items()}[comp_code]
    pos = 4
    params: list[tuple[float, int]] = []
    if dtype == "int8":
        for _ in range(n):
            params.append(struct.unpack_from("<fB", data, pos))
            pos += 5
    itemsize = _NUMPY_DTYPES[dtype].itemsize
    raw_size = sum(counts) * itemsize
    if compression is None:
        if _header_lost(pos, lost_ranges):
            return zeros
        raw = data[pos : pos + raw_size]
        raw_lost = _lost_mask(raw_size, lost_ranges, pos) if lost_ranges else None
    else:
        block_raw, nblocks = struct.unpack_from("<II", data, pos)
        lengths = struct.unpack_from(f"<{nblocks}I", data, pos + 8)
        body = pos + 8 + 4 * nblocks
        if _header_lost(body, lost_ranges):
            return zeros
        pieces: list[bytes] = []
        raw_lost = np.zeros(raw_size, dtype=bool) if lost_ranges else None
        offset = body
        for b, length in enumerate(lengths):
            this_raw = min(block_raw, raw_size - b * block_raw)
            block = data[offset : offset + length]
            lost = _lost_mask(length, lost_ranges, offset) if lost_ranges else None
            if lost is not None and lost.any():
                first = int(np.argmax(lost))
                part = _decompress_prefix(block[:first], compression)[:this_raw]
                raw_lost[b * block_raw + len(part) : b * block_raw + this_raw] = True
                part = part + bytes(this_raw - len(part))
            else:
                part = _decompress(block, compression, this_raw)
            pieces.append(part)
            offset += length
        raw = b"".join(pieces)
    codes = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype], count=sum(counts))
    element_lost = None if raw_lost is None else raw_lost.reshape(-1, itemsize).any(axis=1)
    out: list[np.ndarray] = []
    start = 0
    for i, (shape, count) in enumerate(zip(shapes, counts, strict=True)):
        chunk = codes[start : start + count]
        if dtype == "int8":
            values = dequantise(chunk, *params[i])
        else:
            values = chunk.astype(np.float32)
        if element_lost is not None:
            values = np.where(element_lost[start : start + count], np.float32(0.0), values)
        out.append(values.reshape(tuple(shape)))
        start += count
    return out


# ---------------------------------------------------------------- remote inputs

_IMAGE_KINDS = {"raw": 0, "jpeg": 1}
_truncated_jpeg_lock = threading.Lock()


def encode_image(image, encoding: InputEncoding) -> bytes:
    """One `remote` frame from an image tensor (C, H, W) or (1, C, H, W)."""
    a = _as_numpy(image)
    if a.ndim == 4:
        a = a[0]
    channels = a.shape[0]
    header = bytearray(struct.pack("<BBB", FORMAT_VERSION, _IMAGE_KINDS[encoding.kind], channels))
    pixels = np.empty(a.shape[1:] + (channels,), dtype=np.uint8)
    for c in range(channels):
        lo, hi = float(a[c].min()), float(a[c].max())
        scale = float(np.float32((hi - lo) / 255.0)) or 1.0
        header += struct.pack("<ff", lo, scale)
        pixels[..., c] = np.clip(np.rint((a[c] - np.float32(lo)) / np.float32(scale)), 0, 255)
    if encoding.kind == "raw":
        return bytes(header) + pixels.tobytes()
    from PIL import Image

    picture = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=encoding.quality)
    return bytes(header) + buffer.getvalue()


def decode_image(data: bytes, shape: Sequence[int], lost_ranges: LostRanges = ()) -> np.ndarray:
    """Decode a `remote` frame into a float32 (C, H, W) array, concealing lost bytes."""
    channels, height, width = (int(s) for s in shape[-3:])
    lost_ranges = [(int(a), int(b)) for a, b in lost_ranges if b > a]
    header_size = 3 + 8 * channels
    zeros = np.zeros((channels, height, width), dtype=np.float32)
    if _header_lost(header_size, lost_ranges):
        return zeros
    _, kind, _ = struct.unpack_from("<BBB", data, 0)
    affine = [struct.unpack_from("<ff", data, 3 + 8 * c) for c in range(channels)]
    body = data[header_size:]
    lost = _lost_mask(len(body), lost_ranges, header_size)
    if kind == _IMAGE_KINDS["raw"]:
        pixels = np.frombuffer(body, dtype=np.uint8).reshape(height, width, channels)
        pixel_lost = lost.reshape(height, width, channels)
    else:
        cut = int(np.argmax(lost)) if lost.any() else len(body)
        pixels = _decode_jpeg(body[:cut], truncated=cut < len(body))
        if pixels is None:
            return zeros
        pixels = pixels.reshape(height, width, channels)
        pixel_lost = np.zeros(pixels.shape, dtype=bool)
    out = np.empty((channels, height, width), dtype=np.float32)
    for c, (lo, scale) in enumerate(affine):
        values = pixels[..., c].astype(np.float32) * np.float32(scale) + np.float32(lo)
        out[c] = np.where(pixel_lost[..., c], np.float32(0.0), values)
    return out


def _decode_jpeg(jpeg: bytes, truncated: bool) -> np.ndarray | None:
    from PIL import Image, ImageFile

    if not jpeg:
        return None
    try:
        if not truncated:
            return np.asarray(Image.open(io.BytesIO(jpeg)))
        # PIL's switch is process-wide: hold a lock while decoding a cut stream.
        with _truncated_jpeg_lock:
            before = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            try:
                picture = Image.open(io.BytesIO(jpeg))
                picture.load()
                return np.asarray(picture)
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = before
    except (OSError, SyntaxError, ValueError):
        return None


# ---------------------------------------------------------------- local results

RESULT_FORMAT = "<BIIf"  # version, frame index, top-1 class, its probability
RESULT_BYTES = struct.calcsize(RESULT_FORMAT)


def encode_result(frame_index: int, top1: int, probability: float) -> bytes:
    """What `local` sends: the top-1 class and its probability (13 bytes)."""
    return struct.pack(RESULT_FORMAT, FORMAT_VERSION, frame_index, top1, probability)
