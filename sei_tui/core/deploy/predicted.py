"""The `sei analyze` row of one exported deployment, through the core Evaluation API.

Used by `sei export` (the mean frame size of compressed encodings) and by `sei run` (the
prediction a measured run is set against, on the same images).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sei_tui.core.evaluation.engine import Evaluation


class SplitEvaluation(Evaluation):
    """An Evaluation of the `split` deployments at given split points only."""

    def __init__(self, *args: Any, split_indices: Sequence[int] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.split_indices = tuple(split_indices)

    def candidate_splits(self) -> list:
        return [self.graph.split_points[i] for i in self.split_indices]


def split_evaluation(
    loaded: Any,
    graph: Any,
    split_index: int,
    encoding: str,
    data: str | None = None,
    synthetic: int | None = None,
    scenario: str | None = None,
    protocol: str | None = "tcp",
    max_images: int | None = None,
) -> SplitEvaluation:
    """A prepared evaluation of the one split deployment (`split`, `encoding`)."""
    kwargs: dict[str, Any] = {}
    if max_images is not None:
        kwargs["max_images"] = max_images
    evaluation = SplitEvaluation(
        loaded,
        scenario=scenario,
        data=data,
        synthetic=synthetic,
        encodings=[encoding],
        saliency=False,
        protocol=protocol,
        loaded=loaded,
        graph=graph,
        strategies=("split",),
        split_indices=(split_index,),
        **kwargs,
    )
    evaluation.prepare()
    return evaluation


def deployment_of(evaluation: Evaluation) -> Any:
    """The one split Deployment of a `split_evaluation`."""
    (deployment,) = [d for d in evaluation.deployments if d.strategy == "split"]
    return deployment
