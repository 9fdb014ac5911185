"""Architecture boundaries: the core never imports Textual."""

import pkgutil
import subprocess
import sys

import sei_tui.core


def _core_modules() -> list[str]:
    return ["sei_tui.core"] + [
        m.name for m in pkgutil.walk_packages(sei_tui.core.__path__, prefix="sei_tui.core.")
    ]


def test_core_never_imports_textual():
    modules = _core_modules()
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported Textual modules: {out.stdout.strip()}"


def test_suite_has_a_matching_torchvision():
    # field-notes: a mismatched torch/torchvision pair fails at import of torchvision.
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0]
