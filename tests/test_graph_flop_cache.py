"""FLOP counts cached with the analysed graph: a warm analysis reads them (and never imports
torch._dynamo), and they equal the formulas and a fresh count."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import test_graph as formulas
import torch
import torchvision
from torch import nn

from sei_tui.core.model import demo
from sei_tui.core.model import flops as flop_counting
from sei_tui.core.model.graph import analyze_model


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def refuse_counting(monkeypatch):
    """From here on, counting FLOPs fails the test: every count must come from the cache."""

    class NoCounting:
        def __init__(self):
            raise AssertionError("FLOPs counted although the cache holds them")

    monkeypatch.setattr(flop_counting, "NodeFlopCounter", NoCounting)


def demo_flops_by_formula() -> int:
    """2 x multiply-adds of the demo's bias-free 3x3 convs (padding 1, every block halves
    the side) and its two linear layers; norms, ReLU and pools count 0 (FlopCounterMode)."""
    channels, side = demo.DEMO_INPUT_SHAPE[0], demo.DEMO_INPUT_SHAPE[1]
    total = 0
    for block in demo.DEMO_BLOCKS:
        for out_channels in block:
            total += 2 * out_channels * side * side * channels * 9
            channels = out_channels
        side //= 2
    return total + 2 * channels * 64 + 2 * 64 * len(demo.DEMO_CLASSES)


@pytest.mark.parametrize(
    "check",
    [
        formulas.test_conv_linear_chain_flops_match_the_formula,
        formulas.test_vit_attention_flops_are_counted_under_no_grad_analysis,
        lambda: formulas.test_total_flops_equal_whole_model_flop_counter(
            "resnet18", {}, (3, 64, 64)
        ),
    ],
    ids=["chain formula", "vit attention formula", "resnet18 whole-model count"],
)
def test_flop_checks_hold_cold_then_warm(check, monkeypatch):
    check()  # cold: counts and stores
    refuse_counting(monkeypatch)
    check()  # warm: the same analytic numbers, read from the cache


def test_demo_cached_counts_equal_a_fresh_count_and_the_formula(monkeypatch):
    torch.manual_seed(0)
    model = demo.build_demo_model()
    cold = analyze_model(model, demo.DEMO_INPUT_SHAPE, name="demo")
    refuse_counting(monkeypatch)
    warm = analyze_model(model, demo.DEMO_INPUT_SHAPE, name="demo")
    monkeypatch.undo()
    fresh = analyze_model(model, demo.DEMO_INPUT_SHAPE, name="demo", flop_cache=False)
    per_node = [(n.name, n.flops) for n in fresh.nodes]
    assert [(n.name, n.flops) for n in warm.nodes] == per_node
    assert [(n.name, n.flops) for n in cold.nodes] == per_node
    assert warm.total_flops == fresh.total_flops == demo_flops_by_formula()
    assert [(s.head_flops, s.tail_flops) for s in warm.split_points] == [
        (s.head_flops, s.tail_flops) for s in fresh.split_points
    ]


def strided(stride: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=stride), nn.Flatten()).eval()


def test_same_code_and_weights_but_another_stride_is_counted_anew():
    # the graph code and the weights are equal; only the module's stride differs
    assert strided(1).state_dict().keys() == strided(2).state_dict().keys()
    one = analyze_model(strided(1), (3, 9, 9), name="m")
    two = analyze_model(strided(2), (3, 9, 9), name="m")
    assert one.total_flops == 2 * 4 * 7 * 7 * 3 * 9
    assert two.total_flops == 2 * 4 * 4 * 4 * 3 * 9


def test_another_input_shape_is_counted_anew(monkeypatch):
    model = torchvision.models.resnet18().eval()
    analyze_model(model, (3, 32, 32))
    refuse_counting(monkeypatch)
    with pytest.raises(AssertionError, match="FLOPs counted"):
        analyze_model(model, (3, 64, 64))


def test_damaged_cache_entry_is_recounted(own_cache):
    model = formulas.seeded(formulas.chain)
    first = analyze_model(model, (3, 16, 16))
    (entry,) = (own_cache / "flops").iterdir()
    data = json.loads(entry.read_text())
    data["flops"]["_0"] = -1
    entry.write_text(json.dumps(data))
    again = analyze_model(model, (3, 16, 16))
    assert (
        again.total_flops == first.total_flops == 2 * (8 * 16 * 16 * 27 + 16 * 49 * 72 + 784 * 10)
    )
    assert json.loads(entry.read_text())["flops"]["_0"] == 2 * 8 * 16 * 16 * 27
    entry.write_text("{not json")
    assert analyze_model(model, (3, 16, 16)).total_flops == first.total_flops


def test_warm_demo_analysis_does_not_import_dynamo(own_cache):
    """In a fresh interpreter: the cold analysis counts (FlopCounterMode imports
    torch._dynamo on the demo's instance norm), the warm one only reads the cache; a capturing
    pass stopped early does not import it either (fx's error decoration of the stop did)."""
    code = textwrap.dedent(
        """
        import sys
        import torch
        from sei_tui.core.model import demo
        from sei_tui.core.model.graph import analyze_model
        torch.manual_seed(0)
        graph = analyze_model(demo.build_demo_model(), demo.DEMO_INPUT_SHAPE, name="demo")
        # the evaluation's capturing pass, stopped early as it stops it
        from sei_tui.core.model.capture import run_capturing
        names = [t.name for t in graph.split_points[3].tensors]
        values, output = run_capturing(
            graph.graph_module, torch.zeros(2, *demo.DEMO_INPUT_SHAPE), names, stop_early=True
        )
        assert output is None and set(values) == set(names)
        print(graph.total_flops, "torch._dynamo" in sys.modules, "sympy" in sys.modules)
        """
    )
    env = {**os.environ, "SEI_CACHE_DIR": str(own_cache)}

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.split()

    flops = str(demo_flops_by_formula())
    assert run() == [flops, "True", "True"]  # cold: the check below can fail
    assert run() == [flops, "False", "False"]


def test_a_changed_wrapped_function_is_counted_anew(tmp_path):
    # the graph calls the wrapped function by name: its body is not in the graph's code
    source = textwrap.dedent(
        """
        import torch
        from torch import nn

        def mix(x, w):
            return x @ w{extra}

        torch.fx.wrap("mix")

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.ones(4, 4))

            def forward(self, x):
                return mix(x.flatten(1), self.w)

        def build():
            return Model()
        """
    )
    from sei_tui.core.model.loading import load_model

    flops = []
    path = tmp_path / "model.py"  # the same file, edited: the same graph code
    for extra in ("", " @ w"):
        path.write_text(source.format(extra=extra))
        loaded = load_model(f"{path}:build", input_shape=(1, 2, 2))
        flops.append(analyze_model(loaded, name="model:build").total_flops)
    assert flops == [2 * 4 * 4, 2 * 2 * 4 * 4]


def test_an_unusable_cache_only_costs_a_count(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SEI_CACHE_DIR", str(blocker / "cache"))
    graph = analyze_model(formulas.seeded(formulas.chain), (3, 16, 16))
    assert graph.node("_4").flops == 2 * 16 * 7 * 7 * 10
