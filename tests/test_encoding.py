"""Payload encodings: sizes, round-trip error bounds, and concealment of lost bytes."""

import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.encoding import (
    RAW_BLOCK_BYTES,
    TensorEncoding,
    decode_image,
    decode_tensors,
    encode_image,
    encode_tensors,
    lz4_available,
    parse_input_encoding,
    parse_tensor_encoding,
)


def relu_tensor(shape, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal(shape), 0).astype(np.float32)


def test_fp32_round_trip_is_exact_and_size_is_header_plus_4_bytes_per_element():
    a, b = relu_tensor((1, 4, 8, 8)), relu_tensor((1, 10), seed=1)
    frame = encode_tensors([a, b], TensorEncoding("fp32"))
    assert len(frame) == 4 + 4 * (a.size + b.size)
    da, db = decode_tensors(frame, [a.shape, b.shape])
    assert np.array_equal(da, a) and np.array_equal(db, b)


def test_fp16_error_is_within_half_an_ulp():
    a = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32) * 10
    frame = encode_tensors([a], TensorEncoding("fp16"))
    assert len(frame) == 4 + 2 * a.size
    (d,) = decode_tensors(frame, [a.shape])
    # fp16 has an 11-bit significand: round-to-nearest error <= |x| * 2^-11 (normal range)
    assert np.all(np.abs(d - a) <= np.abs(a) * 2.0**-11 + 2.0**-25)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.integers(1, 300),
        elements=st.floats(-1e4, 1e4, width=32, allow_nan=False),
    )
)
@example(np.array([1e-45], dtype=np.float32))  # range / 255 underflows f32: scale stored as 0
def test_int8_error_is_at_most_half_a_step(a):
    frame = encode_tensors([a], TensorEncoding("int8"))
    assert len(frame) == 4 + 5 + a.size
    (d,) = decode_tensors(frame, [a.shape])
    lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
    scale = float(np.float32((hi - lo) / 255.0))  # as the frame stores it: an f32
    if scale == 0:  # no range (or one below f32's smallest step): everything decodes to 0
        assert np.all(d == 0)
    else:
        # float32 arithmetic in the decoder adds at most a few ulps of the value
        assert np.all(np.abs(d - a) <= scale / 2 * (1 + 1e-5) + np.abs(a) * 1e-6)


def test_int8_keeps_zero_exact():
    a = relu_tensor((1, 2, 8, 8), seed=3)
    (d,) = decode_tensors(encode_tensors([a], TensorEncoding("int8")), [a.shape])
    assert np.all(d[a == 0] == 0.0)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "int8"])
def test_zlib_size_is_header_plus_zlib_level1_of_each_block(dtype):
    a = relu_tensor((1, 16, 40, 40), seed=4)  # 102400 B as fp32: two blocks
    enc = TensorEncoding(dtype, "zlib")
    frame = encode_tensors([a], enc)
    if dtype == "int8":
        hi = float(a.max())  # relu output: min is 0, so zero_point is 0
        scale = np.float32(hi / 255.0)
        raw = np.clip(np.rint(a.astype(np.float64) / scale), 0, 255).astype(np.uint8).tobytes()
        header = 4 + 5
    else:
        raw = a.astype("<f4" if dtype == "fp32" else "<f2").tobytes()
        header = 4
    blocks = [raw[i : i + RAW_BLOCK_BYTES] for i in range(0, len(raw), RAW_BLOCK_BYTES)]
    expected = header + 8 + 4 * len(blocks) + sum(len(zlib.compress(b, 1)) for b in blocks)
    assert len(frame) == expected
    (d,) = decode_tensors(frame, [a.shape])
    plain = decode_tensors(encode_tensors([a], TensorEncoding(dtype)), [a.shape])[0]
    assert np.array_equal(d, plain)  # compression is lossless


def test_lost_bytes_zero_exactly_the_elements_they_touch():
    a = relu_tensor((1, 100), seed=5) + 1.0  # no zeros of its own
    frame = encode_tensors([a], TensorEncoding("fp32"))
    # element k occupies frame bytes [4 + 4k, 8 + 4k): lose one byte of element 7
    # and bytes spanning elements 20..22
    (d,) = decode_tensors(frame, [a.shape], [(4 + 28 + 2, 4 + 28 + 3), (4 + 80 + 3, 4 + 92)])
    zeroed = np.flatnonzero(d[0] == 0)
    assert zeroed.tolist() == [7, 20, 21, 22]
    keep = np.ones(100, bool)
    keep[zeroed] = False
    assert np.array_equal(d[0][keep], a[0][keep])


def test_int8_lost_elements_decode_to_zero():
    a = relu_tensor((1, 50), seed=6) + 0.5
    frame = encode_tensors([a], TensorEncoding("int8"))
    (d,) = decode_tensors(frame, [a.shape], [(9 + 10, 9 + 15)])
    assert np.flatnonzero(d[0] == 0).tolist() == [10, 11, 12, 13, 14]


def test_lost_header_loses_the_frame():
    a = relu_tensor((1, 20), seed=7) + 1.0
    frame = encode_tensors([a], TensorEncoding("int8"))
    (d,) = decode_tensors(frame, [a.shape], [(5, 6)])  # inside the scale
    assert np.all(d == 0)


def test_loss_in_a_compressed_block_spares_other_blocks_and_the_decodable_prefix():
    a = relu_tensor((1, 48000), seed=8) + 0.25  # 192000 raw bytes: 3 blocks
    enc = TensorEncoding("fp32", "zlib")
    frame = encode_tensors([a], enc)
    nblocks = struct.unpack_from("<I", frame, 8)[0]
    lengths = struct.unpack_from(f"<{nblocks}I", frame, 12)
    body = 12 + 4 * nblocks
    second = body + lengths[0]
    cut = second + lengths[1] // 2  # first lost byte in the middle of block 1
    (d,) = decode_tensors(frame, [a.shape], [(cut, cut + 100)])
    per_block = RAW_BLOCK_BYTES // 4
    flat, ref = d[0], a[0]
    assert np.array_equal(flat[:per_block], ref[:per_block])  # block 0 untouched
    assert np.array_equal(flat[2 * per_block :], ref[2 * per_block :])  # block 2 untouched
    middle, middle_ref = flat[per_block : 2 * per_block], ref[per_block : 2 * per_block]
    lost = np.flatnonzero(middle == 0)
    assert 0 < len(lost) < per_block
    # lost elements form the block's tail: everything before them decoded exactly
    assert lost.tolist() == list(range(lost[0], per_block))
    assert np.array_equal(middle[: lost[0]], middle_ref[: lost[0]])


def test_parse_encodings():
    assert parse_tensor_encoding("int8+zlib") == TensorEncoding("int8", "zlib")
    assert parse_tensor_encoding(" FP16 ").name == "fp16"
    assert parse_input_encoding("jpeg:75").name == "jpeg75"
    assert parse_input_encoding("raw").name == "raw"
    for bad in ["int4", "fp32+gzip", "fp32+zlib+zlib", ""]:
        with pytest.raises(SeiInputError, match=f"^tensor encoding {re.escape(repr(bad))}: "):
            parse_tensor_encoding(bad)
    for bad in ["png", "jpeg:0", "jpeg:100"]:
        with pytest.raises(SeiInputError, match=f"^input encoding {re.escape(repr(bad))}: "):
            parse_input_encoding(bad)


def test_lz4_is_used_when_installed_and_refused_clearly_when_not():
    if lz4_available():
        a = relu_tensor((1, 8, 8, 8), seed=9)
        frame = encode_tensors([a], parse_tensor_encoding("fp32+lz4"))
        assert np.array_equal(decode_tensors(frame, [a.shape])[0], a)
    else:
        with pytest.raises(SeiInputError, match="lz4 is not installed"):
            parse_tensor_encoding("fp32+lz4")


def smooth_image(channels=3, size=32):
    y, x = np.mgrid[0:size, 0:size] / size
    return np.stack([(x + c * y) / (1 + c) for c in range(channels)]).astype(np.float32)


def test_raw_image_error_is_half_a_step_per_channel_and_size_is_pixels_plus_header():
    img = smooth_image()
    frame = encode_image(img, parse_input_encoding("raw"))
    assert len(frame) == 3 + 8 * 3 + img.size
    d = decode_image(frame, img.shape)
    for c in range(3):
        step = (img[c].max() - img[c].min()) / 255
        assert np.abs(d[c] - img[c]).max() <= step / 2 * (1 + 1e-4)


def test_raw_image_lost_bytes_zero_their_pixel_channels():
    img = smooth_image() + 1.0
    frame = encode_image(img, parse_input_encoding("raw"))
    header = 3 + 24
    d = decode_image(frame, img.shape, [(header + 30, header + 33)])  # pixel 10, HWC order
    assert np.all(d[:, 0, 10] == 0)
    assert np.count_nonzero(d == 0) == 3


def test_jpeg_is_smaller_than_raw_and_close_on_a_smooth_image():
    img = smooth_image(size=64)
    raw = encode_image(img, parse_input_encoding("raw"))
    jpeg = encode_image(img, parse_input_encoding("jpeg:90"))
    assert len(jpeg) < len(raw)
    d = decode_image(jpeg, img.shape)
    assert np.abs(d - img).mean() < 0.02
    truncated = decode_image(jpeg, img.shape, [(len(jpeg) // 2, len(jpeg))])
    assert truncated.shape == img.shape
    assert np.abs(truncated - img).mean() > np.abs(d - img).mean()


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["fp32", "fp16", "int8"]),
    st.lists(st.tuples(st.integers(0, 500), st.integers(1, 60)), max_size=4),
)
def test_concealment_zeroes_exactly_the_elements_with_a_lost_byte(dtype, cuts):
    a = relu_tensor((1, 100), seed=11) + 0.5  # no element is zero by itself
    enc = TensorEncoding(dtype)
    frame = encode_tensors([a], enc)
    header = 4 + (5 if dtype == "int8" else 0)
    itemsize = {"fp32": 4, "fp16": 2, "int8": 1}[dtype]
    ranges = [(start, start + length) for start, length in cuts]
    (whole,) = decode_tensors(frame, [a.shape])
    (got,) = decode_tensors(frame, [a.shape], ranges)
    if any(start < header for start, _ in ranges):
        assert np.all(got == 0)  # the header carries the decoder's parameters
        return
    for k in range(100):
        first, last = header + k * itemsize, header + (k + 1) * itemsize
        hit = any(start < last and end > first for start, end in ranges)
        assert got[0, k] == (0.0 if hit else whole[0, k])
