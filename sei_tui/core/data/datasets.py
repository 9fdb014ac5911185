"""Labelled image datasets for saliency and accuracy: image folders, CIFAR-10, synthetic shapes.

Every dataset yields `(image tensor C x H x W, label)` already preprocessed for the model,
and carries `classes` (names) and a `fingerprint` (content digest for cache keys).

Preprocessing: the model's `preprocess` (its weights' transforms) when known; otherwise the
image is scaled to [0, 1], converted to the model's channel count and resized to its input
size (no mean/std normalisation: unknown without the weights' transforms).
"""

from __future__ import annotations

import abc
import hashlib
import io
import math
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sei_tui.core.errors import SeiInputError, setting_error

Preprocess = Callable[[Any], torch.Tensor]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "ring", "frame", "bars", "dots"]

_SYNTHETIC_VERSION = 2


def default_preprocess(input_shape: Sequence[int] | None) -> Preprocess:
    """[0, 1] float tensor, the model's channel count, resized to its input size."""

    def preprocess(image: Any) -> torch.Tensor:
        tensor = image if isinstance(image, torch.Tensor) else _pil_to_tensor(image)
        if tensor.dtype == torch.uint8:
            tensor = tensor.float() / 255.0
        tensor = tensor.float()
        if input_shape is None:
            return tensor
        channels, height, width = (int(v) for v in input_shape)
        if tensor.shape[0] != channels:
            if channels == 1:
                tensor = tensor.mean(dim=0, keepdim=True)
            elif tensor.shape[0] == 1:
                tensor = tensor.expand(channels, -1, -1)
            else:
                tensor = tensor[:channels]
        if tuple(tensor.shape[1:]) != (height, width):
            tensor = F.interpolate(
                tensor[None], size=(height, width), mode="bilinear", antialias=True
            )[0]
        return tensor.contiguous()

    return preprocess


def _pil_to_tensor(image: Any) -> torch.Tensor:
    rgb = image.convert("RGB")
    array = np.asarray(rgb, dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1)


def _describe_preprocess(preprocess: Preprocess | None, input_shape: Sequence[int] | None) -> str:
    if preprocess is None:
        return f"default{tuple(input_shape) if input_shape is not None else ''}"
    return " ".join(repr(preprocess).split())


class LabelledDataset(Dataset, abc.ABC):
    """A torch Dataset of `(image, label)` with `classes` and a `fingerprint`."""

    classes: list[str]

    def __init__(self, preprocess: Preprocess | None, input_shape: Sequence[int] | None):
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self._preprocess = preprocess or default_preprocess(input_shape)
        self._preprocess_text = _describe_preprocess(preprocess, input_shape)
        self._fingerprint: str | None = None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def raw(self, index: int) -> tuple[Any, int]:
        """The image before preprocessing (PIL image or uint8/float tensor) and its label."""

    def labels(self) -> list[int]:
        return [self.raw(i)[1] for i in range(len(self))]

    @abc.abstractmethod
    def content_digest(self) -> str:
        """A digest of the images and labels (the dataset's part of cache keys)."""

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(self.content_digest().encode())
            digest.update(self._preprocess_text.encode())
            self._fingerprint = digest.hexdigest()[:32]
        return self._fingerprint

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        image, label = self.raw(index)
        return self._preprocess(image), label


# --------------------------------------------------------------------------- synthetic


class SyntheticShapes(LabelledDataset):
    """Procedurally generated shapes: 8 classes, varied position, scale, rotation, colours,
    background gradient and noise. Image `i` depends only on `(seed, i)`; label = i mod 8,
    so the classes are balanced (counts differ by at most one)."""

    def __init__(
        self,
        n: int,
        seed: int = 0,
        image_size: int = 64,
        preprocess: Preprocess | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        if n < 1:
            raise setting_error(
                "synthetic", "synthetic images", str(n), "the number of images must be at least 1"
            )
        if image_size < 8:
            raise SeiInputError(f"image_size = {image_size}: must be at least 8 pixels")
        if input_shape is None:
            input_shape = (3, image_size, image_size)
        super().__init__(preprocess, input_shape)
        self.n = int(n)
        self.seed = int(seed)
        self.image_size = int(image_size)
        self.classes = list(SHAPE_CLASSES)
        # pixel centres in [-1, 1]
        axis = (np.arange(self.image_size, dtype=np.float32) + 0.5) / self.image_size * 2 - 1
        self._y, self._x = np.meshgrid(axis, axis, indexing="ij")

    def __len__(self) -> int:
        return self.n

    def label_of(self, index: int) -> int:
        return index % len(self.classes)

    def labels(self) -> list[int]:
        return [self.label_of(i) for i in range(self.n)]

    def content_digest(self) -> str:
        return f"synthetic-shapes-v{_SYNTHETIC_VERSION}:n={self.n}:seed={self.seed}:size={self.image_size}"

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        label = self.label_of(index)
        rng = np.random.default_rng([self.seed, index, _SYNTHETIC_VERSION])
        return torch.from_numpy(self._render(label, rng)), label

    def _render(self, label: int, rng: np.random.Generator) -> np.ndarray:
        background = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        foreground = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        while np.linalg.norm(foreground - background) < 0.45:
            foreground = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        scale = rng.uniform(0.35, 0.6)
        limit = 0.95 - scale
        cx, cy = rng.uniform(-limit, limit, size=2)
        angle = rng.uniform(0.0, 2 * math.pi)
        cos, sin = math.cos(angle), math.sin(angle)
        dx, dy = self._x - cx, self._y - cy
        u = (cos * dx + sin * dy) / scale
        v = (-sin * dx + cos * dy) / scale
        mask = _shape_mask(SHAPE_CLASSES[label], u, v)
        # a gentle linear background gradient in a random direction
        gx, gy = rng.normal(size=2)
        ramp = (gx * self._x + gy * self._y) / (abs(gx) + abs(gy) + 1e-6) * rng.uniform(0, 0.15)
        image = np.where(mask[None], foreground[:, None, None], background[:, None, None])
        image = image + ramp[None] + rng.normal(0.0, rng.uniform(0.01, 0.08), size=image.shape)
        return np.clip(image, 0.0, 1.0).astype(np.float32)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    radius = np.hypot(u, v)
    box = np.maximum(np.abs(u), np.abs(v))
    if shape == "circle":
        return radius <= 1.0
    if shape == "square":
        return box <= 0.8
    if shape == "triangle":
        inside = np.ones_like(u, dtype=bool)
        for theta in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6):
            inside &= u * math.cos(theta) + v * math.sin(theta) <= 0.5
        return inside
    if shape == "cross":
        return ((np.abs(u) <= 0.25) & (np.abs(v) <= 0.95)) | (
            (np.abs(v) <= 0.25) & (np.abs(u) <= 0.95)
        )
    if shape == "ring":
        return (radius >= 0.6) & (radius <= 1.0)
    if shape == "frame":
        return (box <= 0.85) & (box >= 0.55)
    if shape == "bars":
        band = np.floor((v + 0.9) / 0.36).astype(np.int64)
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.9) & (band % 2 == 0)
    if shape == "dots":
        near = np.zeros_like(u, dtype=bool)
        for sx in (-0.5, 0.5):
            for sy in (-0.5, 0.5):
                near |= np.hypot(u - sx, v - sy) <= 0.32
        return near
    raise ValueError(shape)


# --------------------------------------------------------------------------- image folder


class ImageFolderDataset(LabelledDataset):
    """One sub-folder per class (torchvision ImageFolder conventions), sorted class names."""

    def __init__(self, root: Path, preprocess: Preprocess | None, input_shape):
        super().__init__(preprocess, input_shape)
        self.root = Path(root)
        if not self.root.is_dir():
            raise SeiInputError(f"{self.root}: not a directory")
        class_dirs = sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        if not class_dirs:
            raise SeiInputError(
                f"{self.root}: no class sub-folders (expected one folder of images per class,"
                " or CIFAR-10 python batches)"
            )
        self.classes = [p.name for p in class_dirs]
        self.samples: list[tuple[Path, int]] = []
        for label, class_dir in enumerate(class_dirs):
            for path in sorted(class_dir.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                    self.samples.append((path, label))
        if not self.samples:
            raise SeiInputError(
                f"{self.root}: no images found in its class folders "
                f"(extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def raw(self, index: int):
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image.load()
                return image.convert("RGB"), label
        except (OSError, UnidentifiedImageError) as exc:
            raise SeiInputError(f"{path}: not a readable image ({exc})") from exc

    def content_digest(self) -> str:
        digest = hashlib.sha256(b"image-folder-v1")
        for path, label in self.samples:
            stat = path.stat()
            rel = path.relative_to(self.root).as_posix()
            digest.update(f"{rel}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def image_folder(
    path: str | Path, preprocess: Preprocess | None, input_shape=None
) -> ImageFolderDataset:
    return ImageFolderDataset(Path(path), preprocess, input_shape)


# --------------------------------------------------------------------------- CIFAR-10

_SAFE_PICKLE_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Reconstructs builtins and numpy arrays only; any other global is refused."""

    def __init__(self, handle, source: Path):
        super().__init__(handle, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_PICKLE_GLOBALS:
            raise SeiInputError(
                f"{self._source}: pickle refers to {module}.{name}: refused "
                "(a CIFAR-10 batch holds only numpy arrays and lists)"
            )
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        core = np._core if hasattr(np, "_core") else np.core
        submodule = getattr(core, module.rsplit(".", 1)[1])
        return getattr(submodule, name)

    def persistent_load(self, pid):
        raise SeiInputError(f"{self._source}: pickle uses persistent ids: refused")


def load_cifar_batch(path: Path) -> dict[str, Any]:
    """Read one CIFAR-10 python batch safely: `{"data": uint8 N x 3072, "labels": [int]}`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(raw), Path(path)).load()
    except SeiInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed pickle is bad input
        raise SeiInputError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if not isinstance(obj, dict):
        raise SeiInputError(f"{path}: not a CIFAR-10 python batch (top level is not a dict)")
    entries = {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}
    return entries


def _cifar_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    entries = load_cifar_batch(path)
    data, labels = entries.get("data"), entries.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072:
        raise SeiInputError(f"{path}: data = {getattr(data, 'shape', data)!r}: expected N x 3072")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise SeiInputError(f"{path}: labels: {labels.shape[0]} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise SeiInputError(f"{path}: labels: values outside 0..9")
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), labels


class Cifar10Dataset(LabelledDataset):
    """CIFAR-10 python batches (`test_batch`, `data_batch_1..5`) from a local folder."""

    def __init__(self, root: Path, train: bool, preprocess: Preprocess | None, input_shape):
        super().__init__(preprocess, input_shape)
        folder = cifar10_folder(Path(root))
        if folder is None:
            raise SeiInputError(f"{root}: no CIFAR-10 python batches (test_batch, data_batch_N)")
        names = sorted(p.name for p in folder.glob("data_batch_*")) if train else ["test_batch"]
        self.files = [folder / name for name in names if (folder / name).is_file()]
        if not self.files:
            which = "data_batch_N" if train else "test_batch"
            raise SeiInputError(f"{folder}: {which} missing")
        arrays = [_cifar_arrays(f) for f in self.files]
        self.images = np.concatenate([a[0] for a in arrays])
        self._labels = np.concatenate([a[1] for a in arrays])
        self.classes = list(CIFAR10_CLASSES)
        meta = folder / "batches.meta"
        if meta.is_file():
            names_raw = load_cifar_batch(meta).get("label_names")
            if isinstance(names_raw, list) and len(names_raw) == 10:
                self.classes = [
                    n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
                    for n in names_raw
                ]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def labels(self) -> list[int]:
        return [int(v) for v in self._labels]

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[index].copy()), int(self._labels[index])

    def content_digest(self) -> str:
        digest = hashlib.sha256(b"cifar10-v1")
        for path in self.files:
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def cifar10_folder(root: Path) -> Path | None:
    for folder in (root, root / "cifar-10-batches-py"):
        if (folder / "test_batch").is_file() or any(folder.glob("data_batch_*")):
            return folder
    return None


def cifar10(
    path: str | Path,
    train: bool = False,
    preprocess: Preprocess | None = None,
    input_shape=None,
) -> Cifar10Dataset:
    return Cifar10Dataset(Path(path), train, preprocess, input_shape)


# --------------------------------------------------------------------------- entry point


def open_dataset(
    data_dir: str | Path | None,
    synthetic_n: int | None,
    preprocess: Preprocess | None,
    input_shape: Sequence[int] | None,
    seed: int = 0,
) -> LabelledDataset:
    """Exactly one of `data_dir` (image folder or CIFAR-10 batches) and `synthetic_n`."""
    if (data_dir is None) == (synthetic_n is None):
        raise SeiInputError(
            "dataset: give exactly one of an image folder and a number of synthetic images"
        )
    if synthetic_n is not None:
        size = max(int(input_shape[-1]), int(input_shape[-2])) if input_shape is not None else 64
        return SyntheticShapes(
            int(synthetic_n),
            seed=seed,
            image_size=size,
            preprocess=preprocess,
            input_shape=input_shape,
        )
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise setting_error("data", "data folder", str(data_dir), "no such directory")
    if not root.is_dir():
        raise setting_error("data", "data folder", str(data_dir), "not a directory")
    folder = cifar10_folder(root)
    if folder is not None:
        # the test batch when present, else the training batches
        train = not (folder / "test_batch").is_file()
        return cifar10(root, train=train, preprocess=preprocess, input_shape=input_shape)
    return image_folder(root, preprocess, input_shape)
