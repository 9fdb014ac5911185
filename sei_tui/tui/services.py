"""The core services the app calls, behind one object the tests can swap.

The app talks only to a `Services`; `CoreServices` is the real one over `sei_tui.core`
and libsim. Every method may block and is called from a worker thread (except the cheap
QoS ones); torch is imported only inside these methods, never at app start, so the first
screen paints before torch has finished importing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sei_tui.core.cache import atomic_write_bytes
from sei_tui.core.errors import SeiCancelled, SeiInputError

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]
REPORT_FORMATS = ("md", "json", "csv")


@dataclass(frozen=True)
class ReportContext:
    """What a report names besides the rows: model, scenario and the QoS text."""

    model: str
    scenario: str
    qos: str
    objective: str = "latency"  # what the ranking minimised (core ranking.OBJECTIVES)


class Services(Protocol):
    def load_scenario(self, path: str | None) -> Any:
        """A Scenario from a file, or the built-in demo when `path` is None."""

    def save_scenario(self, scenario: Any, path: str) -> None:
        """Atomic save in the scenario file format."""

    def open_model(self, spec: str, weights: str | None, progress: Progress, cancel: Cancel) -> Any:
        """Load and analyse a model: a ModelGraph."""

    def saliency(
        self, graph: Any, data_dir: str | None, progress: Progress, cancel: Cancel
    ) -> tuple[Any | None, str]:
        """(SaliencyResult or None, why there is none)."""

    def evaluate(
        self,
        spec: str,
        weights: str | None,
        scenario: Any,
        data_dir: str | None,
        qos: Any,
        progress: Progress,
        cancel: Cancel,
    ) -> Iterator[Any]:
        """Rows as their simulations finish."""

    def sensitivity_sweep(
        self,
        spec: str,
        weights: str | None,
        scenario: Any,
        data_dir: str | None,
        qos: Any,
        axes: list[Any],
        progress: Progress,
        cancel: Cancel,
    ) -> list[dict]:
        """The recommended deployment at every point of the grid spanned by `axes`
        (`SweepAxis`), as the JSON report's sweep points."""
        ...

    def retune_exit(self, row: Any, threshold: float, qos: Any, cancel: Cancel) -> Any:
        """The early-exit `row` again at `threshold` (its exit is not trained again): a
        Row simulated on the last evaluated scenario."""

    def policies(self, rows: list[Any], deadline: float | None, cancel: Cancel) -> list[Any]:
        """Static, adaptive and oracle policies over the stream (core PolicyResults, per-frame
        `choices` indexing `rows`) on the last evaluated scenario; [] without a trace link."""

    def parse_qos(self, text: str) -> Any:
        """A QoS; raises SeiInputError naming the bad term."""

    def check_qos(self, qos: Any, row: Any) -> list[str]:
        """The constraints `row` violates."""

    def rank(self, rows: list[Any], qos: Any, objective: str = "latency") -> Any:
        """The core's Ranking of `rows` under `qos` (`sei_tui.core.evaluation.ranking.rank`):
        rows in rank order with violations and the Pareto mark, the front, the
        recommendation. The same rows, QoS and objective give the same answer as
        `sei analyze --objective`."""

    def export_report(
        self,
        path: str,
        fmt: str,
        context: ReportContext,
        rows: list[Any],
        recommendation: Any,
    ) -> None:
        """Write the report atomically in `fmt` (md/json/csv): `rows` in the given (rank)
        order, `recommendation` indexing them."""


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename over the target."""
    try:
        atomic_write_bytes(Path(path), text.encode("utf-8"))
    except OSError as exc:
        raise SeiInputError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def report_format(path: str) -> str:
    """md/json/csv from the file extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"markdown": "md"}.get(suffix, suffix)
    if fmt not in REPORT_FORMATS:
        raise SeiInputError(
            f"{path}: extension .{suffix or '(none)'}: reports are .md, .json or .csv"
        )
    return fmt


@dataclass(frozen=True)
class AnalysisSettings:
    """How the TUI evaluates: by default exactly as `sei analyze` does with no options
    (the same encodings, images, frames and candidate splits), so both give one answer.
    None means the core's default (read when evaluating: the core imports numpy/torch)."""

    encodings: tuple[str, ...] | None = None  # None: encoding.DEFAULT_TENSOR_ENCODINGS
    input_encodings: tuple[str, ...] | None = None  # None: encoding.DEFAULT_INPUT_ENCODINGS
    synthetic: int | None = None  # synthetic images without a data folder (None: 64)
    max_images: int | None = None  # None: engine.MAX_IMAGES (= `sei analyze --images`)
    frames: int | None = None  # None: the scenario flow's
    all_splits: bool = False  # False: single-tensor cuts and CS maxima
    strategies: tuple[str, ...] | None = None  # None: local, remote, split (`--strategies`)

    def evaluation_options(self) -> dict[str, Any]:
        from sei_tui.core.evaluation.encoding import (
            DEFAULT_INPUT_ENCODINGS,
            DEFAULT_TENSOR_ENCODINGS,
        )
        from sei_tui.core.evaluation.engine import MAX_IMAGES

        options = {
            "synthetic": self.synthetic,
            "encodings": list(self.encodings or DEFAULT_TENSOR_ENCODINGS),
            "input_encodings": list(self.input_encodings or DEFAULT_INPUT_ENCODINGS),
            "all_splits": self.all_splits,
            "max_images": self.max_images or MAX_IMAGES,
            "frames": self.frames,
        }
        if self.strategies is not None:  # else the core's default, as `sei analyze`
            options["strategies"] = self.strategies
        return options


class CoreServices:
    """The real services: sei_tui.core (models, saliency, scenario, evaluation) + libsim."""

    def __init__(self, settings: AnalysisSettings | None = None) -> None:
        self.settings = settings if settings is not None else AnalysisSettings()
        self._loaded: dict[int, Any] = {}  # id(graph) -> the LoadedModel it came from
        # the model the tree shows, handed to the evaluation rather than loaded again
        self._model: tuple[str, str | None, Any, Any] | None = None  # spec, weights, loaded, graph
        self._saliency: dict[tuple[int, str | None], Any] = {}  # (id(graph), data) -> result
        self._evaluation: Any = None
        self._evaluation_key: tuple | None = None
        # A cancelled evaluation stops only at its next check: the next one waits for it
        # rather than preparing the same Evaluation from two threads.
        self._evaluation_lock = threading.Lock()

    def load_scenario(self, path: str | None) -> Any:
        from sei_tui.core.network import scenario as scenario_module

        if path is None or (
            not Path(path).exists() and path in scenario_module.builtin_scenario_names()
        ):
            # A built-in lives in the package: forget its file so saving asks where to.
            builtin = scenario_module.builtin_scenario(path or "demo")
            return dataclasses.replace(builtin, source=None)
        return scenario_module.load_scenario(path)

    def save_scenario(self, scenario: Any, path: str) -> None:
        from sei_tui.core.network.scenario import save_scenario

        save_scenario(scenario, path)

    def open_model(self, spec: str, weights: str | None, progress: Progress, cancel: Cancel) -> Any:
        progress(0.02, "importing torch")
        import torch  # noqa: F401 - the slow import, reported as such

        from sei_tui.core.model.graph import analyze_model
        from sei_tui.core.model.loading import load_model

        progress(0.1, f"loading {spec}")
        loaded = load_model(spec, weights, progress=lambda f, s: progress(0.1 + 0.6 * f, s))
        progress(0.7, "tracing the graph and finding split points")
        graph = analyze_model(loaded)
        self._loaded = {id(graph): loaded}
        self._model = (spec, weights, loaded, graph)
        self._saliency = {}
        progress(1.0, f"{graph.name}: {len(graph.split_points)} split points")
        return graph

    def saliency(
        self, graph: Any, data_dir: str | None, progress: Progress, cancel: Cancel
    ) -> tuple[Any | None, str]:
        from sei_tui.core.data.datasets import open_dataset
        from sei_tui.core.evaluation.engine import DEFAULT_IMAGES
        from sei_tui.core.saliency.cumulative import cumulative_saliency

        loaded = self._loaded[id(graph)]
        # the evaluation's own data, so that its candidate splits (CS maxima) are the CLI's
        synthetic = None if data_dir else (self.settings.synthetic or DEFAULT_IMAGES)
        dataset = open_dataset(data_dir, synthetic, loaded.preprocess, loaded.input_shape)
        result = cumulative_saliency(graph, dataset, progress=progress, cancel=cancel)
        self._saliency[id(graph), data_dir] = result
        return result, ""

    def evaluate(
        self,
        spec: str,
        weights: str | None,
        scenario: Any,
        data_dir: str | None,
        qos: Any,
        progress: Progress,
        cancel: Cancel,
    ) -> Iterator[Any]:

        with self._evaluation_held(cancel):
            evaluation = self._evaluation_for(spec, weights, scenario, data_dir)
            evaluation.prepare(progress=lambda f, s: progress(0.5 * f, s), cancel=cancel)
            evaluation.scenario = scenario
            yield from evaluation.rows(
                qos, progress=lambda f, s: progress(0.5 + 0.5 * f, s), cancel=cancel
            )

    @contextlib.contextmanager
    def _evaluation_held(self, cancel: Cancel) -> Iterator[None]:
        """Hold the evaluation lock (one evaluation step at a time), waiting for it while
        `cancel` allows (SeiCancelled otherwise)."""
        while not self._evaluation_lock.acquire(timeout=0.1):
            if cancel():
                raise SeiCancelled()
        try:
            yield
        finally:
            self._evaluation_lock.release()

    def _evaluation_for(
        self, spec: str, weights: str | None, scenario: Any, data_dir: str | None
    ) -> Any:
        """The Evaluation for this model, data and compute profiles (kept while they stay)."""
        from sei_tui.core.evaluation.engine import Evaluation

        # Preparation (encodings, compute times) depends on the model, the data and
        # the compute profiles only: a network edit re-runs just the simulations.
        reuse: dict[str, Any] = {}
        if self._model is not None and self._model[:2] == (spec, weights):
            reuse = {"loaded": self._model[2], "graph": self._model[3]}
            saliency = self._saliency.get((id(self._model[3]), data_dir))
            if saliency is not None:
                reuse["saliency_result"] = saliency
        key = (
            spec,
            weights,
            data_dir,
            _compute_signature(scenario),
            id(reuse.get("graph")),
            id(reuse.get("saliency_result")),
        )
        if self._evaluation is None or key != self._evaluation_key:
            self._evaluation = Evaluation(
                spec, weights, scenario, data_dir, **self.settings.evaluation_options(), **reuse
            )
            self._evaluation_key = key
        return self._evaluation

    def sensitivity_sweep(
        self,
        spec: str,
        weights: str | None,
        scenario: Any,
        data_dir: str | None,
        qos: Any,
        axes: list[Any],
        progress: Progress,
        cancel: Cancel,
    ) -> list[dict]:
        with self._evaluation_held(cancel):
            evaluation = self._evaluation_for(spec, weights, scenario, data_dir)
            evaluation.prepare(progress=lambda f, s: progress(0.3 * f, s), cancel=cancel)
            evaluation.scenario = scenario
            points = evaluation.sweep(
                axes,
                qos,
                progress=lambda f, s: progress(0.3 + 0.7 * f, s),
                cancel=cancel,
            )
            return [point.to_dict() for point in points]

    def retune_exit(self, row: Any, threshold: float, qos: Any, cancel: Cancel) -> Any:
        with self._evaluation_held(cancel):
            if self._evaluation is None:
                raise SeiInputError("no evaluation to change yet")
            return self._evaluation.retune_exit(
                row.split_index, row.encoding, row.exit_threshold, threshold, qos, cancel=cancel
            )

    def policies(self, rows: list[Any], deadline: float | None, cancel: Cancel) -> list[Any]:
        with self._evaluation_held(cancel):
            if self._evaluation is None:
                return []
            return self._evaluation.policies(rows, deadline, cancel=cancel)

    def parse_qos(self, text: str) -> Any:
        from sei_tui.core.evaluation.qos import parse_qos

        return parse_qos(text)

    def check_qos(self, qos: Any, row: Any) -> list[str]:
        return qos.check(row)

    def rank(self, rows: list[Any], qos: Any, objective: str = "latency") -> Any:
        from sei_tui.core.evaluation.ranking import rank

        # `rank` marks the rows it ranks: rank copies, so that the rows the table shows
        # are never written from this worker thread.
        return rank([dataclasses.replace(row) for row in rows], qos, objective=objective)

    def export_report(
        self,
        path: str,
        fmt: str,
        context: ReportContext,
        rows: list[Any],
        recommendation: Any,
    ) -> None:
        from sei_tui.core.evaluation.report import AnalysisReport, render

        report = AnalysisReport(
            model=context.model,
            scenario=context.scenario,
            qos=context.qos,
            rows=rows,
            recommendation=recommendation,
            objective=context.objective,
            **self._evaluation_facts(),
        )
        write_atomic(Path(path), render(report, fmt))

    def _evaluation_facts(self) -> dict[str, Any]:
        """What `sei analyze` reports about the evaluation behind the rows."""
        evaluation = self._evaluation
        if evaluation is None or not evaluation.prepared:
            return {}
        labels = evaluation.has_labels
        return {
            "accuracy_kind": "labels" if labels else "agreement with the whole model",
            "whole_accuracy": evaluation.whole_accuracy if labels else None,
            "images": len(evaluation.images),
            "notes": [f"no CS: {evaluation.saliency_error}"] if evaluation.saliency_error else [],
        }


def _compute_signature(scenario: Any) -> str:
    """The compute profiles an evaluation's preparation depends on: the edge's, the
    server's and any relay's (an edge box's middle segments are timed when preparing)."""
    edge, server = scenario.edge_node(), scenario.server_node()
    relays = [n for n in scenario.nodes if n.compute is not None and n not in (edge, server)]
    return repr(
        [(n.compute, scenario.compute.get(n.compute)) for n in (edge, server)]
        + [(n.name, n.compute, scenario.compute.get(n.compute)) for n in relays]
    )
