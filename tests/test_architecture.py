"""Architecture boundaries (docs/architecture.md, "Import rules"):

- `sei_tui.core` never imports `sei_tui.tui`, `sei_tui.cli` or Textual;
- `sei_tui.tui` never imports `sei_tui.cli`;
- `sei_tui.cli` imports `sei_tui.tui` only in `sei_tui/cli/tui.py` (the `sei tui` launcher);
- `libsim` never imports `sei_tui`.

Checked twice: statically (every import statement of every module, including imports
inside functions and `importlib.import_module("...")` with a literal name), and at run
time (importing every module of a layer loads nothing it must not).
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rule:
    layer: str  # the importing package, e.g. "sei_tui.core"
    forbidden: tuple[str, ...]  # packages it must not import
    allowed_in: tuple[str, ...] = ()  # modules of the layer exempt from the rule
    why: str = ""


RULES = (
    Rule("sei_tui.core", ("sei_tui.tui", "sei_tui.cli", "textual"), why="core is UI-free"),
    Rule("sei_tui.tui", ("sei_tui.cli",), why="the TUI is a client of core, not of the CLI"),
    Rule(
        "sei_tui.cli",
        ("sei_tui.tui",),
        allowed_in=("sei_tui.cli.tui",),
        why="only the `sei tui` launcher opens the TUI",
    ),
    Rule("libsim", ("sei_tui",), why="the simulator stands alone"),
    Rule(
        "sei_tui",
        ("matplotlib",),
        allowed_in=(
            "sei_tui.core.figures.draw",
            "sei_tui.core.figures.files",
            "sei_tui.core.figures.style",
        ),
        why="matplotlib loads only when a figure is drawn (core/figures)",
    ),
)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _module_name(path: Path, source_root: Path) -> tuple[str, bool]:
    """Dotted name of a module file, and whether it is a package's __init__."""
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_names(path: Path, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            # `from sei_tui import tui` imports the subpackage sei_tui.tui.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"import_module", "__import__"}
                )
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(source_root: Path, rules=RULES) -> list[str]:
    """One line per forbidden import under source_root: `file:line: a imports b (why)`."""
    problems: list[str] = []
    for path in sorted(source_root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        module, is_package = _module_name(path, source_root)
        for rule in rules:
            if not _within(module, rule.layer) or module in rule.allowed_in:
                continue
            for line, name in imported_names(path, module, is_package):
                hit = next((f for f in rule.forbidden if _within(name, f)), None)
                if hit is not None:
                    where = path.relative_to(source_root)
                    problems.append(f"{where}:{line}: {module} imports {name} ({rule.why})")
    return sorted(set(problems))


def test_the_project_keeps_its_import_rules():
    assert violations(ROOT) == []


def test_the_checker_covers_every_module_of_each_layer():
    # A layer the scan does not reach would pass vacuously.
    for layer in ("sei_tui/core", "sei_tui/tui", "sei_tui/cli", "libsim"):
        files = [p for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts]
        assert files, layer
        for path in files:
            module, _ = _module_name(path, ROOT)
            assert any(_within(module, rule.layer) for rule in RULES), module


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_checker_finds_planted_violations(tmp_path):
    for package in ("sei_tui", "sei_tui/core", "sei_tui/tui", "sei_tui/cli", "libsim"):
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "sei_tui/core/ok.py", "import os\nfrom sei_tui.core import errors\n")
    _write(
        tmp_path,
        "sei_tui/core/bad_lazy.py",
        "def f():\n    from sei_tui.tui.app import SeiApp\n    return SeiApp\n",
    )
    _write(tmp_path, "sei_tui/core/bad_relative.py", "from ..cli import main\n")
    _write(tmp_path, "sei_tui/core/bad_textual.py", "import textual.widgets\n")
    _write(tmp_path, "sei_tui/core/bad_from_parent.py", "from sei_tui import tui\n")
    _write(
        tmp_path,
        "sei_tui/core/bad_dynamic.py",
        "import importlib\nimportlib.import_module('sei_tui.cli.main')\n",
    )
    _write(tmp_path, "sei_tui/tui/bad.py", "from .. import cli\n")
    _write(tmp_path, "sei_tui/tui/ok.py", "from sei_tui.core import errors\nfrom . import app\n")
    _write(tmp_path, "sei_tui/cli/tui.py", "from sei_tui.tui.app import SeiApp\n")
    _write(tmp_path, "sei_tui/cli/bad.py", "import sei_tui.tui.app\n")
    _write(tmp_path, "sei_tui/cli/ok.py", "from sei_tui.cli import tui\n")
    _write(tmp_path, "libsim/bad.py", "def f():\n    import sei_tui.core.units\n")
    _write(tmp_path, "libsim/ok.py", "from libsim import spec\nfrom . import binding\n")

    found = violations(tmp_path)
    flagged = sorted({line.split(":", 1)[0] for line in found})
    assert flagged == [
        "libsim/bad.py",
        "sei_tui/cli/bad.py",
        "sei_tui/core/bad_dynamic.py",
        "sei_tui/core/bad_from_parent.py",
        "sei_tui/core/bad_lazy.py",
        "sei_tui/core/bad_relative.py",
        "sei_tui/core/bad_textual.py",
        "sei_tui/tui/bad.py",
    ], found
    assert "sei_tui/core/bad_lazy.py:2: sei_tui.core.bad_lazy imports sei_tui.tui.app" in (
        " ".join(found)
    )
    assert any("sei_tui.core.bad_relative imports sei_tui.cli" in line for line in found)


def _modules_of(package: str) -> list[str]:
    module = __import__(package, fromlist=["__path__"])
    return [package] + [
        m.name for m in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")
    ]


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("sei_tui.core", ("textual", "sei_tui.tui", "sei_tui.cli")),
        ("sei_tui.tui", ("sei_tui.cli",)),
        ("libsim", ("sei_tui",)),
    ],
)
def test_importing_a_layer_loads_nothing_it_must_not(layer, forbidden):
    modules = _modules_of(layer)
    assert len(modules) > 1, modules
    loaded = _loaded_after_importing(modules)
    assert set(modules) <= loaded
    bad = sorted(m for m in loaded if any(_within(m, f) for f in forbidden))
    assert bad == [], f"importing {layer} loaded {bad}"


def test_suite_has_a_matching_torchvision():
    # A mismatched torch/torchvision pair fails at import of torchvision (constraints.txt).
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0]


def test_the_checker_confines_matplotlib_to_the_figure_modules(tmp_path):
    for package in ("sei_tui", "sei_tui/core", "sei_tui/core/figures", "sei_tui/cli"):
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "sei_tui/core/figures/draw.py", "from matplotlib.figure import Figure\n")
    _write(tmp_path, "sei_tui/core/figures/data.py", "import matplotlib\n")
    _write(tmp_path, "sei_tui/cli/analyze.py", "def f():\n    import matplotlib.pyplot\n")
    flagged = sorted({line.split(":", 1)[0] for line in violations(tmp_path)})
    assert flagged == ["sei_tui/cli/analyze.py", "sei_tui/core/figures/data.py"]


def test_the_cli_and_the_figure_facade_load_no_matplotlib():
    # `sei analyze` without --figures must not pay for matplotlib (~0.3 s at import)
    modules = [
        "sei_tui.cli.main",
        "sei_tui.cli.analyze",
        "sei_tui.cli.saliency",
        "sei_tui.core",
        "sei_tui.core.evaluation.report",
        "sei_tui.core.figures",
        "sei_tui.core.figures.data",
    ]
    loaded = _loaded_after_importing(modules)
    assert set(modules) <= loaded
    assert sorted(m for m in loaded if _within(m, "matplotlib")) == []


@pytest.mark.slow
def test_a_plain_analyze_run_loads_no_matplotlib():
    code = (
        "import sys\n"
        "from sei_tui.cli.main import main\n"
        "code = main(['analyze', '--synthetic', '8', '--frames', '3', '--encoding', 'int8',"
        " '--format', 'json'])\n"
        "print('matplotlib' in sys.modules, code, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.stderr.strip().splitlines()[-1] == "False 0", out.stderr
