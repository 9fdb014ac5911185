"""The lz4 codec path: round trips, 64 KiB block boundaries, and concealment of lost bytes.

The frame layout (encoding.py's docstring) is read here with `struct`, independently of the
decoder: `u8 version | u8 dtype | u8 compression | u8 tensor count`, per int8 tensor
`f32 scale | u8 zero point`, then `u32 raw block size | u32 block count | u32 length per
block`, then the blocks, each an independent lz4 block of (up to) 65536 raw bytes. An lz4
block that lost any byte is lost whole; its elements decode to 0.0, other blocks exactly.
"""

import struct

import numpy as np
import pytest

lz4_block = pytest.importorskip("lz4.block")

from sei_tui.core.evaluation.encoding import (  # noqa: E402 - after the skip
    TensorEncoding,
    decode_tensors,
    encode_tensor_batches,
    encode_tensors,
)

BLOCK = 65536
ITEMSIZE = {"fp32": 4, "fp16": 2, "int8": 1}


def relu_tensor(shape, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal(shape), 0).astype(np.float32)


def layout(frame: bytes, tensors: int, dtype: str):
    """(body offset, [(frame offset, length) per block], raw block size) read by hand."""
    version, dtype_code, compression, count = struct.unpack_from("<BBBB", frame, 0)
    assert (version, dtype_code, compression, count) == (1, list(ITEMSIZE).index(dtype), 2, tensors)
    pos = 4 + (5 * tensors if dtype == "int8" else 0)
    raw_block, nblocks = struct.unpack_from("<II", frame, pos)
    lengths = struct.unpack_from(f"<{nblocks}I", frame, pos + 8)
    body = pos + 8 + 4 * nblocks
    blocks, offset = [], body
    for length in lengths:
        blocks.append((offset, length))
        offset += length
    assert offset == len(frame)  # the blocks fill the rest of the frame
    return body, blocks, raw_block


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "int8"])
def test_lz4_round_trip_equals_the_uncompressed_decode(dtype):
    a, b = relu_tensor((1, 8, 12, 12), seed=1), relu_tensor((1, 300), seed=2)
    shapes = [a.shape, b.shape]
    plain = encode_tensors([a, b], TensorEncoding(dtype))
    packed = encode_tensors([a, b], TensorEncoding(dtype, "lz4"))
    expected = decode_tensors(plain, shapes)
    got = decode_tensors(packed, shapes)
    for e, g in zip(expected, got, strict=True):
        assert np.array_equal(e, g)
    # the batched encoder makes the same frame, byte for byte
    batch = encode_tensor_batches([a, b], [TensorEncoding(dtype, "lz4")])
    assert list(batch.values())[0].frames == [packed]


@pytest.mark.parametrize(
    ("dtype", "elements"), [("fp32", 40_000), ("fp16", 70_000), ("int8", 200_000)]
)
def test_payloads_over_64_kib_are_split_into_independent_blocks(dtype, elements):
    a = relu_tensor((1, elements), seed=3)
    plain = encode_tensors([a], TensorEncoding(dtype))
    frame = encode_tensors([a], TensorEncoding(dtype, "lz4"))
    raw_size = elements * ITEMSIZE[dtype]
    raw = plain[len(plain) - raw_size :]  # the uncompressed frame's body: the raw bytes
    _, blocks, raw_block = layout(frame, 1, dtype)
    assert raw_block == BLOCK
    assert len(blocks) == -(-raw_size // BLOCK)  # ceil: fp32 3, fp16 3, int8 4 blocks
    for b, (offset, length) in enumerate(blocks):
        this = raw[b * BLOCK : (b + 1) * BLOCK]
        # each block decompresses on its own to its 64 KiB slice (the last one shorter)
        assert lz4_block.decompress(frame[offset : offset + length], len(this)) == this
    assert (
        decode_tensors(frame, [a.shape])[0].tobytes()
        == decode_tensors(plain, [a.shape])[0].tobytes()
    )


def element_ranges(dtype: str, elements: int):
    """[first, end) element index of each block: BLOCK bytes / itemsize elements per block."""
    per = BLOCK // ITEMSIZE[dtype]
    return [(s, min(s + per, elements)) for s in range(0, elements, per)]


@pytest.mark.parametrize(
    ("dtype", "elements"), [("fp32", 40_000), ("fp16", 70_000), ("int8", 200_000)]
)
def test_a_lost_byte_loses_exactly_its_block(dtype, elements):
    a = relu_tensor((1, elements), seed=4) + 0.25  # no element is 0: concealment shows
    frame = encode_tensors([a], TensorEncoding(dtype, "lz4"))
    (whole,) = decode_tensors(frame, [a.shape])
    _, blocks, _ = layout(frame, 1, dtype)
    ranges = element_ranges(dtype, elements)
    assert len(ranges) == len(blocks)
    for b, (offset, length) in enumerate(blocks):
        for lost_byte in (offset, offset + length // 2, offset + length - 1):
            (got,) = decode_tensors(frame, [a.shape], [(lost_byte, lost_byte + 1)])
            first, end = ranges[b]
            assert np.all(got[0, first:end] == 0.0), (b, lost_byte)
            # every other block decodes exactly as without loss
            keep = np.ones(elements, dtype=bool)
            keep[first:end] = False
            assert np.array_equal(got[0, keep], whole[0, keep]), (b, lost_byte)


def test_a_range_across_a_block_boundary_loses_both_blocks():
    elements = 40_000  # fp32: blocks of 16384 elements, 16384, 7232
    a = relu_tensor((1, elements), seed=5) + 0.25
    frame = encode_tensors([a], TensorEncoding("fp32", "lz4"))
    (whole,) = decode_tensors(frame, [a.shape])
    _, blocks, _ = layout(frame, 1, "fp32")
    (_, _), (second, _), (third, third_length) = blocks
    # the last 2 bytes of block 0 and the first 3 of block 1
    (got,) = decode_tensors(frame, [a.shape], [(second - 2, second + 3)])
    assert np.all(got[0, :32768] == 0.0)
    assert np.array_equal(got[0, 32768:], whole[0, 32768:])
    # two separate ranges, in blocks 0 and 2: block 1 survives
    (got,) = decode_tensors(
        frame, [a.shape], [(second - 1, second), (third + third_length - 1, third + third_length)]
    )
    assert np.all(got[0, :16384] == 0.0) and np.all(got[0, 32768:] == 0.0)
    assert np.array_equal(got[0, 16384:32768], whole[0, 16384:32768])


@pytest.mark.parametrize("where", ["fixed header", "int8 scale", "block count", "length table"])
def test_a_lost_header_byte_loses_the_whole_frame(where):
    a = relu_tensor((1, 100_000), seed=6) + 0.25  # int8: 2 blocks
    frame = encode_tensors([a], TensorEncoding("int8", "lz4"))
    body, blocks, _ = layout(frame, 1, "int8")
    byte = {"fixed header": 2, "int8 scale": 4, "block count": 4 + 5 + 4, "length table": body - 1}[
        where
    ]
    (got,) = decode_tensors(frame, [a.shape], [(byte, byte + 1)])
    assert np.all(got == 0.0)
    # the same loss one byte into the body costs block 0 only (65536 int8 elements)
    (got,) = decode_tensors(frame, [a.shape], [(body, body + 1)])
    assert np.all(got[0, :BLOCK] == 0.0) and np.all(got[0, BLOCK:] != 0.0)


def test_two_tensors_share_the_blocks_in_order():
    # fp32: tensor a has 20 000 elements (80 000 raw bytes), b 10 000: raw 120 000 bytes,
    # blocks [0, 65536) and [65536, 120000): block 1 holds a's elements 16384.. and all of b
    a = relu_tensor((1, 20_000), seed=7) + 0.25
    b = relu_tensor((1, 10, 1000), seed=8) + 0.25
    frame = encode_tensors([a, b], TensorEncoding("fp32", "lz4"))
    whole_a, whole_b = decode_tensors(frame, [a.shape, b.shape])
    _, blocks, _ = layout(frame, 2, "fp32")
    assert len(blocks) == 2
    offset, length = blocks[1]
    got_a, got_b = decode_tensors(
        frame, [a.shape, b.shape], [(offset + length - 1, offset + length)]
    )
    assert np.array_equal(got_a[0, :16384], whole_a[0, :16384])
    assert np.all(got_a[0, 16384:] == 0.0) and np.all(got_b == 0.0)
