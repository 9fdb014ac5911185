"""The images exits and bottlenecks are trained on, never those accuracy is counted on.

The evaluation images are the ones `prepare_inputs` takes: `n = min(total, --images)`
images spread evenly over the dataset, image `i * total // n` for i < n. Training images:

- `--data`: a seeded random sample of the other images: `torch.randperm` of the images
  not used for evaluation (in dataset order) with a generator seeded by `--train-seed`,
  the first `--train-images` of them (all of them when fewer are left);
- synthetic data (no `--data`): image i of `SyntheticShapes` depends only on (seed, i), so
  the training images are the next `--train-images` images of the same generator, indices
  total .. total + N - 1: the same distribution, none of them an evaluation image.

Disjoint by construction in both cases: the sets of dataset indices never intersect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sei_tui.core.errors import SeiInputError

__all__ = [
    "DEFAULT_TRAIN_IMAGES",
    "DEFAULT_TRAIN_SEED",
    "MIN_TRAIN_IMAGES",
    "TrainingImages",
    "evaluation_indices",
    "training_indices",
    "training_images",
]

DEFAULT_TRAIN_IMAGES = 512
MIN_TRAIN_IMAGES = 16
DEFAULT_TRAIN_SEED = 0


@dataclass(frozen=True)
class TrainingImages:
    """The training images, what they are trained towards, and their cache fingerprint."""

    images: Any  # torch.Tensor (N, C, H, W) float32, preprocessed for the model
    labels: Any | None  # torch.Tensor (N,) model class indices, or None (self-distillation)
    indices: tuple[int, ...]  # dataset indices of the images
    fingerprint: str  # the dataset's content digest + the indices


def evaluation_indices(total: int, n: int) -> list[int]:
    """The dataset indices `prepare_inputs` evaluates on: n images spread evenly."""
    n = min(total, n)
    return [i * total // n for i in range(n)]


def training_indices(
    total: int, evaluation: list[int], wanted: int, seed: int, synthetic: bool
) -> list[int]:
    """Dataset indices of the training images (see the module doc for the rule)."""
    import torch

    if synthetic:
        return list(range(total, total + wanted))
    used = set(evaluation)
    rest = [i for i in range(total) if i not in used]
    order = torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))
    return [rest[int(k)] for k in order[:wanted]]


def training_images(
    data: str | None,
    synthetic: int | None,
    loaded: Any,
    eval_images: int,
    wanted: int,
    seed: int,
    label_of: list[int] | None,
) -> TrainingImages:
    """Open the training images of a run. `label_of` maps the data's labels to the model's
    classes (None: train towards the whole model's predictions). Too few images left is a
    SeiInputError naming the flags."""
    import torch

    from sei_tui.core.data.datasets import open_dataset
    from sei_tui.core.evaluation.prepare import DEFAULT_IMAGES

    is_synthetic = data is None
    total_synthetic = synthetic if synthetic is not None else DEFAULT_IMAGES
    if is_synthetic:
        dataset = open_dataset(
            None, total_synthetic + wanted, loaded.preprocess, loaded.input_shape
        )
        total = total_synthetic
    else:
        dataset = open_dataset(data, None, loaded.preprocess, loaded.input_shape)
        total = len(dataset)
    evaluation = evaluation_indices(total, eval_images)
    indices = training_indices(total, evaluation, wanted, seed, is_synthetic)
    if len(indices) < MIN_TRAIN_IMAGES:
        raise SeiInputError(
            f"--train-images: only {len(indices)} images of --data {data} are left for "
            f"training after the {len(evaluation)} evaluation images (at least "
            f"{MIN_TRAIN_IMAGES} are needed): lower --images or add images"
        )
    items = [dataset[i] for i in indices]
    images = torch.stack([x for x, _ in items]).float()
    labels = None
    if label_of is not None:
        labels = torch.tensor([label_of[int(y)] for _, y in items], dtype=torch.long)
    digest = hashlib.sha256(dataset.fingerprint.encode())
    digest.update(",".join(map(str, indices)).encode())
    return TrainingImages(images, labels, tuple(indices), digest.hexdigest()[:32])
