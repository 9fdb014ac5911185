"""Load a model by name: torchvision classification models, the built-in demo, user code.

`load_model` validates everything once at the edge (name, weights, input shape) and
returns a LoadedModel in eval mode that the rest of the core trusts.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sei_tui.core.errors import SeiInputError, setting_error
from sei_tui.core.model.measure import first_line

# Models built without weights get this seed so the same name always means the same
# numbers (cache keys and verification stay reproducible).
RANDOM_INIT_SEED = 0
DEFAULT_INPUT_SIDE = 224
FAMILY_INPUT_SIDE = {"inception_v3": 299}
STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".tar")


@dataclass
class LoadedModel:
    name: str
    module: nn.Module
    input_shape: tuple[int, int, int]
    weights: str | None
    weights_digest: str
    preprocess: Callable[[Any], torch.Tensor] | None
    num_classes: int
    class_names: list[str] | None


def list_model_names() -> list[str]:
    """`demo` first, then every torchvision classification model."""
    return ["demo", *_torchvision_names()]


def _torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'3,224,224' (or 3x224x224) -> (3, 224, 224)."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise setting_error(
            "input_shape",
            "input shape",
            text,
            "expected three positive integers C,H,W (e.g. 3,224,224)",
        )
    return shape  # type: ignore[return-value]


def load_model(
    spec: str,
    weights: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> LoadedModel:
    """`spec` is a torchvision name, `demo`, or `path/to/file.py:factory`.

    `weights` is a torchvision weights name (e.g. IMAGENET1K_V2) or a local state-dict
    file. An explicit `input_shape` wins over the weights' crop size and the family default.
    """
    if input_shape is not None:
        input_shape = tuple(int(d) for d in input_shape)  # type: ignore[assignment]
    if spec == "demo":
        loaded = _load_demo(weights, input_shape, progress)
    elif _is_factory_spec(spec):
        loaded = _load_factory(spec, weights, input_shape)
    else:
        loaded = _load_torchvision(spec, weights, input_shape)
    loaded.module.eval()
    loaded.num_classes = _check_forward(loaded)
    if loaded.class_names is not None and len(loaded.class_names) != loaded.num_classes:
        loaded.class_names = None
    return loaded


def _is_factory_spec(spec: str) -> bool:
    path, sep, factory = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(factory)


# ---------------------------------------------------------------------------------------
# torchvision


def _load_torchvision(
    name: str, weights: str | None, input_shape: tuple[int, int, int] | None
) -> LoadedModel:
    import torchvision
    from torchvision.transforms._presets import ImageClassification

    names = _torchvision_names()
    if name not in names:
        close = difflib.get_close_matches(name, [*names, "demo"], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SeiInputError(
            f"model = {name}: not a torchvision classification model, 'demo' or "
            f"file.py:factory{hint} (`sei inspect --help`)"
        )
    categories = _default_categories(name)
    if weights is not None and not _looks_like_file(weights):
        enum_member = _resolve_weights_name(name, weights)
        crop = enum_member.transforms.keywords.get("crop_size")
        side = int(crop) if crop else FAMILY_INPUT_SIDE.get(name, DEFAULT_INPUT_SIDE)
        shape = input_shape or (3, side, side)
        module = _download_torchvision(name, enum_member)
        full_name = f"{type(enum_member).__name__}.{enum_member.name}"
        return LoadedModel(
            name=name,
            module=module,
            input_shape=shape,
            weights=full_name,
            weights_digest=_sha256_text(f"torchvision-weights:{full_name}:{enum_member.url}"),
            preprocess=enum_member.transforms(),
            num_classes=len(enum_member.meta.get("categories") or []),
            class_names=list(enum_member.meta.get("categories") or []) or None,
        )

    side = FAMILY_INPUT_SIDE.get(name, DEFAULT_INPUT_SIDE)
    shape = input_shape or (3, side, side)
    build_kwargs: dict[str, Any] = {}
    if name.startswith("vit_") and shape[1] == shape[2] and shape[1] != DEFAULT_INPUT_SIDE:
        build_kwargs["image_size"] = shape[1]  # ViT positional embeddings depend on it
    if weights is None:
        module = _seeded_build(lambda: torchvision.models.get_model(name, **build_kwargs))
        digest = _sha256_text(
            f"torchvision-random-init:{name}:{build_kwargs}:seed={RANDOM_INIT_SEED}:"
            f"torch={torch.__version__}"
        )
        weights_label = None
    else:
        state = read_state_dict(weights)
        num_classes = _classifier_classes(name, state)
        if num_classes is not None:
            build_kwargs["num_classes"] = num_classes
        module = _seeded_build(lambda: torchvision.models.get_model(name, **build_kwargs))
        apply_state_dict(module, state, weights)
        digest = file_digest(weights)
        weights_label = weights
    resize = round(shape[1] * 256 / 224)
    return LoadedModel(
        name=name,
        module=module,
        input_shape=shape,
        weights=weights_label,
        weights_digest=digest,
        preprocess=ImageClassification(crop_size=shape[1], resize_size=resize),
        num_classes=0,
        class_names=categories,
    )


def _default_categories(name: str) -> list[str] | None:
    """Class names shipped with the package metadata (no download)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (KeyError, ValueError):
        return None
    categories = enum.DEFAULT.meta.get("categories")
    return list(categories) if categories else None


def _resolve_weights_name(name: str, weights: str):
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    member_name = weights.rpartition(".")[2] if weights.startswith(enum.__name__) else weights
    if "." in member_name or member_name not in enum.__members__:
        choices = ", ".join(enum.__members__)
        raise SeiInputError(
            f"weights = {weights}: not a weights name of {name} (choose one of {choices}, "
            "or pass a local state-dict file)"
        )
    return enum[member_name]


def _download_torchvision(name: str, enum_member) -> nn.Module:
    import torchvision

    try:
        return torchvision.models.get_model(name, weights=enum_member, progress=False)
    except (OSError, RuntimeError, ValueError) as exc:
        # urllib's URLError is an OSError; a half-downloaded file fails the hash check.
        raise SeiInputError(
            f"weights = {type(enum_member).__name__}.{enum_member.name}: cannot fetch "
            f"{enum_member.url} ({type(exc).__name__}: {first_line(exc)}); without internet, "
            "download the file elsewhere and pass its path with --weights"
        ) from None


def _classifier_classes(name: str, state: dict[str, torch.Tensor]) -> int | None:
    """Number of classes of a checkpoint whose last layer differs from the default model."""
    import torchvision

    with torch.device("meta"):
        reference = torchvision.models.get_model(name, weights=None)
    expected = reference.state_dict()
    last_linear = [n for n, m in reference.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    if not last_linear:
        return None
    key = f"{last_linear[-1]}.weight"
    if key in state and key in expected and state[key].shape[1:] == expected[key].shape[1:]:
        classes = int(state[key].shape[0])
        if classes != expected[key].shape[0]:
            return classes
    return None


def _seeded_build(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return build()


# ---------------------------------------------------------------------------------------
# demo and user factories


def _load_demo(
    weights: str | None,
    input_shape: tuple[int, int, int] | None,
    progress: Callable[[float, str], None] | None,
) -> LoadedModel:
    from sei_tui.core.model import demo

    if input_shape is not None and tuple(input_shape) != tuple(demo.DEMO_INPUT_SHAPE):
        raise setting_error(
            "input_shape",
            "input shape",
            ",".join(map(str, input_shape)),
            f"the demo model takes {','.join(map(str, demo.DEMO_INPUT_SHAPE))}",
        )
    if weights is None:
        module = demo.demo_model(progress=progress)
        label = None
    else:
        module = demo.build_demo_model()
        apply_state_dict(module, read_state_dict(weights), weights)
        label = weights
    return LoadedModel(
        name="demo",
        module=module,
        input_shape=tuple(demo.DEMO_INPUT_SHAPE),
        weights=label,
        weights_digest=state_dict_digest(module),
        preprocess=None,
        num_classes=len(demo.DEMO_CLASSES),
        class_names=list(demo.DEMO_CLASSES),
    )


def _load_factory(
    spec: str, weights: str | None, input_shape: tuple[int, int, int] | None
) -> LoadedModel:
    path_text, _, factory_name = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise SeiInputError(f"{path}: no such file (model = {spec})")
    module_name = f"sei_user_model_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    import_spec = importlib.util.spec_from_file_location(module_name, path)
    if import_spec is None or import_spec.loader is None:
        raise SeiInputError(f"{path}: cannot be imported as Python code")
    user_module = importlib.util.module_from_spec(import_spec)
    sys.modules[module_name] = user_module
    try:
        import_spec.loader.exec_module(user_module)
    except Exception as exc:  # noqa: BLE001 - user code: any failure is one line
        sys.modules.pop(module_name, None)
        raise SeiInputError(
            f"{path}: importing it failed ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    factory = getattr(user_module, factory_name, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(user_module).items() if callable(v) and n[0] != "_")
        raise SeiInputError(
            f"{path}: factory = {factory_name}: no such function (found: {', '.join(found)})"
        )
    try:
        module = factory()
    except Exception as exc:  # noqa: BLE001
        raise SeiInputError(
            f"{path}: factory {factory_name}() raised {type(exc).__name__}: {first_line(exc)}"
        ) from None
    if not isinstance(module, nn.Module):
        raise SeiInputError(
            f"{path}: factory {factory_name}() returned {type(module).__name__}, "
            "not a torch.nn.Module"
        )
    declared = getattr(module, "input_shape", None)
    shape = input_shape or (tuple(declared) if declared else (3, 224, 224))
    _materialize_lazy(module, shape, f"{path.stem}:{factory_name}")
    if weights is not None:
        if not _looks_like_file(weights):
            raise SeiInputError(
                f"weights = {weights}: a file.py:factory model takes a local state-dict file"
            )
        apply_state_dict(module, read_state_dict(weights), weights)
    return LoadedModel(
        name=f"{path.stem}:{factory_name}",
        module=module,
        input_shape=shape,
        weights=weights,
        weights_digest=file_digest(weights) if weights else state_dict_digest(module),
        preprocess=None,
        num_classes=0,
        class_names=getattr(module, "class_names", None),
    )


def _materialize_lazy(module: nn.Module, shape: tuple[int, ...], name: str) -> None:
    """Give lazy layers (nn.LazyLinear...) their shapes with one forward at `shape`."""
    from torch.nn.modules.lazy import LazyModuleMixin

    if not any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in module.modules()
    ):
        return
    module.eval()  # no batch-norm statistics move during this pass
    try:
        with torch.no_grad():
            module(torch.zeros(1, *shape))
    except Exception as exc:  # noqa: BLE001 - user code: any failure is one line
        shape_text = ",".join(map(str, shape))
        raise SeiInputError(
            f"{name}: input shape = {shape_text}: the model has lazy layers and fails on it "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None


# ---------------------------------------------------------------------------------------
# state dicts


def _looks_like_file(weights: str) -> bool:
    return (
        os.path.exists(weights)
        or os.sep in weights
        or weights.lower().endswith(STATE_DICT_SUFFIXES)
    )


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from a file, never running code from it (weights_only=True).

    Accepts a plain state dict or a checkpoint dict with a nested `state_dict`/`model`.
    """
    path = Path(path)
    if path.is_dir():
        raise SeiInputError(f"{path}: is a directory, not a weights file")
    if not path.is_file():
        raise SeiInputError(f"{path}: no such weights file")
    if path.stat().st_size == 0:
        raise SeiInputError(f"{path}: empty file, not a PyTorch checkpoint")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # the weights-only unpickler names the blocked callable as a GLOBAL
        if "global" in str(exc).lower():
            raise SeiInputError(
                f"{path}: refused: the file holds Python objects that would run code when "
                "loaded; only plain tensor state dicts are read (save model.state_dict())"
            ) from None
        raise SeiInputError(
            f"{path}: not a readable PyTorch checkpoint (corrupted or truncated?): "
            f"{first_line(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - zip/EOF/format errors all mean a bad file
        raise SeiInputError(
            f"{path}: not a readable PyTorch checkpoint (corrupted or truncated?): "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from None
    state = loaded
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SeiInputError(
            f"{path}: not a state dict (expected a mapping of parameter names to tensors, "
            f"got {type(loaded).__name__})"
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel
    return state


def apply_state_dict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load `state` into `module`, listing missing/unexpected/mis-shaped keys on mismatch."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {list(state[k].shape)} vs {list(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or mis_shaped:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_clip(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_clip(unexpected)}")
        if mis_shaped:
            parts.append(f"shape mismatch ({len(mis_shaped)}): {_clip(mis_shaped)}")
        raise SeiInputError(f"{source}: does not match the model: {'; '.join(parts)}")
    module.load_state_dict(state)


def _clip(items: list[str], keep: int = 5) -> str:
    shown = ", ".join(items[:keep])
    return shown + (f", ... (+{len(items) - keep} more)" if len(items) > keep else "")


def file_digest(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_dict_digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        h.update(key.encode())
        h.update(str(tensor.dtype).encode())
        h.update(repr(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# checks


def _check_forward(loaded: LoadedModel) -> int:
    """Run one zero image through the model: a wrong input shape fails here, clearly."""
    shape_text = ",".join(map(str, loaded.input_shape))
    try:
        with torch.no_grad():
            output = loaded.module(torch.zeros((1, *loaded.input_shape)))
    except Exception as exc:  # noqa: BLE001 - any failure here is the input shape's
        raise SeiInputError(
            f"{loaded.name}: input shape = {shape_text}: the model fails on it "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if not isinstance(output, torch.Tensor) or output.dim() != 2:
        raise SeiInputError(
            f"{loaded.name}: expected class scores of shape [batch, classes], got "
            f"{type(output).__name__}{list(output.shape) if hasattr(output, 'shape') else ''}"
        )
    return int(output.shape[1])
