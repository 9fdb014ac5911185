"""The same answer twice: repeated analyses of the demo on the same inputs recommend the same
deployment while every encode/decode timing is perturbed by random noise.

The demo with raw input and int8 / int8+zlib payloads has a near tie at the top: `remote
raw` (~10.1 ms), `split 0 int8` (~10.2 ms) and `split 0 int8+zlib` (~10.3 ms, ~1 ms of it
zlib on the edge) differ by less than their codec times' noise, so on exact p95 order the
recommendation follows the noise: with the tie tolerance set to 0, the runs below
recommend `split 0 int8+zlib` or `split 0 int8` depending on the seed (checked by hand,
3 times out of 3). With the tolerance the three tie and the canonical order decides.

The timings replayed are the median of three real analyses, each perturbed by +-30 %
(uniform, a new draw per timing, one seed per analysis): about the 90th percentile of the
run-to-run range of the codec medians with one core busy elsewhere (docs/cli.md,
"Ranking"). Real timings are not used in the perturbed runs: their own noise on a loaded
machine is not bounded, and the test is about what the ranking does with a given noise.
"""

from __future__ import annotations

import random
import statistics

import pytest

from sei_tui.core.evaluation import deployments
from sei_tui.core.evaluation.engine import Evaluation
from sei_tui.core.evaluation.ranking import rank

NOISE = 0.30
SEEDS = range(8)
SETTINGS = {
    "synthetic": 16,
    "frames": 5,
    "saliency": False,
    "encodings": ["int8", "int8+zlib"],
    "input_encodings": ["raw"],
}


def evaluate(loaded, graph, timer, monkeypatch):
    """The recommendation of one analysis of the demo with `timer` as the codec timer."""
    monkeypatch.setattr(deployments, "_timed_map", timer)
    evaluation = Evaluation("demo", loaded=loaded, graph=graph, **SETTINGS)
    best = rank(evaluation.rows()).recommended
    return best.strategy, best.split_index, best.encoding


@pytest.fixture(scope="module")
def demo():
    """The demo model and graph, and each codec timing of an analysis in call order: the
    median of three analyses, so that the baseline is not one moment's load."""
    first = Evaluation("demo", synthetic=16, saliency=False)
    first.prepare()
    measure = deployments._timed_map
    runs: list[list[float]] = []
    with pytest.MonkeyPatch.context() as patch:
        for _ in range(3):
            runs.append([])

            def recording(fn, items, seconds=runs[-1]):
                out, taken = measure(fn, items)
                seconds.append(taken)
                return out, taken

            evaluate(first.loaded, first.graph, recording, patch)
    assert len({len(r) for r in runs}) == 1  # the same timings, in the same order, each run
    return first.loaded, first.graph, [statistics.median(t) for t in zip(*runs, strict=True)]


def noisy_timer(baseline: list[float], seed: int):
    """The codec timer replaying `baseline` with +-NOISE relative noise on every timing."""
    rng = random.Random(seed)
    calls = iter(baseline)

    def timer(fn, items):
        return [fn(x) for x in items], next(calls) * (1 + rng.uniform(-NOISE, NOISE))

    return timer


def test_perturbed_timings_give_the_same_recommendation(demo, monkeypatch):
    loaded, graph, baseline = demo
    answers = [evaluate(loaded, graph, noisy_timer(baseline, seed), monkeypatch) for seed in SEEDS]
    assert answers == [("remote", None, "raw")] * len(answers), answers
