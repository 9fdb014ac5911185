"""Stage 3a: accuracy of a deployment when frames lose bytes on the network.

Image j's losses are those of simulated frame j mod F (F frames). Frame f carries image
(f mod n)'s encoded frame (see `simulation`), so for j < F that is the frame that carried
image j's own payload, and its lost ranges are in that payload's bytes; an image j >= F
(fewer frames than images) was not sent itself and takes the losses of frame j mod F,
ranges past its own end ignored. The tail runs on the payload as
decoded (dequantised; with UDP, the byte ranges libsim reports lost in that frame
concealed as in `sei_tui.core.evaluation.encoding`; a frame of which nothing arrived
decodes to all zeros). With TCP, loss only costs latency. A `local` result whose frame
lost any byte counts as a wrong answer. `accuracy` is against the labels (see `prepare`),
`agreement` is top-1 agreement with the whole model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sei_tui.core.evaluation.deployments import Deployment
from sei_tui.core.evaluation.inference import batch_threads, decode_payload, run_tail

__all__ = ["EVERYTHING", "accuracy_under_loss", "frame_loss"]

LostRanges = tuple[tuple[int, int], ...]
EVERYTHING: LostRanges = ((0, 1 << 62),)  # every byte of a frame


def frame_loss(frame: Any) -> LostRanges:
    """The byte ranges of one simulated frame (a libsim FrameResult) that did not arrive."""
    if frame.delivered_s is None:
        return EVERYTHING  # nothing arrived
    if frame.lost_ranges:
        return tuple(frame.lost_ranges)
    if not frame.complete and frame.lost_bytes:
        return EVERYTHING  # loss without ranges: assume the worst
    return ()


def accuracy_under_loss(
    deployment: Deployment,
    frame_losses: Sequence[Sequence[tuple[int, int]]] | None,
    labels: Any,
    whole_top1: Any,
) -> tuple[float, float]:
    """(accuracy vs `labels`, agreement with `whole_top1`) with frame f's lost byte ranges
    applied to images j = f mod F; `frame_losses` None means every frame arrived whole.
    Only images whose frame lost bytes go through the tail again; the others keep the
    deployment's lossless prediction."""
    top1 = deployment.lossless_top1.clone()
    if frame_losses:
        hit = [j for j in range(len(top1)) if frame_losses[j % len(frame_losses)]]
        if hit and deployment.strategy == "local":
            top1[hit] = -1  # the result never arrived whole: no answer
        elif hit and deployment.exited is not None:  # early exit: each image's own path
            answered = [j for j in hit if deployment.exited[j]]
            sent = [j for j in hit if not deployment.exited[j]]
            if answered:
                top1[answered] = -1  # the exit's result never arrived whole
            if sent:
                frames = deployment.encoded_frames()
                decoded = [
                    decode_payload(
                        False, frames[j], deployment.shapes, frame_losses[j % len(frame_losses)]
                    )
                    for j in sent
                ]
                with batch_threads():
                    top1[sent] = run_tail(deployment.tail, decoded, False)
        elif hit:
            remote = deployment.strategy == "remote"
            frames = deployment.encoded_frames()
            decoded = [
                decode_payload(
                    remote, frames[j], deployment.shapes, frame_losses[j % len(frame_losses)]
                )
                for j in hit
            ]
            with batch_threads():
                top1[hit] = run_tail(deployment.tail, decoded, remote)
    return (
        float((top1 == labels).float().mean()),
        float((top1 == whole_top1).float().mean()),
    )
