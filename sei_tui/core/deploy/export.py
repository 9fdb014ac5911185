"""`sei export`: a split's head and tail as programs plain PyTorch loads, and the manifest.

Head and tail are exported for batch 1 with `torch.export` (a `.pt2` program: ATen ops
only, no Python model code needed to load it); where export fails, TorchScript tracing
(`.ts`) is the fallback, and the manifest says which format each file is in. An early
exit or a bottleneck changes what head and tail compute (`adapters`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sei_tui import __version__
from sei_tui.core.cache import atomic_write_json
from sei_tui.core.deploy.adapters import BottleneckHead, BottleneckTail, ExitHead
from sei_tui.core.deploy.manifest import (
    MANIFEST_FORMAT_VERSION,
    MANIFEST_NAME,
    payload_bytes_uncompressed,
)
from sei_tui.core.errors import SeiInputError
from sei_tui.core.evaluation.encoding import TensorEncoding


class PositionalTail(torch.nn.Module):
    """The tail taking the payload tensors as positional arguments (the export contract)."""

    def __init__(self, tail: torch.nn.Module):
        super().__init__()
        self.tail = tail

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.tail(tuple(tensors))


class TupleHead(torch.nn.Module):
    """The head returning one tensor, or a tuple in `tensors` order when more cross the cut."""

    def __init__(self, head: torch.nn.Module, count: int):
        super().__init__()
        self.head = head
        self.count = count

    def forward(self, x: torch.Tensor):
        out = self.head(x)
        return out[0] if self.count == 1 else tuple(out)


def _save_program(
    module: torch.nn.Module, example: tuple, folder: Path, stem: str
) -> tuple[str, str, str]:
    """(file name, format, why export failed or "") after writing the program atomically."""
    module.eval()
    why = ""
    try:
        with torch.no_grad():
            program = torch.export.export(module, example)
        name, fmt = f"{stem}.pt2", "torch.export"
        save: Callable[[str], None] = lambda path: torch.export.save(program, path)  # noqa: E731
    except Exception as exc:  # noqa: BLE001 - any export failure falls back to TorchScript
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trace warnings: the manifest says it is a trace
            traced = torch.jit.trace(module, example, check_trace=False)
        name, fmt = f"{stem}.ts", "torchscript"

        def save(path: str) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(traced, path)

    # the temporary name keeps the extension: torch.export.save warns about any other
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.tmp.", suffix=Path(name).suffix)
    os.close(handle)
    try:
        save(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0o600 would hide the program from others
        os.replace(temp, folder / name)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return name, fmt, why


def load_program(path: str | os.PathLike[str], fmt: str) -> Callable[..., Any]:
    """A callable of an exported head or tail (what a plain PyTorch user would write)."""
    if fmt == "torch.export":
        return torch.export.load(str(path)).module()
    return torch.jit.load(str(path), map_location="cpu")


def preprocessing_of(loaded: Any) -> dict[str, Any]:
    """How images become the model's input: docs/preprocessing.md, in the manifest's words."""
    from sei_tui.core.data.datasets import _describe_preprocess

    kind = "default" if loaded.preprocess is None else "transforms"
    return {
        "kind": kind,
        "input_shape": list(loaded.input_shape),
        "description": _describe_preprocess(loaded.preprocess, loaded.input_shape),
        "see": "docs/preprocessing.md",
    }


def export_split(
    loaded: Any,
    graph: Any,
    split_index: int,
    encoding: TensorEncoding,
    out: str | os.PathLike[str],
    model_spec: dict[str, Any],
    payload_bytes: int | None = None,
    adapter: Any = None,
) -> dict[str, Any]:
    """Write head, tail and manifest.json into `out`; the manifest document.

    `payload_bytes`: the evaluation's mean frame size for compressed encodings (whose
    size depends on the images); uncompressed frames have one size, computed here.
    `adapter`: a `deploy.adapters.Adapter` (early exit or bottleneck) at this split, whose
    programs and state file are written instead (see that module)."""
    if not 0 <= split_index < len(graph.split_points):
        raise SeiInputError(
            f"--split {split_index}: {graph.name} has split points 0..{len(graph.split_points) - 1}"
        )
    point = graph.split_points[split_index]
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise SeiInputError(f"--out {out}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    head, tail = graph.split(split_index)
    x = torch.zeros(1, *graph.input_shape)
    with torch.no_grad():
        payload = tuple(head(x))
    names = [spec.name for spec in point.tensors]
    head_module: torch.nn.Module = TupleHead(head, len(payload))
    tail_module: torch.nn.Module = PositionalTail(tail)
    kind = None if adapter is None else adapter.kind
    if kind == "early_exit":
        head_module = ExitHead(head, adapter.module)
    elif kind == "bottleneck":
        head_module = BottleneckHead(head, adapter.module)
        tail_module = BottleneckTail(tail, adapter.module)
        with torch.no_grad():
            payload = (head_module(x),)
        names = [f"{names[0]}.code"]
    shapes = [tuple(int(d) for d in t.shape) for t in payload]
    head_name, head_format, head_why = _save_program(head_module, (x,), folder, "head")
    tail_name, tail_format, tail_why = _save_program(tail_module, payload, folder, "tail")
    if adapter is not None:
        adapter.save(folder)
    if payload_bytes is None:
        payload_bytes = payload_bytes_uncompressed(shapes, encoding)
    head_entry = {"file": head_name, "format": head_format}
    tail_entry = {"file": tail_name, "format": tail_format}
    if head_why:
        head_entry["fallback_reason"] = head_why
    if tail_why:
        tail_entry["fallback_reason"] = tail_why
    document = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "sei_version": __version__,
        "model": model_spec,
        "weights_digest": loaded.weights_digest,
        "split_index": point.index,
        "after": point.after,
        "tensors": [
            {
                "name": name,
                "shape": list(t.shape),
                "dtype": str(t.dtype).removeprefix("torch."),
            }
            for name, t in zip(names, payload, strict=True)
        ],
        "encoding": encoding.name,
        "preprocessing": preprocessing_of(loaded),
        "payload_bytes": int(payload_bytes),
        "head": head_entry,
        "tail": tail_entry,
        "adapters": None if adapter is None else adapter.manifest_entry(),
    }
    atomic_write_json(folder / MANIFEST_NAME, document)
    return document
