"""`manifest.json` of an exported split: what both sides of a deployment agree on.

Plain JSON and torch-free, so a server can read and check it before loading anything.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.encoding import (
    RAW_BLOCK_BYTES,
    TensorEncoding,
    parse_tensor_encoding,
)

MANIFEST_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_KEYS = (
    "format_version",
    "sei_version",
    "model",
    "weights_digest",
    "split_index",
    "after",
    "tensors",
    "encoding",
    "preprocessing",
    "payload_bytes",
    "head",
    "tail",
)
# keys added after the first format (absent in older manifests: their default is null)
OPTIONAL_KEYS = ("adapters",)
ADAPTER_KINDS = ("early_exit", "bottleneck")
PROGRAM_FORMATS = ("torch.export", "torchscript")
ITEM_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
MAX_TENSORS = 255  # the payload frame header's u8 tensor count
MAX_ELEMENTS = 1 << 31  # one tensor of a manifest; larger is not a split of a real model


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: the JSON document plus its parsed encoding."""

    document: dict[str, Any]
    encoding: TensorEncoding
    folder: Path

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(t["shape"]) for t in self.document["tensors"]]

    @property
    def elements(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    @property
    def adapters(self) -> dict[str, Any] | None:
        """The exported early exit or bottleneck (docs/cli.md), None for a plain split."""
        return self.document.get("adapters")

    @property
    def exit_threshold(self) -> float | None:
        entry = self.adapters
        return entry["threshold"] if entry and entry["kind"] == "early_exit" else None

    def program(self, side: str) -> tuple[Path, str]:
        entry = self.document[side]
        return self.folder / entry["file"], entry["format"]

    @property
    def identity(self) -> dict[str, Any]:
        """What the two sides of a connection must agree on (the hello's fields)."""
        d = self.document
        return {
            "format_version": d["format_version"],
            "weights_digest": d["weights_digest"],
            "split_index": d["split_index"],
            "encoding": d["encoding"],
            "adapters": None if self.adapters is None else self.adapters["kind"],
            "adapters_digest": None if self.adapters is None else self.adapters["digest"],
        }

    @property
    def max_frame_bytes(self) -> int:
        """The largest payload frame this split can produce in its encoding: the header,
        int8 parameters, block table and body, compressed blocks at zlib/lz4's worst case."""
        raw = self.elements * ITEM_BYTES[self.encoding.dtype]
        header = 4 + (5 * len(self.shapes) if self.encoding.dtype == "int8" else 0)
        if self.encoding.compression is None:
            return header + raw
        blocks = max(1, -(-raw // RAW_BLOCK_BYTES))
        return header + 8 + 4 * blocks + blocks * compressed_bound(RAW_BLOCK_BYTES)


def compressed_bound(raw: int) -> int:
    """An upper bound on a zlib or lz4 block of `raw` bytes (the larger of the two
    libraries' documented worst cases: zlib's compressBound, LZ4_COMPRESSBOUND)."""
    zlib_bound = raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 13 + 6
    lz4_bound = raw + raw // 255 + 16
    return max(zlib_bound, lz4_bound)


def payload_bytes_uncompressed(shapes: list[tuple[int, ...]], encoding: TensorEncoding) -> int:
    """Bytes of one uncompressed frame (the encoder's layout: docs/wire-format.md)."""
    header = 4 + (5 * len(shapes) if encoding.dtype == "int8" else 0)
    return header + sum(math.prod(s) for s in shapes) * ITEM_BYTES[encoding.dtype]


def read_manifest(folder: str | Path) -> Manifest:
    """The checked manifest of an export folder, or one SeiInputError naming what is wrong."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeiInputError(f"{folder}: no {MANIFEST_NAME} (not a `sei export` folder)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeiInputError(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(document, dict):
        raise SeiInputError(f"{path}: expected a JSON object")
    missing = [k for k in MANIFEST_KEYS if k not in document]
    if missing:
        raise SeiInputError(f"{path}: missing keys: {', '.join(missing)}")
    if document["format_version"] != MANIFEST_FORMAT_VERSION:
        raise SeiInputError(
            f"{path}: format_version {document['format_version']!r} is not "
            f"{MANIFEST_FORMAT_VERSION} (exported by another sei version)"
        )
    try:
        encoding = parse_tensor_encoding(str(document["encoding"]))
    except SeiInputError as exc:
        raise SeiInputError(f"{path}: encoding: {exc}") from None
    tensors = document["tensors"]
    if not isinstance(tensors, list) or not 1 <= len(tensors) <= MAX_TENSORS:
        raise SeiInputError(f"{path}: tensors: expected 1..{MAX_TENSORS} entries")
    for i, t in enumerate(tensors):
        shape = t.get("shape") if isinstance(t, dict) else None
        if (
            not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or math.prod(shape) > MAX_ELEMENTS
        ):
            raise SeiInputError(f"{path}: tensors[{i}].shape: expected a list of sizes")
    for side in ("head", "tail"):
        entry = document[side]
        if (
            not isinstance(entry, dict)
            or entry.get("format") not in PROGRAM_FORMATS
            or not isinstance(entry.get("file"), str)
            or Path(entry["file"]).name != entry["file"]
        ):
            raise SeiInputError(
                f"{path}: {side}: expected {{file (a name in the folder), format "
                f"({' or '.join(PROGRAM_FORMATS)})}}"
            )
    if not isinstance(document["split_index"], int) or not isinstance(
        document["weights_digest"], str
    ):
        raise SeiInputError(f"{path}: split_index / weights_digest have the wrong type")
    _check_adapters(document.get("adapters"), path)
    return Manifest(document, encoding, folder)


def _check_adapters(entry: Any, path: Path) -> None:
    """null, or {kind, digest, file, ...} with the kind's own fields (docs/cli.md)."""
    if entry is None:
        return

    def bad(what: str) -> SeiInputError:
        return SeiInputError(f"{path}: adapters: {what}")

    if not isinstance(entry, dict) or entry.get("kind") not in ADAPTER_KINDS:
        raise bad(f"expected null or an object whose kind is {' or '.join(ADAPTER_KINDS)}")
    if not isinstance(entry.get("digest"), str) or not re.fullmatch(
        r"[0-9a-f]{64}", entry["digest"]
    ):
        raise bad("digest: expected 64 hexadecimal digits (sha256)")
    if not isinstance(entry.get("file"), str) or Path(entry["file"]).name != entry["file"]:
        raise bad("file: expected a name in the folder")
    if entry["kind"] == "early_exit":
        tau = entry.get("threshold")
        if not isinstance(tau, int | float) or isinstance(tau, bool) or not 0 < tau <= 1:
            raise bad("threshold: expected a number in (0, 1]")
    else:
        width = entry.get("width")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise bad("width: expected a positive integer")
