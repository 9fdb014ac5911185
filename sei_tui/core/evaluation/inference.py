"""Batched forward passes of the evaluation: how many torch threads, and running a tail
over decoded payloads. Shared by preparation, deployments and accuracy under loss."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

import numpy as np

from sei_tui.core.errors import SeiCancelled
from sei_tui.core.evaluation.encoding import LostRanges, decode_image, decode_tensors

__all__ = [
    "BATCH",
    "Cancel",
    "Progress",
    "batch_threads",
    "check_cancel",
    "decode_payload",
    "evaluation_threads",
    "run_tail",
]

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]
BATCH = 64  # images per forward pass


def check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise SeiCancelled()


def evaluation_threads() -> int:
    """torch intra-op threads for the evaluation's batched forward passes: one per core the
    1-minute load average leaves idle, less one for the work beside them (the background
    framing; in the TUI, the UI thread), at least 1, at most torch's own choice.

    On busy cores every parallel region waits for a descheduled thread: on a 2-core
    machine at load 3, the demo's batch-64 forward took 137 ms on 1 thread, 360 ms on 2."""
    import torch

    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(torch.get_num_threads(), round(cores - load) - 1))


@contextlib.contextmanager
def batch_threads():
    """`evaluation_threads()` intra-op threads inside, torch's previous setting after."""
    import torch

    previous = torch.get_num_threads()
    wanted = evaluation_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)


def decode_payload(
    remote: bool, frame: bytes, shapes: Sequence[tuple[int, ...]], lost: LostRanges
) -> list[np.ndarray]:
    """What the server decodes from one frame: the image (batch of 1) for `remote`, else
    the split's payload tensors; `lost` byte ranges concealed (see `encoding`)."""
    if remote:
        return [decode_image(frame, shapes[0], lost)[None]]
    return decode_tensors(frame, shapes, lost)


def run_tail(tail, decoded: list[list[np.ndarray]], remote: bool, batch: int = BATCH):
    """Top-1 of `tail` over per-image decoded payloads, `batch` images per call."""
    import torch

    tops = []
    with torch.inference_mode():
        for start in range(0, len(decoded), batch):
            chunk = decoded[start : start + batch]
            payload = [
                torch.from_numpy(np.concatenate([d[t] for d in chunk]))
                for t in range(len(chunk[0]))
            ]
            logits = tail(payload[0]) if remote else tail(payload)
            tops.append(logits.argmax(dim=1))
    return torch.cat(tops)
