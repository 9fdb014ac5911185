"""The TUI's real services: the model and saliency the tree shows feed the evaluation, so
nothing is loaded or computed twice, and a network edit re-runs only the simulations."""

import pytest

from sei_tui.core.evaluation import engine as evaluate_module
from sei_tui.core.evaluation.encoding import DEFAULT_INPUT_ENCODINGS, DEFAULT_TENSOR_ENCODINGS
from sei_tui.tui.services import AnalysisSettings, CoreServices


class Calls:
    def __init__(self, monkeypatch, module, name):
        self.count = 0
        real = getattr(module, name)

        def counting(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)


@pytest.mark.slow
def test_the_demo_pipeline_loads_the_model_and_computes_saliency_once(monkeypatch):
    from sei_tui.core.evaluation import engine as evaluate
    from sei_tui.core.model import graph
    from sei_tui.core.model import loading as models
    from sei_tui.core.saliency import cumulative as saliency

    monkeypatch.setattr(evaluate_module, "_MODEL_CACHE", {})
    load = Calls(monkeypatch, models, "load_model")
    analyze = Calls(monkeypatch, graph, "analyze_model")
    cs = Calls(monkeypatch, saliency, "cumulative_saliency")
    prepared = Calls(monkeypatch, evaluate.Evaluation, "_prepare_splits")

    def progress(_fraction, _label):
        pass

    def cancel():
        return False

    services = CoreServices()
    scenario = services.load_scenario(None)
    model_graph = services.open_model("demo", None, progress, cancel)
    result, _ = services.saliency(model_graph, None, progress, cancel)
    qos = services.parse_qos("")
    rows = list(services.evaluate("demo", None, scenario, None, qos, progress, cancel))
    assert (load.count, analyze.count, cs.count) == (1, 1, 1)
    evaluation = services._evaluation
    assert evaluation.graph is model_graph and evaluation.saliency is result
    # the CLI's defaults: one local row, one remote row per input encoding, one row per
    # tensor encoding at every candidate split
    expected = 1 + len(DEFAULT_INPUT_ENCODINGS)
    expected += len(DEFAULT_TENSOR_ENCODINGS) * len(evaluation.candidate_splits())
    assert len(rows) == len(evaluation.deployments) == expected
    # the CS beside each split row is the one the tree shows
    cs_of = {p.index: p.cs for p in result.points}
    assert all(r.cs == cs_of[r.split_index] for r in rows if r.strategy == "split")

    groups = prepared.count
    faster = scenario.with_link("wifi", bitrate=100e6)
    again = list(services.evaluate("demo", None, faster, None, qos, progress, cancel))
    assert len(again) == len(rows)
    assert (load.count, analyze.count, cs.count, prepared.count) == (1, 1, 1, groups)
    before = {r.label: r.network_p95_s for r in rows}
    assert all(r.network_p95_s <= before[r.label] * (1 + 1e-9) for r in again)


def test_the_tui_evaluates_with_the_defaults_of_sei_analyze():
    """Every option `sei analyze` has and the TUI does not show is passed as the CLI's
    default: encodings, input encodings, images, frames, candidate splits, synthetic set."""
    import argparse

    from sei_tui.cli import analyze

    parser = argparse.ArgumentParser()
    analyze.add_arguments(parser)
    cli = parser.parse_args([])
    options = AnalysisSettings().evaluation_options()
    assert options == {
        "encodings": cli.encoding.split(","),
        "input_encodings": cli.input_encoding.split(","),
        "max_images": cli.images,
        "frames": cli.frames,
        "all_splits": cli.all_splits,
        "synthetic": cli.synthetic,
    }
