"""Bottlenecks: an encoder on the device shrinks the split tensor from C to c channels, a
decoder on the server restores C, and the tail runs on the restored tensor.

The channel axis follows the tensor's layout (`exits.exit_layout`): dim 1 of a spatial
channels-first map, the last dim of channels-last maps, tokens and flat vectors. Encoder
and decoder are per-position linear maps over that axis (for a B x C x H x W map exactly a
1 x 1 convolution), with no spatial stride: the map keeps its resolution, so the payload
shrinks by C / c and a width c = C with identity weights reproduces the split itself.

Initialisation: the top-c principal directions of the training images' channel vectors
(encoder = their projection, decoder = its transpose, biases from the mean), the best
linear reconstruction, then fine-tuned with the backbone frozen (only encoder and decoder
learn) on reconstruction + distillation: mean squared error over the tensor's variance plus
the KL divergence from the whole model's softmax to the tail's. Adam, `epochs` passes in
mini-batches of 32 shuffled by a generator seeded with the seed, one torch thread (as exits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sei_tui.core.adapters.exits import single_thread

__all__ = ["DEFAULT_BOTTLENECK_CHANNELS", "DEFAULT_BOTTLENECK_EPOCHS", "Bottleneck", "channels_of"]

DEFAULT_BOTTLENECK_CHANNELS = (4, 8, 16)
DEFAULT_BOTTLENECK_EPOCHS = 4
BATCH = 32
BOTTLENECK_LR = 1e-3


def channel_axis(layout: str) -> int:
    """The channel axis of a batch-first tensor with `layout`."""
    return 1 if layout == "spatial" else -1


def channels_of(shape: Sequence[int], layout: str) -> int:
    """C of one image's tensor shape (no batch axis) under `layout` (vectors: the length)."""
    if not len(shape):
        return 1
    return int(shape[0] if layout == "spatial" else shape[-1])


class Bottleneck(nn.Module):
    """Encoder C -> c and decoder c -> C over the channel axis of the layout."""

    def __init__(self, layout: str, channels: int, width: int):
        super().__init__()
        self.layout = layout
        self.encoder = nn.Linear(channels, width)
        self.decoder = nn.Linear(width, channels)

    @property
    def channels(self) -> int:
        return self.encoder.in_features

    @property
    def width(self) -> int:
        return self.encoder.out_features

    def _over_channels(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        if channel_axis(self.layout) == 1 and x.dim() > 2:
            return layer(x.movedim(1, -1)).movedim(-1, 1)
        return layer(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._over_channels(self.encoder, x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._over_channels(self.decoder, z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def set_identity(self) -> Bottleneck:
        """Identity encoder and decoder (width = channels only)."""
        if self.width != self.channels:
            raise ValueError("an identity bottleneck needs width == channels")
        with torch.no_grad():
            for layer in (self.encoder, self.decoder):
                layer.weight.copy_(torch.eye(self.channels))
                layer.bias.zero_()
        return self

    def set_principal(self, x: torch.Tensor) -> Bottleneck:
        """Encoder/decoder from the top principal directions of `x`'s channel vectors."""
        vectors = self._channel_vectors(x).double()
        mean = vectors.mean(dim=0)
        centred = vectors - mean
        covariance = centred.T @ centred / max(len(centred) - 1, 1)
        _, eigenvectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
        top = eigenvectors[:, -self.width :].flip(1)  # C x c, largest first
        with torch.no_grad():
            self.encoder.weight.copy_(top.T.float())
            self.encoder.bias.copy_((-mean @ top).float())
            self.decoder.weight.copy_(top.float())
            self.decoder.bias.copy_(mean.float())
        return self

    def _channel_vectors(self, x: torch.Tensor) -> torch.Tensor:
        if channel_axis(self.layout) == 1 and x.dim() > 2:
            x = x.movedim(1, -1)
        return x.reshape(-1, self.channels)

    def positions(self, shape: Sequence[int]) -> int:
        """Channel vectors per image (shape without the batch axis)."""
        return int(math.prod(shape)) // self.channels

    def encoder_flops(self, shape: Sequence[int]) -> int:
        return self.positions(shape) * (2 * self.channels * self.width + self.width)

    def decoder_flops(self, shape: Sequence[int]) -> int:
        return self.positions(shape) * (2 * self.channels * self.width + self.channels)

    def encoder_params(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters())


def train_bottleneck(
    payload: torch.Tensor,
    layout: str,
    width: int,
    tail,
    teacher_logits: torch.Tensor,
    epochs: int = DEFAULT_BOTTLENECK_EPOCHS,
    seed: int = 0,
) -> Bottleneck:
    """A bottleneck of `width` for the split tensor `payload` (training images, batch
    first), fine-tuned against the frozen `tail` (callable on a list of tensors) and the
    whole model's logits on the same images."""
    payload = payload.detach().float()
    channels = channels_of(payload.shape[1:], layout)
    with single_thread():
        torch.manual_seed(seed)
        model = Bottleneck(layout, channels, width).set_principal(payload)
        params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=BOTTLENECK_LR)
        variance = payload.var().clamp_min(1e-12)
        teacher = F.softmax(teacher_logits.detach().float(), dim=1)
        order = torch.Generator().manual_seed(seed)
        n = payload.shape[0]
        for _ in range(epochs):
            permutation = torch.randperm(n, generator=order)
            for start in range(0, n, BATCH):
                batch = permutation[start : start + BATCH]
                x = payload[batch]
                restored = model(x)
                reconstruction = F.mse_loss(restored, x) / variance
                logits = tail([restored]).float()
                distillation = F.kl_div(
                    F.log_softmax(logits, dim=1), teacher[batch], reduction="batchmean"
                )
                loss = reconstruction + distillation
                # gradients of the bottleneck only: the frozen tail's parameters get none
                grads = torch.autograd.grad(loss, params)
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
                optimizer.step()
    return model.eval()
