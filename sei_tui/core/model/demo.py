"""The built-in demo model: a compact VGG-style CNN for 3x64x64 synthetic shapes.

Trained on `SyntheticShapes` at first use (5 epochs of Adam on fresh procedurally
generated images, 10240 in all), checked on a held-out seed, and cached in the user cache
dir as a state dict + metadata (loaded with `weights_only=True`).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from sei_tui.core.cache import atomic_write_bytes, cache_dir
from sei_tui.core.data.datasets import SHAPE_CLASSES, SyntheticShapes
from sei_tui.core.errors import SeiCancelled, SeiInputError

DEMO_INPUT_SHAPE = (3, 64, 64)
DEMO_CLASSES = list(SHAPE_CLASSES)
DEMO_ARCH_VERSION = 3
# (out_channels of each conv) per block; every block ends with a 2x2 max-pool
DEMO_BLOCKS = ((16,), (32,), (64, 64), (96, 96), (128,))
# training images come from seeds at and above this base; held-out checks use small seeds
DEMO_TRAIN_SEED_BASE = 1000
DEMO_HELDOUT_SEED = 1
# One thread: these small convolutions gain little from a second one, and on busy cores
# every parallel region waits for a descheduled thread (measured on 2 shared cores: 45 s
# with 1 thread, 145 s with 2). It also makes the trained weights the same everywhere.
DEMO_TRAINING_THREADS = 1

Progress = Callable[[float, str], None]


@dataclass
class DemoTraining:
    """What training the demo model did and reached (stored next to its weights)."""

    arch_version: int
    seed: int
    epochs: int
    images_per_epoch: int
    heldout_images: int
    heldout_seed: int
    accuracy: float
    train_seconds: float
    cpu_seconds: float
    threads: int


def build_demo_model(num_classes: int = len(DEMO_CLASSES)) -> nn.Module:
    """The untrained demo architecture: input standardisation, 5 VGG blocks of
    conv3x3/BN/ReLU (7 convs) each ending in a 2x2 max-pool, global pooling, 2-layer head."""
    layers: list[nn.Module] = []
    in_channels = DEMO_INPUT_SHAPE[0]
    for block in DEMO_BLOCKS:
        for out_channels in block:
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            in_channels = out_channels
        layers.append(nn.MaxPool2d(2))
    model = nn.Sequential()
    # per-image, per-channel standardisation: shapes come in any colour on any background
    model.add_module("normalize", nn.InstanceNorm2d(DEMO_INPUT_SHAPE[0]))
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module(
        "classifier",
        nn.Sequential(
            nn.Linear(in_channels, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        ),
    )
    return model


def demo_weights_path(seed: int = 0) -> Path:
    return cache_dir("models") / f"demo-v{DEMO_ARCH_VERSION}-seed{seed}.pt"


def load_demo_checkpoint(seed: int = 0) -> tuple[dict, DemoTraining] | None:
    """The cached state dict and training record, or None when absent or unreadable."""
    path = demo_weights_path(seed)
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        training = DemoTraining(**checkpoint["training"])
        state = checkpoint["state_dict"]
    except Exception:  # noqa: BLE001 - a damaged cache entry is retrained, not fatal
        return None
    if training.arch_version != DEMO_ARCH_VERSION:
        return None
    return state, training


def demo_model(
    progress: Progress | None = None,
    train_if_missing: bool = True,
    seed: int = 0,
    cancel: Callable[[], bool] | None = None,
) -> nn.Module:
    """The trained demo model in eval mode (trains and caches it at first use)."""
    checkpoint = load_demo_checkpoint(seed)
    model = build_demo_model()
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint[0])
        except RuntimeError:  # keys or shapes of another build: retrain
            checkpoint = None
    if checkpoint is not None:
        if progress:
            progress(1.0, "demo model loaded")
        return model.eval()
    if not train_if_missing:
        raise SeiInputError(
            f"{demo_weights_path(seed)}: demo model not trained yet (run `sei saliency demo`)"
        )
    model, training = train_demo_model(seed=seed, progress=progress, cancel=cancel)
    save_demo_checkpoint(model, training)
    return model.eval()


def save_demo_checkpoint(model: nn.Module, training: DemoTraining) -> Path:
    path = demo_weights_path(training.seed)
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "training": asdict(training)}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _stack(dataset: SyntheticShapes) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    return images, torch.tensor(dataset.labels(), dtype=torch.long)


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for start in range(0, images.shape[0], 256):
        logits = model(images[start : start + 256])
        correct += int((logits.argmax(1) == labels[start : start + 256]).sum())
    return correct / images.shape[0]


def train_demo_model(
    seed: int = 0,
    epochs: int = 5,
    images_per_epoch: int = 2048,
    batch_size: int = 32,
    heldout_images: int = 1024,
    threads: int = DEMO_TRAINING_THREADS,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[nn.Module, DemoTraining]:
    """Train from scratch: fresh synthetic images every epoch, Adam with a one-cycle rate."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    started = time.perf_counter()
    cpu_started = time.process_time()
    try:
        torch.manual_seed(seed)
        model = build_demo_model()
        steps_per_epoch = math.ceil(images_per_epoch / batch_size)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4, foreach=True)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch, pct_start=0.25
        )
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            if cancel is not None and cancel():
                raise SeiCancelled()
            if progress:
                progress(epoch / (epochs + 1), f"demo model: epoch {epoch + 1}/{epochs}")
            train_seed = DEMO_TRAIN_SEED_BASE + 100 * seed + epoch
            images, labels = _stack(SyntheticShapes(images_per_epoch, seed=train_seed))
            permutation = torch.randperm(images_per_epoch, generator=order)
            model.train()
            for step in range(steps_per_epoch):
                if cancel is not None and cancel():
                    raise SeiCancelled()
                batch = permutation[step * batch_size : (step + 1) * batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(images[batch]), labels[batch])
                loss.backward()
                optimizer.step()
                schedule.step()
                if progress and step % 8 == 0:
                    done = (epoch + step / steps_per_epoch) / (epochs + 1)
                    progress(done, f"demo model: epoch {epoch + 1}/{epochs} loss {loss:.3f}")
        if progress:
            progress(epochs / (epochs + 1), "demo model: held-out accuracy")
        heldout = SyntheticShapes(heldout_images, seed=DEMO_HELDOUT_SEED)
        accuracy = evaluate_accuracy(model, *_stack(heldout))
    finally:
        torch.set_num_threads(previous_threads)
    training = DemoTraining(
        arch_version=DEMO_ARCH_VERSION,
        seed=seed,
        epochs=epochs,
        images_per_epoch=images_per_epoch,
        heldout_images=heldout_images,
        heldout_seed=DEMO_HELDOUT_SEED,
        accuracy=accuracy,
        train_seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        threads=threads,
    )
    if progress:
        progress(1.0, f"demo model: held-out accuracy {accuracy:.1%}")
    return model.eval(), training
