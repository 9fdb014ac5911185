"""Early-exit branches: a classifier on the device reading the split point's tensor.

The branch pools the tensor to one feature vector per image, by its layout (the layouts
of `sei_tui.core.saliency.gradcam.tensor_layout`), then standardises it (per-feature mean
and standard deviation of the training images, fixed buffers) and applies one linear layer:

- spatial B x C x H x W (and any rank >= 4 channels-first map): global average pooling
  over the positions -> B x C;
- channels-last B x H x W x C: average over H and W -> B x C;
- tokens B x N x D: the class token (token 0) when N - 1 is a positive perfect square
  (a class token in front of a square patch grid, as ViT), else the mean token -> B x D;
- flat B x D (or B): the vector itself.

Training (backbone frozen: only the branch learns, on the pooled features of the training
images, computed once): Adam, `epochs` passes in mini-batches of 64 shuffled by a generator
seeded with the seed, weights initialised after `torch.manual_seed(seed)`; cross entropy
towards the labels, or towards the whole model's softmax (self-distillation) without them.
Training runs on one torch thread (`TRAINING_THREADS`): the result is then the same on every
machine with the same torch build (several threads may sum in another order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "DEFAULT_EXIT_EPOCHS",
    "TRAINING_THREADS",
    "ExitBranch",
    "exit_layout",
    "pool_features",
    "single_thread",
    "train_exit",
]

DEFAULT_EXIT_EPOCHS = 30
TRAINING_THREADS = 1
BATCH = 64
EXIT_LR = 1e-2


def exit_layout(shape: Sequence[int], input_shape: Sequence[int] | None = None) -> str:
    """`spatial`, `channels_last`, `tokens` or `vector` (see the module doc)."""
    from sei_tui.core.saliency.gradcam import tensor_layout

    return tensor_layout(shape, input_shape)


def _class_token(tokens: int) -> bool:
    grid = tokens - 1
    return grid > 0 and math.isqrt(grid) ** 2 == grid


def pool_features(tensor: torch.Tensor, layout: str) -> torch.Tensor:
    """B x D features of a batch-first split tensor under `layout` (the module doc's rule)."""
    if layout == "vector":
        return tensor.reshape(tensor.shape[0], -1)
    if layout == "tokens":
        if _class_token(tensor.shape[1]):
            return tensor[:, 0]
        return tensor.mean(dim=1)
    if layout == "channels_last":
        return tensor.mean(dim=(1, 2))
    return tensor.flatten(2).mean(dim=2)


def pooling_flops(shape: Sequence[int], layout: str) -> int:
    """Additions of the pooling per image (shape without the batch axis)."""
    if layout == "vector":
        return 0
    if layout == "tokens":
        return 0 if _class_token(shape[0]) else int(math.prod(shape))
    return int(math.prod(shape))


class ExitBranch(nn.Module):
    """Pooling (by layout) -> fixed standardisation -> linear classifier."""

    def __init__(self, layout: str, features: int, classes: int):
        super().__init__()
        self.layout = layout
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.linear = nn.Linear(features, classes)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear((pooled - self.mean) / self.std)

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.classify(pool_features(tensor, self.layout))

    def flops(self, shape: Sequence[int]) -> int:
        """FLOPs per image: pooling, standardisation, 2 per multiply-add of the linear."""
        d, k = self.linear.in_features, self.linear.out_features
        return pooling_flops(shape, self.layout) + 2 * d + 2 * d * k

    def params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class single_thread:  # noqa: N801 - used as a context manager, like torch.no_grad
    """`TRAINING_THREADS` torch threads inside, the previous count after."""

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(TRAINING_THREADS)

    def __exit__(self, *exc):
        torch.set_num_threads(self.previous)


def train_exit(
    pooled: torch.Tensor,
    layout: str,
    targets: torch.Tensor,
    classes: int,
    epochs: int = DEFAULT_EXIT_EPOCHS,
    seed: int = 0,
) -> ExitBranch:
    """An exit trained on pooled training features (N x D). `targets`: N class indices
    (labels), or N x classes probabilities (the whole model's softmax)."""
    pooled = pooled.detach().float()
    with single_thread():
        torch.manual_seed(seed)
        branch = ExitBranch(layout, pooled.shape[1], classes)
        branch.mean.copy_(pooled.mean(dim=0))
        branch.std.copy_(pooled.std(dim=0, correction=0).clamp_min(1e-6))
        optimizer = torch.optim.Adam(branch.linear.parameters(), lr=EXIT_LR, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(seed)
        n = pooled.shape[0]
        for _ in range(epochs):
            permutation = torch.randperm(n, generator=order)
            for start in range(0, n, BATCH):
                batch = permutation[start : start + BATCH]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(branch.classify(pooled[batch]), targets[batch])
                loss.backward()
                optimizer.step()
    return branch.eval()
