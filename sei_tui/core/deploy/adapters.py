"""An exported early exit or bottleneck: the trained part, its file, digest and programs.

The part is the one `sei analyze` trains (`sei_tui.core.adapters`) and writes with
`--save-adapters DIR`: a plain state dict, named as analyze names it (`exit-split{K}.pt`,
`bottleneck-split{K}-c{C}.pt`) and read back with `torch.load(weights_only=True)` only.
Its layout is not in the file: it follows from the split tensor's shape, as in training.

Exported programs (docs/cli.md, "sei export"):
- early exit: the head returns (the exit's softmax probabilities, 1 x classes, then the
  split tensors in `tensors` order); the tail is the split's tail;
- bottleneck: the head is the split's head then the encoder, returning the code tensor
  (what `tensors` describes); the tail is the decoder then the split's tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sei_tui.core.adapters.bottleneck import Bottleneck, channels_of
from sei_tui.core.adapters.exits import ExitBranch, exit_layout, pool_features
from sei_tui.core.adapters.training import adapter_file_name
from sei_tui.core.adapters.training_cache import save_state_dict
from sei_tui.core.errors import SeiInputError

_EXIT_KEYS = {"mean", "std", "linear.weight", "linear.bias"}
_BOTTLENECK_KEYS = {"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}


def adapter_digest(module: nn.Module) -> str:
    """sha256 of the part's state dict (every key, dtype, shape and byte, in order): the
    same rule as a model's weights digest."""
    from sei_tui.core.model.loading import state_dict_digest

    return state_dict_digest(module)


@dataclass
class Adapter:
    """A trained exit or bottleneck at a split point, ready to export."""

    kind: str  # "early_exit" or "bottleneck"
    module: Any  # ExitBranch or Bottleneck, in eval mode
    split_index: int
    layout: str
    threshold: float | None = None  # early exit: answer on the device at max prob >= this
    train_images: int | None = None  # known when sei export trained it; None for a file

    @property
    def width(self) -> int | None:
        return self.module.width if self.kind == "bottleneck" else None

    @property
    def file_name(self) -> str:
        return adapter_file_name(self.kind, self.split_index, self.width)

    @property
    def digest(self) -> str:
        return adapter_digest(self.module)

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's `adapters` object (docs/cli.md)."""
        entry: dict[str, Any] = {
            "kind": self.kind,
            "digest": self.digest,
            "file": self.file_name,
            "layout": self.layout,
            "train_images": self.train_images,
        }
        if self.kind == "early_exit":
            entry["threshold"] = self.threshold
            entry["head_outputs"] = "exit probabilities, then tensors"
            entry["classes"] = int(self.module.linear.out_features)
        else:
            entry["channels"] = int(self.module.channels)
            entry["width"] = int(self.module.width)
        return entry

    def save(self, folder: Path) -> None:
        save_state_dict(Path(folder) / self.file_name, self.module)


def split_layout(graph: Any, split_index: int, flag: str) -> tuple[Any, str]:
    """(split point, its tensor's layout); exits and bottlenecks sit at single-tensor
    points only, as in training (a SeiInputError naming `flag` otherwise)."""
    point = graph.split_points[split_index]
    if not point.single_tensor:
        raise SeiInputError(
            f"{flag}: split {split_index} ({point.after}) carries {len(point.tensors)} "
            "tensors; exits and bottlenecks sit at single-tensor split points"
        )
    return point, exit_layout(point.tensors[0].shape, graph.input_shape)


def read_adapter_state(path: Path, flag: str) -> dict[str, torch.Tensor]:
    """The state dict in `path`, read with weights_only=True (never unpickles objects)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SeiInputError(f"{flag} {path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - whatever torch says, the file is not a state dict
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeiInputError(f"{flag} {path}: not a state-dict file: {first[:200]}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SeiInputError(f"{flag} {path}: not a state dict of tensors")
    return state


def load_adapter(
    path: Path,
    kind: str,
    graph: Any,
    split_index: int,
    classes: int,
    width: int | None = None,
    threshold: float | None = None,
    flag: str = "--adapters",
    train_images: int | None = None,
) -> Adapter:
    """The exit or bottleneck saved in `path` for split `split_index` of `graph`, its
    sizes checked against the split tensor (and `classes`, `width`) before loading."""
    point, layout = split_layout(graph, split_index, flag)
    shape = tuple(point.tensors[0].shape[1:])
    state = read_adapter_state(path, flag)
    keys = set(state)
    if kind == "early_exit":
        if keys != _EXIT_KEYS:
            raise SeiInputError(f"{flag} {path}: not an exit (keys: {', '.join(sorted(keys))})")
        out_classes, features = state["linear.weight"].shape
        expected = int(pool_features(torch.zeros(1, *shape), layout).shape[1])
        if features != expected or out_classes != classes:
            raise SeiInputError(
                f"{flag} {path}: an exit for {features} features and {out_classes} classes; "
                f"split {split_index} ({point.after}) gives {expected} features, the model "
                f"has {classes} classes"
            )
        module: nn.Module = ExitBranch(layout, features, out_classes)
    else:
        if keys != _BOTTLENECK_KEYS:
            raise SeiInputError(
                f"{flag} {path}: not a bottleneck (keys: {', '.join(sorted(keys))})"
            )
        got_width, channels = state["encoder.weight"].shape
        expected = channels_of(shape, layout)
        if channels != expected:
            raise SeiInputError(
                f"{flag} {path}: a bottleneck for {channels} channels; split {split_index} "
                f"({point.after}) has {expected}"
            )
        if width is not None and got_width != width:
            raise SeiInputError(f"{flag} {path}: a bottleneck of width {got_width}, not {width}")
        module = Bottleneck(layout, channels, got_width)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise SeiInputError(f"{flag} {path}: {str(exc).splitlines()[0]}") from None
    return Adapter(kind, module.eval(), split_index, layout, threshold, train_images)


def adapter_of_manifest(manifest: Any, graph: Any, classes: int) -> Adapter | None:
    """The part an export folder carries (its file checked against the manifest's
    digest), or None for a plain split."""
    entry = manifest.adapters
    if entry is None:
        return None
    where = f"{manifest.folder}/{entry['file']}"
    adapter = load_adapter(
        manifest.folder / entry["file"],
        entry["kind"],
        graph,
        manifest.document["split_index"],
        classes,
        entry.get("width"),
        entry.get("threshold"),
        flag=f"{manifest.folder}: adapters",
        train_images=entry.get("train_images"),
    )
    if adapter.digest != entry["digest"]:
        raise SeiInputError(
            f"{where}: digest {adapter.digest[:12]}… differs from the manifest's "
            f"{entry['digest'][:12]}…"
        )
    return adapter


# ------------------------------------------------------------------ exported programs


class ExitHead(nn.Module):
    """The split's head returning (the exit's softmax probabilities, *split tensors)."""

    def __init__(self, head: nn.Module, branch: ExitBranch):
        super().__init__()
        self.head = head
        self.branch = branch

    def forward(self, x: torch.Tensor):
        tensors = tuple(self.head(x))
        probabilities = torch.softmax(self.branch(tensors[0].float()), dim=1)
        return (probabilities, *tensors)


class BottleneckHead(nn.Module):
    """The split's head, then the bottleneck's encoder: the code tensor that travels."""

    def __init__(self, head: nn.Module, bottleneck: Bottleneck):
        super().__init__()
        self.head = head
        self.bottleneck = bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck.encode(self.head(x)[0])


class BottleneckTail(nn.Module):
    """The bottleneck's decoder, then the split's tail (the code as its one argument)."""

    def __init__(self, tail: nn.Module, bottleneck: Bottleneck):
        super().__init__()
        self.tail = tail
        self.bottleneck = bottleneck

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.tail((self.bottleneck.decode(code.float()),))


def model_classes(graph: Any) -> int:
    """Classes of the model's output (its logits' last axis on one zero image)."""
    with torch.inference_mode():
        out = graph.graph_module(torch.zeros(1, *graph.input_shape))
    return int(out.shape[-1])
