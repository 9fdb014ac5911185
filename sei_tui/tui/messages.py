"""Typed messages that workers post to the app (thread-safe `post_message`)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class TaskProgress(Message):
    """Progress of a background task; a newer one replaces an unhandled older one."""

    def __init__(self, task: str, fraction: float, label: str) -> None:
        super().__init__()
        self.task = task
        self.fraction = fraction
        self.label = label

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskProgress) and message.task == self.task


class TaskFailed(Message):
    def __init__(self, task: str, error: str) -> None:
        super().__init__()
        self.task = task
        self.error = error


class ScenarioLoaded(Message):
    def __init__(self, scenario: Any) -> None:
        super().__init__()
        self.scenario = scenario


class ModelReady(Message):
    def __init__(self, graph: Any) -> None:
        super().__init__()
        self.graph = graph


class SaliencyReady(Message):
    """`result` is None when there are no labelled images to measure CS on."""

    def __init__(self, result: Any, reason: str = "") -> None:
        super().__init__()
        self.result = result
        self.reason = reason


class SweepStarted(Message):
    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation


class RowReady(Message):
    def __init__(self, generation: int, row: Any, done: int, total: int) -> None:
        super().__init__()
        self.generation = generation
        self.row = row
        self.done = done
        self.total = total


class SweepFinished(Message):
    def __init__(self, generation: int, wall_s: float) -> None:
        super().__init__()
        self.generation = generation
        self.wall_s = wall_s


class RecommendationReady(Message):
    """The core's Ranking of the current rows under the current QoS: rows in rank order
    (violations and the Pareto mark set on each), the front and the recommendation."""

    def __init__(self, generation: int, ranking: Any) -> None:
        super().__init__()
        self.generation = generation
        self.ranking = ranking


class ReportExported(Message):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class PoliciesReady(Message):
    """The policies over the stream (core PolicyResults) for the ranking's rows."""

    def __init__(self, generation: int, policies: list, rows: list) -> None:
        super().__init__()
        self.generation = generation
        self.policies = policies
        self.rows = rows
