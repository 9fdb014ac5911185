"""The background stages of the app and their coordination.

scenario + model -> saliency -> evaluation rows -> ranking (QoS, Pareto front,
recommendation). Each stage runs in its own exclusive worker group (a newer run of a
stage cancels the older) and posts typed messages (`sei_tui.tui.messages`) back to the
app. An evaluation run carries a generation number: rows and results of an older run
are dropped. Scenario edits re-run the evaluation debounced; rows arriving faster than
frames are put into the table in batches, and a batch waits while the user is typing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.timer import Timer
from textual.worker import get_current_worker

from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.tui.messages import (
    ModelReady,
    PoliciesReady,
    RecommendationReady,
    ReportExported,
    RowReady,
    SaliencyReady,
    ScenarioLoaded,
    SweepFinished,
    SweepStarted,
    TaskFailed,
    TaskProgress,
)
from sei_tui.tui.services import ReportContext, Services
from sei_tui.tui.widgets.results import ResultsPane, row_key

if TYPE_CHECKING:
    from sei_tui.tui.app import SeiApp

DEBOUNCE_S = 0.3  # a burst of scenario edits runs one evaluation, this long after the last
ROW_BATCH_S = 0.2  # rows and progress arriving within this window are drawn in one frame
# the thresholds < and > step through on an early-exit row
EXIT_THRESHOLD_STEPS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
INPUT_QUIET_S = 0.3  # a key pressed this recently defers the next batch (input first)
MAX_DEFER_S = 2.0  # but a batch never waits longer than this


def describe(exc: BaseException) -> str:
    if isinstance(exc, SeiInputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Pipeline:
    """Starts the stage workers for `app`, and feeds evaluation rows into its table."""

    def __init__(self, app: SeiApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.generation = 0
        self.sweep_running = False
        self.ranking: Any = None  # the last Ranking shown (rows in rank order)
        self._evaluation_timer: Timer | None = None
        self._pending_rows: dict[str, Any] = {}  # by row key: a newer row replaces an older
        self._keys_this_run: set[str] = set()
        self._pending_progress: tuple[float, str] | None = None
        self._last_key_at = 0.0
        self._batch_started_at = 0.0
        self._row_flush: Timer | None = None

    # ------------------------------------------------------------------ workers
    def _run(self, name: str, group: str, body: Callable[[], None], exclusive=True) -> None:
        self.app.run_worker(
            body, name=name, group=group, exclusive=exclusive, thread=True, exit_on_error=False
        )

    def _post(self, message) -> None:
        self.app.post_message(message)

    def _reporter(self, task: str):
        """A progress callback for the core that also stops the work once the worker is
        cancelled (long core loops report progress more often than they check cancel)."""
        worker = get_current_worker()

        def report(fraction: float, label: str) -> None:
            if worker.is_cancelled:
                raise SeiCancelled()
            self._post(TaskProgress(task, fraction, label))

        return report

    def load_scenario(self, path: str | None) -> None:
        def body() -> None:
            try:
                scenario = self.services.load_scenario(path)
            except Exception as exc:  # noqa: BLE001 - any failure becomes a notification
                self._post(TaskFailed("scenario", describe(exc)))
                return
            self._post(ScenarioLoaded(scenario))

        self._run("load_scenario_worker", "scenario", body)

    def open_model(self, spec: str, weights: str | None) -> None:
        def body() -> None:
            worker = get_current_worker()
            try:
                graph = self.services.open_model(
                    spec, weights, self._reporter("model"), lambda: worker.is_cancelled
                )
            except SeiCancelled:
                return
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("model", describe(exc)))
                return
            if not worker.is_cancelled:
                self._post(ModelReady(graph))

        self._run("open_model_worker", "model", body)

    def saliency(self, graph: Any, data_dir: str | None) -> None:
        def body() -> None:
            worker = get_current_worker()
            try:
                result, reason = self.services.saliency(
                    graph, data_dir, self._reporter("saliency"), lambda: worker.is_cancelled
                )
            except SeiCancelled:
                return
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("saliency", describe(exc)))
                self._post(SaliencyReady(None, f"saliency failed: {describe(exc)}"))
                return
            if not worker.is_cancelled:
                self._post(SaliencyReady(result, reason))

        self._run("saliency_worker", "saliency", body)

    def _evaluate(self, generation: int, scenario: Any, qos: Any) -> None:
        app = self.app
        worker = get_current_worker()
        start = time.perf_counter()
        self._post(SweepStarted(generation))
        done = 0
        try:
            for row in self.services.evaluate(
                app.model_spec,
                app.weights,
                scenario,
                app.data_dir,
                qos,
                self._reporter("evaluate"),
                lambda: worker.is_cancelled,
            ):
                if worker.is_cancelled:
                    return
                done += 1
                self._post(RowReady(generation, row, done, 0))
        except SeiCancelled:
            return
        except Exception as exc:  # noqa: BLE001
            self._post(TaskFailed("evaluate", describe(exc)))
            return
        if not worker.is_cancelled:
            self._post(SweepFinished(generation, time.perf_counter() - start))

    def _rank(self, generation: int, rows: list[Any], qos: Any, objective: str = "latency") -> None:
        try:
            ranking = self.services.rank(rows, qos, objective)
        except Exception as exc:  # noqa: BLE001
            self._post(TaskFailed("recommend", describe(exc)))
            return
        self._post(RecommendationReady(generation, ranking))

    def policies(self, ranking: Any, deadline: float | None) -> None:
        """Static/adaptive/oracle over the stream when a link of the scenario follows a
        trace (the timeline view draws them)."""
        scenario = self.app.scenario
        if scenario is None or not any(getattr(k, "trace", None) for k in scenario.links):
            return
        generation, rows = self.generation, list(ranking.rows)

        def body() -> None:
            worker = get_current_worker()
            try:
                results = self.services.policies(rows, deadline, lambda: worker.is_cancelled)
            except SeiCancelled:
                return
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("policies", describe(exc)))
                return
            if not worker.is_cancelled:
                self._post(PoliciesReady(generation, results, rows))

        self._run("policies_worker", "policies", body)

    def save(self, scenario: Any, path: str, adopt_path: bool = False) -> None:
        app = self.app

        def body() -> None:
            try:
                self.services.save_scenario(scenario, path)
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("save", describe(exc)))
                return
            app.call_from_thread(app.edits.saved, scenario, path, adopt_path)

        self._run("save_worker", "save", body, exclusive=False)

    def export(self, path: str, fmt: str, context: ReportContext, ranking: Any) -> None:
        """Write the report of `ranking`: its rows in rank order, Pareto marks and all."""

        def body() -> None:
            try:
                self.services.export_report(
                    path, fmt, context, ranking.rows, ranking.recommendation
                )
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("export", describe(exc)))
                return
            self._post(ReportExported(path))

        self._run("export_worker", "export", body)

    # ------------------------------------------------------------------ evaluation runs
    def start_evaluation(self) -> None:
        """Run the evaluation now if everything it needs is there."""
        app = self.app
        if self._evaluation_timer is not None:
            self._evaluation_timer.stop()
            self._evaluation_timer = None
        if app.scenario is None or app.graph is None or not app.saliency_done:
            return
        if not app.views_alive:  # a debounce timer firing while the app shuts down
            return
        self.generation += 1
        self._keys_this_run = set()
        self._pending_rows.clear()
        self._pending_progress = None
        app.view(ResultsPane).set_progress(0.0, "evaluating: queued")
        generation, scenario, qos = self.generation, app.scenario, app.qos
        self._run("evaluate_worker", "evaluate", partial(self._evaluate, generation, scenario, qos))

    def schedule_evaluation(self) -> None:
        """Debounced: a burst of edits runs one evaluation, DEBOUNCE_S after the last."""
        if self._evaluation_timer is not None:
            self._evaluation_timer.stop()
        self._evaluation_timer = self.app.set_timer(DEBOUNCE_S, self.start_evaluation)

    def start_ranking(self) -> None:
        """Rank the rows in the table under the current QoS (a QoS edit never re-simulates)."""
        app = self.app
        results = app.view(ResultsPane)
        rows = results.rows_in_order()
        qos = app.qos if app.qos is not None else self.services.parse_qos("")
        objective = getattr(app, "objective", "latency")
        body = partial(self._rank, self.generation, rows, qos, objective)
        self._run("recommend_worker", "qos", body)

    def forget_results(self) -> None:
        """A new model: rows, ranking and any run in flight belong to the old one."""
        self.generation += 1
        self.ranking = None

    def is_current(self, generation: int) -> bool:
        return generation == self.generation

    # ------------------------------------------------------------------ rows into the table
    def key_pressed(self) -> None:
        self._last_key_at = time.monotonic()

    def sweep_started(self, message: SweepStarted) -> None:
        if not self.is_current(message.generation):
            return
        self.sweep_running = True
        self.app.view(ResultsPane).set_progress(0.0, "evaluating: starting")

    def progress(self, message: TaskProgress) -> None:
        self._pending_progress = (message.fraction, f"evaluating: {message.label}")
        self._schedule_flush()

    def row_ready(self, message: RowReady) -> None:
        if not self.is_current(message.generation):
            return
        # Rows can arrive faster than frames: apply them in batches, one repaint each.
        key = row_key(message.row)
        self._pending_rows[key] = message.row
        self._keys_this_run.add(key)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._row_flush is None:
            self._batch_started_at = time.monotonic()
            self._row_flush = self.app.set_timer(ROW_BATCH_S, self._flush_rows)

    def _flush_rows(self, force: bool = False) -> None:
        app = self.app
        if self._row_flush is not None:
            self._row_flush.stop()
        self._row_flush = None
        now = time.monotonic()
        # Repainting the table costs a frame: while the user is typing, wait a little.
        typing = now - self._last_key_at < INPUT_QUIET_S
        if not force and typing and now - self._batch_started_at < MAX_DEFER_S:
            self._row_flush = app.set_timer(INPUT_QUIET_S, self._flush_rows)
            return
        rows, self._pending_rows = list(self._pending_rows.values()), {}
        progress, self._pending_progress = self._pending_progress, None
        if not app.views_alive:
            return
        results = app.view(ResultsPane)
        if progress is not None and self.sweep_running:
            results.set_progress(*progress)
        cursor_key = results.cursor_key()
        touched = False
        with app.batch_update():
            for row in rows:
                key = row_key(row)
                if app.qos is not None:
                    results.violations[key] = self.services.check_qos(app.qos, row)
                results.put_row(row)
                touched = touched or key == cursor_key
            if touched:
                app.refresh_detail()

    def sweep_finished(self, message: SweepFinished) -> None:
        if not self.is_current(message.generation):
            return
        self._flush_rows(force=True)
        self.sweep_running = False
        results = self.app.view(ResultsPane)
        # Deployments the finished run no longer has (another data folder, other
        # candidate splits) would otherwise linger with stale numbers.
        for key in [k for k in results.order if k not in self._keys_this_run]:
            results.remove_key(key)
        results.set_progress(1.0, f"{len(results.rows)} deployments evaluated")
        results.table.apply_sort()
        self.start_ranking()

    # ------------------------------------------------------------------ exit thresholds
    def retune_exit(self, step: int) -> None:
        """Move the early-exit row under the cursor to the next threshold of
        EXIT_THRESHOLD_STEPS up (step 1) or down (-1); its row is replaced when simulated."""
        app = self.app
        results = app.view(ResultsPane)
        key = results.cursor_key()
        row = results.rows.get(key) if key else None
        if row is None or getattr(row, "strategy", None) != "early_exit":
            app.notify("select an early-exit row to change its threshold", timeout=3)
            return
        current = row.exit_threshold
        if step > 0:
            target = next((t for t in EXIT_THRESHOLD_STEPS if t > current + 1e-9), None)
        else:
            target = next((t for t in reversed(EXIT_THRESHOLD_STEPS) if t < current - 1e-9), None)
        if target is None:
            app.notify(f"exit threshold {current:g}: no step further that way", timeout=3)
            return
        generation, qos = self.generation, app.qos
        results.set_progress(0.0, f"exit threshold {current:g} -> {target:g}")

        def body() -> None:
            worker = get_current_worker()
            try:
                new = self.services.retune_exit(row, target, qos, lambda: worker.is_cancelled)
            except SeiCancelled:
                return
            except Exception as exc:  # noqa: BLE001
                self._post(TaskFailed("evaluate", describe(exc)))
                return
            app.call_from_thread(self._exit_retuned, generation, key, new)

        self._run("exit_threshold_worker", "exit_threshold", body)

    def _exit_retuned(self, generation: int, old_key: str, row: Any) -> None:
        app = self.app
        if not self.is_current(generation) or not app.views_alive:
            return
        results = app.view(ResultsPane)
        key = row_key(row)
        with app.batch_update():
            results.remove_key(old_key)
            if app.qos is not None:
                results.violations[key] = self.services.check_qos(app.qos, row)
            results.put_row(row)
        self._keys_this_run.discard(old_key)
        self._keys_this_run.add(key)
        results.set_progress(1.0, f"exit threshold {row.exit_threshold:g}")
        results.table.apply_sort()
        results.focus_key(key)
        app.refresh_detail()
        self.start_ranking()

    def evaluation_failed(self) -> None:
        self.sweep_running = False
