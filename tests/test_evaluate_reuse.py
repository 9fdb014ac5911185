"""Handing the evaluation a model, graph and saliency already in hand, and the shortcuts of
its preparation, checked against doing the work the long way."""

import pytest
import torch
from torch import nn

from sei_tui.core.data.datasets import open_dataset
from sei_tui.core.evaluation import engine as evaluate_module
from sei_tui.core.evaluation import inference
from sei_tui.core.evaluation.engine import Evaluation
from sei_tui.core.evaluation.ranking import canonical_key as row_sort_key
from sei_tui.core.model.capture import run_capturing
from sei_tui.core.model.graph import analyze_model
from sei_tui.core.model.loading import LoadedModel, load_model
from sei_tui.core.saliency.cumulative import cumulative_saliency

IMAGES = 16
# measured on this machine, so they differ run to run; everything else must not
MEASURED = {"encode_s", "decode_s", "p50_latency", "p95_latency", "p99_latency", "mean_latency"}
MEASURED |= {"edge_energy_j", "total_energy_j"}  # they charge the measured encode/decode


def comparable(rows):
    out = []
    for row in sorted(rows, key=row_sort_key):
        fields = {k: v for k, v in row.__dict__.items() if k not in MEASURED}
        fields.pop("feasible", None)
        fields.pop("violations", None)
        fields.pop("pareto", None)
        out.append(fields)
    return out


class Calls:
    """Counts calls through a module attribute, then calls the real function."""

    def __init__(self, monkeypatch, module, name):
        self.count = 0
        real = getattr(module, name)

        def counting(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)


@pytest.fixture
def counted(monkeypatch):
    from sei_tui.core.model import graph
    from sei_tui.core.model import loading as models
    from sei_tui.core.saliency import cumulative as saliency

    # a model loaded by an earlier test must not hide a second load here
    monkeypatch.setattr(evaluate_module, "_MODEL_CACHE", {})
    return {
        "load_model": Calls(monkeypatch, models, "load_model"),
        "analyze_model": Calls(monkeypatch, graph, "analyze_model"),
        "cumulative_saliency": Calls(monkeypatch, saliency, "cumulative_saliency"),
    }


def test_given_model_graph_and_saliency_give_the_same_rows_without_loading(counted):
    options = dict(synthetic=IMAGES, encodings=["fp32", "fp16", "int8+zlib"], frames=4)
    plain = Evaluation("demo", **options)
    plain.prepare()
    plain_rows = list(plain.rows())
    assert counted["load_model"].count == 1
    assert counted["analyze_model"].count == 1
    assert counted["cumulative_saliency"].count == 1

    loaded = load_model("demo")
    graph = analyze_model(loaded)
    dataset = open_dataset(None, IMAGES, loaded.preprocess, loaded.input_shape)
    saliency = cumulative_saliency(graph, dataset)
    before = {name: calls.count for name, calls in counted.items()}
    given = Evaluation("demo", **options, loaded=loaded, graph=graph, saliency_result=saliency)
    given.prepare()
    given_rows = list(given.rows())
    assert {name: calls.count for name, calls in counted.items()} == before
    assert given.graph is graph and given.loaded is loaded and given.saliency is saliency
    assert len(given_rows) == 3 + 3 * len(given.candidate_splits())
    assert comparable(given_rows) == comparable(plain_rows)


def test_a_loaded_model_as_the_first_argument_is_not_loaded_again(counted):
    loaded = load_model("demo")  # the names imported here bypass the counters
    graph = analyze_model(loaded)
    evaluation = Evaluation(loaded, graph=graph, synthetic=8, encodings=["int8"], saliency=False)
    evaluation.prepare()
    assert {name: calls.count for name, calls in counted.items()} == dict.fromkeys(counted, 0)
    assert evaluation.model_name == loaded.name
    assert len(list(evaluation.rows())) == 3 + len(evaluation.candidate_splits())


def tiny_loaded(channels=4) -> LoadedModel:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 5),
    ).eval()
    return LoadedModel("tiny", module, (3, 16, 16), None, "tiny", None, 5, None)


def test_a_graph_without_its_model_or_a_saliency_of_another_graph_is_refused():
    loaded = tiny_loaded()
    graph = analyze_model(loaded)
    with pytest.raises(ValueError, match="loaded="):
        Evaluation("tiny", graph=graph)
    other = analyze_model(tiny_loaded(), name="other")
    other.split_points = other.split_points[:2]
    dataset = open_dataset(None, 4, None, loaded.input_shape)
    foreign = cumulative_saliency(other, dataset, cache=False)
    evaluation = Evaluation(loaded, graph=graph, synthetic=4, saliency_result=foreign)
    with pytest.raises(ValueError, match="split points"):
        evaluation.prepare()


class Residual(nn.Module):
    """Cuts inside the residual block carry two tensors."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 7)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = self.b(torch.relu(self.a(x)))
        x = torch.relu(self.bn(x + y))
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("which", ["demo", "residual"])
def test_every_tail_on_the_exact_head_output_computes_the_graph_output_bit_for_bit(which):
    """Why the lossless fp32 prediction of a split is read off the whole graph's pass."""
    if which == "demo":
        graph = analyze_model(load_model("demo"))
    else:
        torch.manual_seed(1)
        model = Residual().eval()
        with torch.no_grad():
            model.bn.running_mean.uniform_(-1, 1)
        graph = analyze_model(model, (3, 12, 12))
    assert any(len(sp.tensors) > 1 for sp in graph.split_points) == (which == "residual")
    batch = torch.randn(10, *graph.input_shape)
    names = [t.name for sp in graph.split_points for t in sp.tensors]
    values, output = run_capturing(graph.graph_module, batch, names)
    with torch.inference_mode():
        assert torch.equal(output, graph.graph_module(batch))
        for sp in graph.split_points:
            _, tail = graph.split(sp.index)
            # what the receiver decodes from an fp32 frame: a copy, batch rebuilt from numpy
            payload = [torch.from_numpy(values[t.name].numpy().copy()) for t in sp.tensors]
            assert torch.equal(tail(payload), output), sp.after


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [(2, 3.0, 1), (2, 0.0, 1), (8, 0.2, 7), (8, 5.6, 1), (8, 3.4, 4), (64, 0.0, 16)],
)
def test_threads_leave_busy_cores_and_one_more_alone(monkeypatch, cores, load, expected):
    monkeypatch.setattr(inference.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(inference.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)  # torch's own choice
    assert inference.evaluation_threads() == expected


def test_thread_setting_is_restored(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(inference, "evaluation_threads", lambda: before + 1)
    with inference.batch_threads():
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
