"""Datasets: synthetic shapes, image folders, CIFAR-10 batches (read safely)."""

from __future__ import annotations

import os
import pickle
from collections import Counter

import numpy as np
import pytest
import torch

from sei_tui.core.data.datasets import (
    SHAPE_CLASSES,
    SyntheticShapes,
    cifar10,
    image_folder,
    load_cifar_batch,
    open_dataset,
)
from sei_tui.core.errors import SeiInputError

# --------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_per_seed():
    a, b, c = SyntheticShapes(16, seed=3), SyntheticShapes(16, seed=3), SyntheticShapes(16, seed=4)
    for i in range(16):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1]
    assert not torch.equal(
        torch.stack([a[i][0] for i in range(16)]), torch.stack([c[i][0] for i in range(16)])
    )
    # random access gives the same image as sequential access
    assert torch.equal(SyntheticShapes(16, seed=3)[11][0], a[11][0])
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_synthetic_is_class_balanced_and_well_formed():
    n = 8 * 7 + 3
    ds = SyntheticShapes(n, seed=0)
    counts = Counter(ds[i][1] for i in range(n))
    assert sorted(counts) == list(range(len(SHAPE_CLASSES)))
    assert max(counts.values()) - min(counts.values()) <= 1
    assert ds.classes == SHAPE_CLASSES
    image = ds[5][0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_synthetic_images_of_one_class_vary():
    ds = SyntheticShapes(64, seed=2, image_size=64)
    images = [ds[i][0] for i in range(64)]
    # images of one class are not identical (position, scale, colour vary)
    same_class = [img for i, img in enumerate(images) if ds[i][1] == 0]
    assert len(same_class) == 8
    assert all(not torch.equal(same_class[0], other) for other in same_class[1:])


def test_synthetic_preprocess_to_model_input():
    ds = open_dataset(None, 10, preprocess=None, input_shape=(1, 40, 30))
    image, _ = ds[0]
    assert image.shape == (1, 40, 30)
    normalise = lambda t: (t - 0.5) / 0.25  # noqa: E731 - a stand-in for weights transforms
    ds2 = open_dataset(None, 10, preprocess=normalise, input_shape=(3, 64, 64))
    assert torch.allclose(ds2[3][0], (SyntheticShapes(10)[3][0] - 0.5) / 0.25)


def test_open_dataset_needs_exactly_one_source(tmp_path):
    with pytest.raises(SeiInputError):
        open_dataset(None, None, None, (3, 64, 64))
    with pytest.raises(SeiInputError):
        open_dataset(tmp_path, 4, None, (3, 64, 64))
    with pytest.raises(SeiInputError, match="synthetic"):
        open_dataset(None, 0, None, (3, 64, 64))


# --------------------------------------------------------------------------- image folder


def _write_folder(root, classes=("cat", "dog"), per_class=3, size=(20, 10)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_image_folder_labels_and_default_preprocess(tmp_path):
    root = _write_folder(tmp_path / "data")
    (tmp_path / "data" / "cat" / "notes.txt").write_text("not an image")
    ds = open_dataset(root, None, None, (3, 16, 24))
    assert ds.classes == ["cat", "dog"]
    assert len(ds) == 6 and ds.labels() == [0, 0, 0, 1, 1, 1]
    image, label = ds[4]
    assert label == 1 and image.shape == (3, 16, 24)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_image_folder_original_pixels_without_resize(tmp_path):
    from PIL import Image

    root = _write_folder(tmp_path / "data", classes=("a",), per_class=1, size=(8, 6))
    ds = image_folder(root, None, (3, 6, 8))
    expected = np.asarray(Image.open(root / "a" / "0.png").convert("RGB"), dtype=np.float32) / 255
    assert torch.allclose(ds[0][0], torch.from_numpy(expected).permute(2, 0, 1))


def test_image_folder_fingerprint_follows_content(tmp_path):
    root = _write_folder(tmp_path / "data")
    before = image_folder(root, None, (3, 8, 8)).fingerprint
    assert image_folder(root, None, (3, 8, 8)).fingerprint == before
    assert image_folder(root, None, (3, 16, 16)).fingerprint != before  # preprocessing differs
    (root / "dog" / "0.png").write_bytes((root / "cat" / "0.png").read_bytes() + b"\0" * 10)
    assert image_folder(root, None, (3, 8, 8)).fingerprint != before


@pytest.mark.parametrize("layout", ["missing", "file", "empty", "no-images"])
def test_bad_folder_is_an_input_error(tmp_path, layout):
    target = tmp_path / "data"
    if layout == "file":
        target.write_text("x")
    elif layout == "empty":
        target.mkdir()
    elif layout == "no-images":
        (target / "cat").mkdir(parents=True)
        (target / "cat" / "a.txt").write_text("x")
    with pytest.raises(SeiInputError, match=str(target.name)):
        open_dataset(target, None, None, (3, 8, 8))


def test_corrupt_image_is_an_input_error_naming_the_file(tmp_path):
    root = _write_folder(tmp_path / "data", classes=("a",), per_class=1)
    (root / "a" / "broken.png").write_bytes(b"not really a png")
    ds = image_folder(root, None, (3, 8, 8))
    assert ds[0][0].shape == (3, 8, 8)  # files are sorted: 0.png, then broken.png
    with pytest.raises(SeiInputError, match="broken.png"):
        ds[1]


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_batch(n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [
        int(v) for v in rng.integers(0, 10, n)
    ]


def test_cifar_batches_read_with_labels_and_pixels(tmp_path):
    data, labels = _cifar_batch(5)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img{i}.png".encode() for i in range(5)],
    }
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    ds = open_dataset(tmp_path, None, None, (3, 32, 32))
    assert len(ds) == 5 and ds.classes == [f"c{i}" for i in range(10)]
    image, label = ds[3]
    assert label == labels[3]
    expected = torch.from_numpy(data[3].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.allclose(image, expected)


def test_cifar_train_batches_and_protocol_5(tmp_path):
    for k in (1, 2):
        data, labels = _cifar_batch(4, seed=k)
        payload = {"data": data, "labels": labels}
        (tmp_path / f"data_batch_{k}").write_bytes(pickle.dumps(payload, protocol=5))
    ds = cifar10(tmp_path, train=True, input_shape=(3, 32, 32))
    assert len(ds) == 8
    assert ds.labels()[4:] == _cifar_batch(4, seed=2)[1]
    with pytest.raises(SeiInputError, match="test_batch"):
        cifar10(tmp_path, train=False)
    # a folder with training batches only: --data uses them
    assert open_dataset(tmp_path, None, None, (3, 32, 32)).labels() == ds.labels()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "test_batch").write_bytes(
        pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}, protocol=2)
    )
    with pytest.raises(SeiInputError, match="refused"):
        open_dataset(tmp_path, None, None, (3, 32, 32))
    assert not marker.exists()


def test_pickle_of_arbitrary_class_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": Counter([1, 2])}, protocol=4))
    with pytest.raises(SeiInputError, match="collections.Counter"):
        load_cifar_batch(path)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "not a dict"),
        ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, "3072"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "labels"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": [12]}, "0..9"),
    ],
)
def test_malformed_cifar_batch_is_an_input_error(tmp_path, payload, message):
    (tmp_path / "test_batch").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(SeiInputError, match=message):
        cifar10(tmp_path)


def test_truncated_pickle_is_an_input_error(tmp_path):
    data, labels = _cifar_batch(2)
    raw = pickle.dumps({"data": data, "labels": labels}, protocol=2)
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SeiInputError, match="test_batch"):
        cifar10(tmp_path)


def test_weights_transforms_apply_to_every_source(tmp_path):
    from torchvision.transforms._presets import ImageClassification

    transforms = ImageClassification(crop_size=24, resize_size=28)
    root = _write_folder(tmp_path / "data", classes=("a",), per_class=1, size=(40, 30))
    folder_image = open_dataset(root, None, transforms, (3, 24, 24))[0][0]
    synthetic_image = open_dataset(None, 2, transforms, (3, 24, 24))[1][0]
    assert folder_image.shape == synthetic_image.shape == (3, 24, 24)
    # ImageNet normalisation moves values outside [0, 1]
    assert float(folder_image.min()) < 0.0
    raw = SyntheticShapes(2, image_size=24)[1][0]
    assert torch.allclose(synthetic_image, transforms(raw), atol=1e-6)
