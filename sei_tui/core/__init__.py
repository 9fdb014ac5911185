"""The core of sei: plain functions over plain data. Never imports Textual, the TUI or the CLI.

model -> split points -> costs & saliency -> scenario -> simulation -> evaluation
-> recommendation -> views. The CLI and the TUI are thin clients of this package, and so
can a script be::

    from sei_tui.core import Evaluation, rank, render, AnalysisReport

    qos = "p95_latency<=0.1, accuracy>=0.9"
    evaluation = Evaluation("resnet18", weights="ckpt.pt", scenario="lan.toml", data="images/")
    ranking = rank(evaluation.rows(qos), qos)  # rows() prepares the evaluation first
    print(ranking.recommendation.why, ranking.recommended)

The names below are the public API (docs/architecture.md, "The core as a library"); each
is loaded on first use, so `import sei_tui.core` stays cheap (no torch until a name that
needs it is touched). Everything else is internal to its stage and may move.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module (under sei_tui.core) that defines it
_EXPORTS: dict[str, str] = {
    # errors every front end maps to exit codes
    "SeiInputError": "errors",
    "SeiCancelled": "errors",
    # stage 1: the model and its split points
    "load_model": "model.loading",
    "analyze_model": "model.graph",
    "ComputeModel": "model.compute",
    # stage 1b: evaluation data
    "open_dataset": "data.datasets",
    # stage 2: interpretability
    "cumulative_saliency": "saliency.cumulative",
    # stage 3: the network
    "Scenario": "network.scenario",
    "load_scenario": "network.scenario",
    "parse_scenario": "network.scenario",
    "save_scenario": "network.scenario",
    "builtin_scenario": "network.scenario",
    "resolve_scenario": "network.scenario",
    # stage 4: evaluation, ranking, reports
    "Evaluation": "evaluation.engine",
    "Row": "evaluation.rows",
    "Recommendation": "evaluation.rows",
    "QoS": "evaluation.qos",
    "parse_qos": "evaluation.qos",
    "parse_sweep": "evaluation.sweep",
    "rank": "evaluation.ranking",
    "Ranking": "evaluation.ranking",
    "AnalysisReport": "evaluation.report",
    "render": "evaluation.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
