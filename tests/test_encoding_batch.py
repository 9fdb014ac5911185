"""Batch encoding is byte for byte the image-by-image encoder, with the decoder's values.

Reference: `encode_tensors` on each image's slice and `decode_tensors` of that frame.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sei_tui.core.evaluation.encoding import (
    RAW_BLOCK_BYTES,
    TensorEncoding,
    decode_tensors,
    encode_tensor_batches,
    encode_tensors,
    lz4_available,
)

ENCODINGS = [
    TensorEncoding(dtype, compression)
    for compression in [None, "zlib"] + (["lz4"] if lz4_available() else [])
    for dtype in ("fp32", "fp16", "int8")
]


def check_against_reference(tensors):
    batches = encode_tensor_batches(tensors, ENCODINGS)
    n = tensors[0].shape[0]
    shapes = [(1, *t.shape[1:]) for t in tensors]
    for encoding in ENCODINGS:
        batch = batches[encoding]
        assert len(batch.frames) == n
        for j in range(n):
            reference = encode_tensors([t[j : j + 1] for t in tensors], encoding)
            assert batch.frames[j] == reference, (encoding, j)
            for got, want in zip(batch.decoded, decode_tensors(reference, shapes), strict=True):
                assert got.dtype == np.float32
                # bitwise, NaN included
                assert got[j : j + 1].tobytes() == want.tobytes(), (encoding, j)


def test_relu_like_payload_of_two_tensors():
    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((5, 4, 8, 8)), 0).astype(np.float32)
    b = rng.standard_normal((5, 10)).astype(np.float32) * 100
    check_against_reference([a, b])


def test_constant_images_and_a_payload_over_one_compression_block():
    rng = np.random.default_rng(1)
    big = rng.standard_normal((3, RAW_BLOCK_BYTES // 2 + 7)).astype(np.float32)
    big[1] = 0.0  # scale 0: the quantiser's (1.0, 0) fallback
    big[2] = -3.5  # all negative, constant
    check_against_reference([big])


def test_fp16_rounding_edges_without_nan():
    """Ties, subnormals, overflow and signed zeros round as numpy rounds them."""
    edges = [65504, 65519.99, 65520, 1 + 2**-11, 1 + 3 * 2**-11, 2**-24, 2**-25, 3 * 2**-26]
    edges += [1e-8, -0.0, np.inf, -np.inf, -(1 + 2**-11), 6.1e-5, 5.96e-8]
    values = np.array([edges, [-v for v in edges]], dtype=np.float32)
    check_against_reference([values])


def test_torch_tensors_as_the_head_gives_them():
    import torch

    x = torch.randn(4, 3, 5, 5).permute(0, 2, 3, 1)  # not contiguous
    check_against_reference([x])


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 4), st.integers(0, 6), st.integers(1, 5)),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    )
)
def test_any_float32_values(values):
    check_against_reference([values, values[:, :1, :] * 2])
