"""The TUI's real services: the model and saliency the tree shows feed the evaluation, so
nothing is loaded or computed twice, and a network edit re-runs only the simulations."""

import pytest

from sei_tui.core.evaluation import engine as evaluate_module
from sei_tui.tui.services import CoreServices


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
    assert len(rows) == len(evaluation.deployments) == 3 + 3 * len(evaluation.candidate_splits())
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
