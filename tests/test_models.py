"""Model loading: names, weights (names and files), input shapes, user factories."""

import hashlib
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from sei_tui.core.errors import SeiInputError
from sei_tui.core.model import loading as models
from sei_tui.core.model.loading import list_model_names, load_model, parse_input_shape

FACTORY = """
import torch
from torch import nn

def tiny():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 5),
    )

def broken():
    raise ValueError("no such layer size")

def not_a_model():
    return 42
"""


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "mymodel.py"
    path.write_text(FACTORY)
    return path


@pytest.fixture
def offline(monkeypatch):
    """Make torchvision's weight download fail as it does without internet."""

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)


def test_list_model_names_has_demo_and_the_classification_models():
    names = list_model_names()
    assert names[0] == "demo"
    for name in ("resnet50", "vit_b_16", "swin_t", "inception_v3"):
        assert name in names
    assert "fasterrcnn_resnet50_fpn" not in names  # detection is not classification


def test_unknown_name_suggests_close_ones():
    with pytest.raises(SeiInputError, match="model = resnet05: .*did you mean resnet50"):
        load_model("resnet05")


def test_random_init_is_reproducible_and_keyed():
    a = load_model("resnet18", input_shape=(3, 32, 32))
    b = load_model("resnet18", input_shape=(3, 32, 32))
    for (ka, va), (_, vb) in zip(
        a.module.state_dict().items(), b.module.state_dict().items(), strict=True
    ):
        assert torch.equal(va, vb), ka
    assert a.weights_digest == b.weights_digest
    assert a.weights is None
    assert a.num_classes == 1000
    assert a.class_names[:2] == ["tench", "goldfish"]
    assert not a.module.training


def test_family_default_input_shapes():
    assert load_model("resnet18").input_shape == (3, 224, 224)
    assert models.FAMILY_INPUT_SIDE["inception_v3"] == 299


@pytest.mark.slow
def test_inception_defaults_to_299():
    loaded = load_model("inception_v3")
    assert loaded.input_shape == (3, 299, 299)


def test_weights_name_offline_is_one_clear_error(offline):
    with pytest.raises(SeiInputError, match=r"ResNet18_Weights.IMAGENET1K_V1: cannot fetch https"):
        load_model("resnet18", weights="IMAGENET1K_V1")


def test_weights_name_must_exist():
    with pytest.raises(SeiInputError, match="weights = BEST: not a weights name of resnet18"):
        load_model("resnet18", weights="BEST")


def test_weights_name_sets_the_input_shape_and_classes(monkeypatch):
    # efficientnet_b1 IMAGENET1K_V2 crops 240x240 (not the family default 224)
    def build_without_download(name, enum_member):
        torch.manual_seed(0)
        return torchvision.models.get_model(name)

    monkeypatch.setattr(models, "_download_torchvision", build_without_download)
    loaded = load_model("efficientnet_b1", weights="IMAGENET1K_V2")
    assert loaded.input_shape == (3, 240, 240)
    assert loaded.weights == "EfficientNet_B1_Weights.IMAGENET1K_V2"
    assert loaded.num_classes == 1000 and len(loaded.class_names) == 1000
    expected = hashlib.sha256(
        b"torchvision-weights:EfficientNet_B1_Weights.IMAGENET1K_V2:"
        + torchvision.models.EfficientNet_B1_Weights.IMAGENET1K_V2.url.encode()
    ).hexdigest()
    assert loaded.weights_digest == expected
    assert loaded.preprocess is not None


def test_state_dict_file_round_trip(tmp_path):
    torch.manual_seed(3)
    source = torchvision.models.squeezenet1_0()
    path = tmp_path / "squeeze.pth"
    torch.save(source.state_dict(), path)
    loaded = load_model("squeezenet1_0", weights=str(path), input_shape=(3, 64, 64))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value), key
    assert loaded.weights_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.weights == str(path)


def test_nested_checkpoint_and_fine_tuned_classifier(tmp_path):
    torch.manual_seed(4)
    source = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 7, "state_dict": source.state_dict()}, path)
    loaded = load_model("resnet18", weights=str(path), input_shape=(3, 32, 32))
    assert loaded.num_classes == 10
    assert loaded.class_names is None
    assert torch.equal(loaded.module.fc.weight, source.fc.weight)


def test_mismatched_keys_are_listed(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(SeiInputError) as info:
        load_model("resnet34", weights=str(path), input_shape=(3, 32, 32))
    message = str(info.value)
    assert "missing keys (" in message and "layer1.2.conv1.weight" in message
    assert "\n" not in message


def test_unexpected_keys_are_listed(tmp_path):
    state = torchvision.models.squeezenet1_0().state_dict()
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(SeiInputError, match=r"unexpected keys \(1\): extra.weight"):
        load_model("squeezenet1_0", weights=str(path), input_shape=(3, 64, 64))


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    whole = tmp_path / "whole.pth"
    torch.save(torchvision.models.squeezenet1_0().state_dict(), whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[:20000])
    with pytest.raises(SeiInputError, match="cut.pth: not a readable PyTorch checkpoint"):
        load_model("squeezenet1_0", weights=str(cut))


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(b"definitely not a checkpoint" * 10)
    with pytest.raises(SeiInputError, match="noise.pth: not a readable PyTorch checkpoint"):
        load_model("squeezenet1_0", weights=str(path))


class _Payload:
    """A pickle whose loading would create a file (i.e. run code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "evil.pth"
    torch.save({"weight": _Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(SeiInputError, match="evil.pth: refused"):
        load_model("squeezenet1_0", weights=str(path))
    assert not marker.exists()


def test_missing_weights_file():
    with pytest.raises(SeiInputError, match="no such weights file"):
        load_model("squeezenet1_0", weights="/nonexistent/w.pth")


def test_weights_path_that_is_a_directory_or_empty(tmp_path):
    with pytest.raises(SeiInputError, match="is a directory, not a weights file"):
        load_model("squeezenet1_0", weights=str(tmp_path))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(SeiInputError, match="empty.pth: empty file"):
        load_model("squeezenet1_0", weights=str(empty))


def test_wrong_input_shape_names_the_shape():
    with pytest.raises(SeiInputError, match="input shape = 1,64,64: the model fails on it"):
        load_model("resnet18", input_shape=(1, 64, 64))


@pytest.mark.parametrize("text", ["3,224", "3,a,4", "0,8,8", ""])
def test_bad_input_shape_text(text):
    # the core names the setting; the CLI says it about --input-shape (tests/test_cli_*)
    with pytest.raises(SeiInputError, match=f"^input shape = {text}: expected three") as caught:
        parse_input_shape(text)
    assert caught.value.key == "input_shape"
    assert str(caught.value.renamed("--input-shape")).startswith(f"--input-shape = {text}: ")


def test_input_shape_text():
    assert parse_input_shape("3,224,224") == (3, 224, 224)
    assert parse_input_shape("3x32x32") == (3, 32, 32)


def test_factory_model(factory_file):
    loaded = load_model(f"{factory_file}:tiny", input_shape=(3, 16, 16))
    assert loaded.name == "mymodel:tiny"
    assert loaded.num_classes == 5
    assert isinstance(loaded.module, nn.Sequential)
    again = load_model(f"{factory_file}:tiny", input_shape=(3, 16, 16))
    assert loaded.weights_digest != again.weights_digest  # the factory's own random init


def test_factory_with_weights_file(factory_file, tmp_path):
    first = load_model(f"{factory_file}:tiny", input_shape=(3, 16, 16))
    path = tmp_path / "tiny.pth"
    torch.save(first.module.state_dict(), path)
    loaded = load_model(f"{factory_file}:tiny", weights=str(path), input_shape=(3, 16, 16))
    assert torch.equal(loaded.module[0].weight, first.module[0].weight)
    assert loaded.weights_digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_factory_that_raises_is_one_line(factory_file):
    with pytest.raises(SeiInputError, match=r"factory broken\(\) raised ValueError: no such"):
        load_model(f"{factory_file}:broken")


def test_factory_problems(factory_file, tmp_path):
    with pytest.raises(SeiInputError, match="factory = nope: no such function"):
        load_model(f"{factory_file}:nope")
    with pytest.raises(SeiInputError, match="returned int, not a torch.nn.Module"):
        load_model(f"{factory_file}:not_a_model")
    with pytest.raises(SeiInputError, match="no such file"):
        load_model(f"{tmp_path / 'absent.py'}:tiny")
    bad = tmp_path / "syntax.py"
    bad.write_text("def broken(:\n")
    with pytest.raises(SeiInputError, match="syntax.py: importing it failed"):
        load_model(f"{bad}:broken")


def test_demo_model_wiring(monkeypatch):
    from sei_tui.core.model import demo

    calls = []

    def untrained(progress=None, **kwargs):
        calls.append(progress)
        torch.manual_seed(0)
        return demo.build_demo_model().eval()

    monkeypatch.setattr(demo, "demo_model", untrained)
    loaded = load_model("demo")
    assert calls == [None]
    assert loaded.input_shape == tuple(demo.DEMO_INPUT_SHAPE)
    assert loaded.class_names == list(demo.DEMO_CLASSES)
    assert loaded.num_classes == len(demo.DEMO_CLASSES)
    with pytest.raises(SeiInputError, match="the demo model takes 3,64,64"):
        load_model("demo", input_shape=(3, 32, 32))


LAZY_FACTORY = """
from torch import nn

def lazy():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
"""


def test_factory_with_lazy_layers_is_materialised_at_the_input_shape(tmp_path):
    path = tmp_path / "lazymodel.py"
    path.write_text(LAZY_FACTORY)
    loaded = load_model(f"{path}:lazy", input_shape=(3, 8, 8))
    # conv 3x3 without padding: 4 channels x 6 x 6 = 144 inputs to the linear layer
    assert loaded.module[3].weight.shape == (2, 144)
    assert loaded.num_classes == 2
    saved = tmp_path / "lazy.pth"
    torch.save(loaded.module.state_dict(), saved)
    again = load_model(f"{path}:lazy", weights=str(saved), input_shape=(3, 8, 8))
    assert torch.equal(again.module[3].weight, loaded.module[3].weight)
    with pytest.raises(SeiInputError, match="lazymodel:lazy: input shape = 1,8,8: .*lazy layers"):
        load_model(f"{path}:lazy", input_shape=(1, 8, 8))
