"""Latency x accuracy of every deployment on a simulated network: the `Evaluation` facade.

The work runs in stages, each in its own module, each passing a typed result forward:

1. `prepare`: model, graph, evaluation images, whole-model predictions, labels,
   saliency and compute models -> `EvaluationInputs`;
2. `deployments`: local, remote and split deployments with their encoded frames,
   timed encode/decode and lossless top-1 -> `Deployment` list; with `strategies` naming
   them, `sei_tui.core.adapters.deploy` trains exits and bottlenecks and adds their
   `early_exit` and `bottleneck` deployments;
3. `simulation` (with `accuracy` and `latency`): one libsim run per payload size, each
   deployment's frames' latencies and losses -> `Row`s;
4. `ranking.rank` orders rows, marks the Pareto front and recommends; `sweep` does so at
   every point of a grid of link parameters.

`Evaluation` holds stages 1 and 2 (the slow, network-independent part) so that `rows()`
and `sweep()` can be called again when the scenario's network or the QoS changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sei_tui.core.evaluation.deployments import Deployment, DeploymentBuilder, candidate_splits
from sei_tui.core.evaluation.encoding import (
    DEFAULT_INPUT_ENCODINGS,
    InputEncoding,
    TensorEncoding,
    default_tensor_encodings,
    parse_input_encoding,
    parse_tensor_encoding,
)
from sei_tui.core.evaluation.inference import (
    Cancel,
    Progress,
    batch_threads,
    check_cancel,
    evaluation_threads,
)
from sei_tui.core.evaluation.latency import latency_parts, nearest_rank
from sei_tui.core.evaluation.prepare import (
    DEFAULT_IMAGES,
    MAX_IMAGES,
    EvaluationInputs,
    load_model_and_graph,
    load_scenario,
    prepare_inputs,
)
from sei_tui.core.evaluation.qos import QoS, parse_qos
from sei_tui.core.evaluation.rows import Recommendation, Row
from sei_tui.core.evaluation.simulation import NetworkPlan, apply_overrides, simulate_rows
from sei_tui.core.evaluation.sweep import PointRows, SweepAxis, SweepPoint, parse_sweep
from sei_tui.core.evaluation.sweep import sweep as sweep_points

__all__ = [
    "DEFAULT_IMAGES",
    "MAX_IMAGES",
    "Deployment",
    "Evaluation",
    "EvaluationInputs",
    "Recommendation",
    "Row",
    "SweepAxis",
    "SweepPoint",
    "apply_overrides",
    "evaluation_threads",
    "latency_parts",
    "nearest_rank",
    "parse_sweep",
]

# Model analysis is the slow part and does not depend on the scenario: keep it per process.
_MODEL_CACHE: dict[tuple, tuple[Any, Any]] = {}

DEFAULT_STRATEGIES = ("local", "remote", "split")  # `sei analyze` without --strategies

# What `prepare()` exposes of its EvaluationInputs as attributes of the Evaluation.
_INPUT_ATTRIBUTES = frozenset(
    {
        "loaded",
        "graph",
        "model_name",
        "images",
        "whole_logits",
        "whole_top1",
        "labels",
        "has_labels",
        "whole_accuracy",
        "saliency",
        "saliency_error",
        "edge_compute",
        "server_compute",
        "compute_label",
    }
)


class Evaluation:
    """Everything the rows need, prepared once: model, graph, data, compute profiles and
    the encoded frames of every deployment. `rows()` and `sweep()` then only simulate and
    measure accuracy, so a TUI can re-run them when the scenario or QoS changes (it may
    replace `scenario` after `prepare()`; the compute models stay those prepared).

    A caller that already holds the model can hand it over instead of having it loaded
    again: `loaded` (the LoadedModel; defaults to `model` when that is not a name), `graph`
    (its ModelGraph, from `analyze_model(loaded)`) and `saliency_result` (its
    SaliencyResult over the same evaluation data: `data`, or the default synthetic set).
    After `prepare()`, the prepared inputs (`inputs`) are also readable as attributes:
    `model_name`, `graph`, `images`, `has_labels`, `whole_accuracy`, `saliency_error`...
    """

    def __init__(
        self,
        model: str | Any = "demo",
        weights: str | None = None,
        scenario: str | Path | Any | None = None,
        data: str | Path | None = None,
        synthetic: int | None = None,
        encodings: Sequence[str | TensorEncoding] | None = None,
        input_encodings: Sequence[str | InputEncoding] | None = None,
        all_splits: bool = False,
        max_images: int = MAX_IMAGES,
        saliency: bool = True,
        frames: int | None = None,
        protocol: str | None = None,
        *,
        input_shape: tuple[int, int, int] | None = None,
        loaded: Any | None = None,
        graph: Any | None = None,
        saliency_result: Any | None = None,
        strategies: Sequence[str] | None = None,
        adapters: Any | None = None,
    ):
        if loaded is None and not isinstance(model, str):
            loaded = model
        if graph is not None and loaded is None:
            raise ValueError("Evaluation: graph= needs the LoadedModel it came from (loaded=)")
        self.given_loaded = loaded
        self.given_graph = graph
        self.given_saliency = saliency_result
        self.model_spec = model
        self.weights = weights
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.scenario_spec = scenario
        self.data = data
        self.synthetic = synthetic
        self.encodings = [
            e if isinstance(e, TensorEncoding) else parse_tensor_encoding(e)
            for e in (encodings or default_tensor_encodings())
        ]
        self.input_encodings = [
            e if isinstance(e, InputEncoding) else parse_input_encoding(e)
            for e in (input_encodings or DEFAULT_INPUT_ENCODINGS)
        ]
        self.all_splits = all_splits
        self.max_images = max_images
        self.use_saliency = saliency
        self.frames = frames  # None: the scenario flow's
        self.protocol = protocol  # None: the scenario's
        # which deployments (rows.STRATEGIES; default local, remote, split) and how exits
        # and bottlenecks are trained (an adapters.deploy.AdapterOptions; None: defaults)
        self.strategies = tuple(strategies or DEFAULT_STRATEGIES)
        self.adapter_options = adapters
        self.exit_retuner: Any = None  # adapters.deploy.ExitRetuner once exits are trained
        self.inputs: EvaluationInputs | None = None
        self.deployments: list[Deployment] = []
        # split2 deployments (tiers.TwoCut) and each one's top-1 per image through both
        # re-encodings, keyed by (cuts, encoding): only when the scenario has an edge box
        self.two_cuts: list[Any] = []
        self.two_cut_top1: dict[tuple, Any] = {}
        self.two_cut_segments: Any = None  # tiers_accuracy.Segments: modules built once
        self.prepared = False

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: the prepared inputs' fields
        inputs = self.__dict__.get("inputs")
        if name in _INPUT_ATTRIBUTES and inputs is not None:
            return getattr(inputs, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------ stages 1 and 2

    def prepare(self, progress: Progress | None = None, cancel: Cancel | None = None) -> None:
        if self.prepared:
            return
        import libsim

        libsim.prepare_workers()  # the simulation workers' server boots while the model loads
        report = progress or (lambda _f, _s: None)
        report(0.0, "loading model")
        self.scenario = load_scenario(self.scenario_spec)
        loaded, graph = self._model()
        self.inputs = prepare_inputs(
            loaded,
            graph,
            self.scenario,
            self.data,
            self.synthetic,
            self.max_images,
            self.use_saliency,
            self.given_saliency,
            report,
            cancel,
        )
        builder = DeploymentBuilder(self.inputs, self.encodings, self.input_encodings)
        candidates = self.candidate_splits()
        deployments: list[Deployment] = []
        adapted = {"early_exit", "bottleneck"} & set(self.strategies)
        plan = self._plan_adapters(candidates) if adapted else None
        with batch_threads():
            report(0.35, "local and remote")
            if "local" in self.strategies:
                deployments.append(builder.local())
            if "remote" in self.strategies:
                deployments += builder.remote()
            if "split" not in self.strategies and not adapted:
                candidates = []
            done = 0
            span = 0.3 if adapted else 0.6  # training takes the rest of the bar
            for group in builder.split_groups(candidates):
                check_cancel(cancel)

                def step(fraction: float, label: str, before: int = done, size: int = len(group)):
                    whole = (before + fraction * size) / max(len(candidates), 1)
                    report(0.4 + span * whole, label)

                deployments += self._prepare_splits(builder, group, cancel, step)
                done += len(group)
        if adapted:
            deployments += self._adapter_deployments(plan, deployments, report, cancel)
        if "split" not in self.strategies:  # built only for the exits' offloaded path
            deployments = [d for d in deployments if d.strategy != "split"]
        self.deployments = deployments
        if "split" in self.strategies:
            self._prepare_two_cuts(self.candidate_splits(), report, cancel)
        report(1.0, "prepared")
        self.prepared = True

    def _prepare_two_cuts(self, candidates: list, report: Progress, cancel: Cancel | None) -> None:
        """Every pair of the split candidates in every encoding as a split2 deployment, and
        its accuracy through both hops' re-encodings; nothing without an edge box."""
        from sei_tui.core.evaluation.tiers import build_two_cuts, cut_pairs, edge_box
        from sei_tui.core.evaluation.tiers_accuracy import Segments, lossless_top1s

        if edge_box(self.scenario) is None:
            return
        report(0.99, "two cuts")
        inputs = self.inputs
        with batch_threads():
            self.two_cuts = build_two_cuts(
                inputs.graph, self.scenario, candidates, self.encodings, inputs.images
            )
            if not self.two_cuts:
                return
            self.two_cut_segments = Segments(inputs.graph)
            self.two_cut_top1 = lossless_top1s(
                inputs.graph,
                inputs.images,
                cut_pairs(candidates),
                self.encodings,
                self.two_cut_segments,
                cancel,
            )

    def _two_cut_rows(
        self,
        qos: QoS,
        deadline: float | None,
        processes: int | None,
        cancel: Cancel | None,
        overrides: dict[str, float] | None = None,
    ) -> Iterator[Row]:
        """The split2 rows on the current scenario with the link `overrides` (none once
        it has no edge box)."""
        from sei_tui.core.evaluation.energy import TwoCutEnergy
        from sei_tui.core.evaluation.tiers import (
            edge_box,
            simulate_two_cuts,
            two_cut_row,
            undominated,
        )
        from sei_tui.core.evaluation.tiers_accuracy import lossy_top1

        box = edge_box(self.scenario)
        if not self.two_cuts or box is None:
            return
        inputs = self.inputs
        energy = TwoCutEnergy.of(self.scenario, box.name)
        by_name = {e.name: e for e in self.encodings}
        results = simulate_two_cuts(
            self.two_cuts,
            self.scenario,
            self.frames,
            self.protocol,
            deadline,
            processes,
            cancel,
            overrides,
        )
        rows = []
        for result in results:
            d = result.deployment
            top1 = self.two_cut_top1[d.cuts, d.encoding]
            losses = result.frame_losses()
            if losses is not None:
                check_cancel(cancel)
                with batch_threads():
                    top1 = lossy_top1(
                        inputs.graph,
                        inputs.images,
                        d.cuts,
                        by_name[d.encoding],
                        top1,
                        losses,
                        self.two_cut_segments,
                    )
            row = two_cut_row(result, inputs.graph, top1, inputs.labels, inputs.whole_top1, energy)
            row.violations = qos.check(row)
            row.feasible = not row.violations
            rows.append(row)
        yield from undominated(rows)

    def _plan_adapters(self, candidates: list) -> Any:
        """The checked training plan of the exits and bottlenecks the strategies ask for
        (an adapters.training.AdapterPlan): bad input fails here, before the slow work."""
        from dataclasses import replace

        from sei_tui.core.adapters.training import AdapterOptions, plan_adapters

        options = replace(
            AdapterOptions() if self.adapter_options is None else self.adapter_options,
            exits="early_exit" in self.strategies,
            bottlenecks="bottleneck" in self.strategies,
        )
        data = None if self.data is None else str(self.data)
        return plan_adapters(self.inputs, candidates, options, data, self.synthetic)

    def _adapter_deployments(
        self, plan: Any, built: list[Deployment], report: Progress, cancel: Cancel | None
    ) -> list[Deployment]:
        """Train the planned exits and bottlenecks; their deployments."""
        from sei_tui.core.adapters.deploy import adapter_deployments

        def step(fraction: float, label: str) -> None:
            report(0.7 + 0.29 * fraction, f"training: {label}")

        splits = [d for d in built if d.strategy == "split"]
        deployments, self.exit_retuner = adapter_deployments(
            self.inputs, plan, splits, self.encodings, step, cancel
        )
        return deployments

    def _model(self) -> tuple[Any, Any]:
        if self.given_loaded is not None:
            loaded = self.given_loaded
            if self.given_graph is not None:
                return loaded, self.given_graph
            return load_model_and_graph(loaded, None)
        key = (self.model_spec, self.weights, self.input_shape)
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = load_model_and_graph(
                self.model_spec, self.weights, self.input_shape
            )
        return _MODEL_CACHE[key]

    def _prepare_splits(
        self, builder: DeploymentBuilder, group: list, cancel: Cancel | None, progress: Progress
    ) -> list[Deployment]:
        """The deployments of one group of split points (one forward pass per batch)."""
        return builder.splits(group, cancel, progress)

    def candidate_splits(self) -> list:
        return candidate_splits(self.graph, self.saliency, self.all_splits)

    # ------------------------------------------------------------ stage 3

    def plan(self) -> NetworkPlan:
        """The network the rows are simulated on: the current `scenario`."""
        return NetworkPlan(self.scenario, self.frames, self.protocol)

    def rows(
        self,
        qos: QoS | str | None = None,
        deadline: float | None = None,
        overrides: dict[str, float] | None = None,
        processes: int | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Iterator[Row]:
        """Rows as their simulations complete (parallel worker processes); cancellable."""
        self.prepare(cancel=cancel)
        qos = qos if isinstance(qos, QoS) else parse_qos(qos)
        results = simulate_rows(
            self.deployments,
            self.inputs,
            self.plan(),
            [overrides or {}],
            qos,
            deadline,
            processes,
            cancel,
        )
        total = len(self.deployments) + len(self.two_cuts)
        done = 0
        for _, _, _, row in results:
            done += 1
            yield row
            if progress is not None:
                progress(done / total, row.strategy)
        for row in self._two_cut_rows(qos, deadline, processes, cancel, overrides):
            done += 1
            yield row
            if progress is not None:
                progress(done / total, row.strategy)

    def retune_exit(
        self,
        split_index: int,
        encoding: str,
        old_threshold: float,
        threshold: float,
        qos: QoS | str | None = None,
        deadline: float | None = None,
        cancel: Cancel | None = None,
    ) -> Row:
        """The early_exit row at `split_index` and `encoding` with `threshold` in place of
        `old_threshold` (the deployment is replaced, so later `rows()` keep it), simulated
        on the current scenario."""
        if self.exit_retuner is None:
            raise ValueError("Evaluation.retune_exit: no early exits were trained")
        qos = qos if isinstance(qos, QoS) else parse_qos(qos)
        new = self.exit_retuner.deployment(split_index, encoding, threshold)
        self.deployments = [
            new
            if d.strategy == "early_exit"
            and d.split.index == split_index
            and d.encoding == encoding
            and d.exit_threshold == old_threshold
            else d
            for d in self.deployments
        ]
        results = simulate_rows([new], self.inputs, self.plan(), [{}], qos, deadline, None, cancel)
        return next(row for _, _, _, row in results)

    def policies(
        self,
        rows: Sequence[Row],
        deadline: float | None = None,
        settings: Any = None,
        processes: int | None = None,
        cancel: Cancel | None = None,
    ) -> list:
        """Static, adaptive and oracle policies over the stream, choosing among `rows`
        (see `policies`); empty unless a link of the scenario follows a trace."""
        from sei_tui.core.evaluation.policies import PolicySettings, evaluate_policies, has_trace

        self.prepare(cancel=cancel)
        plan = self.plan()
        if not rows or not has_trace(plan.network(1)):
            return []
        return evaluate_policies(
            self.deployments,
            rows,
            self.inputs,
            plan,
            deadline,
            settings or PolicySettings(),
            processes,
            cancel,
        )

    def sweep(
        self,
        axes: Sequence[SweepAxis],
        qos: QoS | str | None = None,
        deadline: float | None = None,
        processes: int | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> list[SweepPoint]:
        """The recommended deployment at every point of the grid spanned by `axes`: the one
        `rank(rows(qos, overrides=point))` recommends, split2 rows included."""
        self.prepare(cancel=cancel)
        qos = qos if isinstance(qos, QoS) else parse_qos(qos)
        extra = None
        if self.two_cuts:  # one simulation per distinct pair of hop sizes at each point
            extra = PointRows(
                lambda point: self._two_cut_rows(qos, deadline, processes, cancel, point),
                len({d.hop_sizes for d in self.two_cuts}),
            )
        return sweep_points(
            self.deployments,
            self.inputs,
            self.plan(),
            axes,
            qos,
            deadline,
            processes,
            progress,
            cancel,
            extra,
        )
