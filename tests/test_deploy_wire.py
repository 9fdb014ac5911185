"""The wire checks on their own: every payload the evaluation's encoder makes passes,
each broken field is refused before decoding, and bounds hold for incompressible data."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from sei_tui.core.deploy import wire
from sei_tui.core.deploy.manifest import Manifest, compressed_bound
from sei_tui.core.evaluation.encoding import encode_tensors, parse_tensor_encoding

SHAPES = [[1, 3, 50, 50], [1, 7]]  # 7507 elements: int8 fits one block, fp32 needs one too


def _manifest(encoding: str, shapes=SHAPES) -> Manifest:
    document = {
        "format_version": 1,
        "weights_digest": "d" * 64,
        "split_index": 3,
        "encoding": encoding,
        "tensors": [
            {"name": f"t{i}", "shape": s, "dtype": "float32"} for i, s in enumerate(shapes)
        ],
    }
    return Manifest(document, parse_tensor_encoding(encoding), Path("."))


def _tensors(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("encoding", ["fp32", "fp16", "int8", "fp32+zlib", "int8+zlib"])
def test_encoder_frames_pass_and_decode_like_the_evaluation(encoding):
    manifest = _manifest(encoding)
    tensors = _tensors()
    payload = encode_tensors(tensors, manifest.encoding)
    assert len(payload) <= manifest.max_frame_bytes  # noise: the incompressible case
    frame_id, decoded = wire.decode_frame(wire.frame_body(9, payload), manifest)
    assert frame_id == 9
    tolerance = {"fp32": 0, "fp16": 1e-2, "int8": 0.05}[encoding.split("+")[0]]
    for got, want in zip(decoded, tensors, strict=True):
        assert got.shape == want.shape
        assert float(np.abs(got - want).max()) <= tolerance * max(1, float(np.abs(want).max()))


def test_uncompressed_frame_size_is_exact():
    manifest = _manifest("fp16")
    assert manifest.max_frame_bytes == 4 + 2 * (3 * 50 * 50 + 7)


def _refused(manifest, payload, needle):
    with pytest.raises(wire.WireError) as err:
        wire.decode_frame(wire.frame_body(1, payload), manifest)
    assert needle in str(err.value)


def test_each_broken_header_field_is_refused():
    manifest = _manifest("int8")
    good = bytearray(encode_tensors(_tensors(), manifest.encoding))
    for offset, value, needle in [
        (0, 2, "format version 2"),
        (1, 0, "encoding codes"),
        (2, 1, "encoding codes"),
        (3, 1, "1 tensors"),
    ]:
        bad = bytearray(good)
        bad[offset] = value
        _refused(manifest, bytes(bad), needle)
    nan_scale = bytearray(good)
    nan_scale[4:8] = struct.pack("<f", float("nan"))
    _refused(manifest, bytes(nan_scale), "int8 scale")
    _refused(manifest, bytes(good) + b"\0", "the manifest's size")


def test_compressed_block_table_and_a_zlib_bomb_are_refused():
    manifest = _manifest("fp32+zlib")
    raw = 4 * (3 * 50 * 50 + 7)
    # a block within the length bound that inflates far past its raw size
    bomb = zlib.compress(bytes(50 * 65536), 9)
    assert len(bomb) <= compressed_bound(65536)
    header = struct.pack("<BBBB", 1, 0, 1, 2) + struct.pack("<III", 65536, 1, len(bomb))
    _refused(manifest, header + bomb, "undecodable")
    wrong_count = struct.pack("<BBBB", 1, 0, 1, 2) + struct.pack("<III", 65536, 2, 4)
    _refused(manifest, wrong_count + b"abcd", "block table")
    huge_block = struct.pack("<BBBB", 1, 0, 1, 2) + struct.pack("<III", 65536, 1, 1 << 30)
    _refused(manifest, huge_block, "more than")
    assert raw < 65536  # the frames above are one-block frames


def test_hello_differences_are_named_and_junk_is_refused():
    mine = _manifest("int8")
    other = _manifest("fp16")
    with pytest.raises(wire.Mismatch, match=r"encoding 'fp16' vs 'int8'"):
        wire.check_hello(wire.hello_body(other), mine)
    wire.check_hello(wire.hello_body(mine), mine)
    for junk in (b"\xff\xfe", b"[1]", b'{"magic": "x"}'):
        with pytest.raises(wire.WireError):
            wire.check_hello(junk, mine)


def test_answers_round_trip_and_a_short_one_is_refused():
    answer = wire.Answer(4, [3, 1], [0.75, 0.25], 0.001, 0.002)
    parsed = wire.parse_answer(wire.answer_body(answer))
    assert parsed.frame_id == 4 and parsed.classes == [3, 1]
    assert parsed.probabilities == [0.75, 0.25]
    with pytest.raises(wire.WireError):
        wire.parse_answer(wire.answer_body(answer)[:-1])
