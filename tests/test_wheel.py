"""Packaging: what a user gets from a wheel, not from the source tree.

The slow test builds the wheel from a copy of the repository (compiling libsim), checks
its file list, installs it into a fresh virtual environment and runs `sei` from a folder
outside the source tree. The fast tests check the declarations themselves: every
third-party import is declared, and exact pins live only in constraints.txt.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FIRST_PARTY = {"sei_tui", "libsim"}
# Import name -> distribution name, where the two differ.
DISTRIBUTION_OF = {"PIL": "pillow", "tomli_w": "tomli-w", "yaml": "pyyaml"}


# ---------------------------------------------------------------- declarations (fast)
def _imported_top_level_names(folder: Path) -> set[str]:
    """Top-level names of every absolute import in the folder's modules, including
    imports inside functions (those are real dependencies too)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_third_party_import_is_declared():
    runtime = _declared(PYPROJECT["project"]["dependencies"])
    optional = set()
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        optional |= _declared(extra)
    third_party = set()
    for folder in ("sei_tui", "libsim"):
        third_party |= _imported_top_level_names(ROOT / folder)
    third_party -= FIRST_PARTY | set(sys.stdlib_module_names) | {"__future__"}
    assert third_party, "the scan found no third-party import at all"
    undeclared = sorted(
        name
        for name in third_party
        if canonicalize_name(DISTRIBUTION_OF.get(name, name)) not in runtime | optional
    )
    assert undeclared == [], f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    (tmp_path / "m.py").write_text(
        "import os\n\ndef f():\n    from PIL import Image\n    import lz4.block\n",
        encoding="utf-8",
    )
    assert _imported_top_level_names(tmp_path) == {"os", "PIL", "lz4"}


def _constraint_pins() -> dict[str, Requirement]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def _pinned_version(requirement: Requirement) -> str:
    exact = [s.version for s in requirement.specifier if s.operator == "=="]
    assert len(exact) == 1, f"constraints.txt: {requirement}: not one exact pin"
    return exact[0]


def test_exact_pins_only_in_constraints():
    declared = list(PYPROJECT["project"]["dependencies"]) + list(
        PYPROJECT["build-system"]["requires"]
    )
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        declared += extra
    pinned = [r for r in declared if re.search(r"===?", r)]
    assert pinned == [], f"exact pins belong in constraints.txt, not pyproject.toml: {pinned}"


def test_constraints_pin_versions_the_declared_ranges_accept():
    pins = _constraint_pins()
    assert {"torch", "torchvision", "textual", "pytest-textual-snapshot", "lz4"} <= set(pins)
    declared = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        declared += extra
    for text in declared:
        requirement = Requirement(text)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is not None:
            version = _pinned_version(pin)
            assert requirement.specifier.contains(version, prereleases=True), (
                f"constraints.txt pins {pin.name}=={version}, "
                f"which pyproject.toml's {text!r} refuses"
            )


def test_build_floor_reads_an_spdx_license_string():
    # PEP 639 `license = "MIT"` is read by setuptools >= 77 only.
    assert isinstance(PYPROJECT["project"]["license"], str)
    (setuptools,) = [
        Requirement(r)
        for r in PYPROJECT["build-system"]["requires"]
        if canonicalize_name(Requirement(r).name) == "setuptools"
    ]
    assert not setuptools.specifier.contains("76.9"), setuptools
    assert setuptools.specifier.contains("77.0")


# ---------------------------------------------------------------- the wheel (slow)
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".stamps",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.so",
    "*.o",
    "_libsim_cffi.c",
)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who never cloned the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", NO_COLOR="1", **extra)
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} -> {result.returncode}\n"
        f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    )
    return result


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    )
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the source (no compiled library, no build folder), with the
    interpreter running the tests: its setuptools and cffi are the build requirements
    `make` installed, so no build isolation and no network are needed."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    dist = base / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        cwd=base,
        env=_clean_env(),
    )
    (built,) = dist.glob("sei_tui-*.whl")
    return built


def test_wheel_carries_data_and_no_cpp_sources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected_data = {"sei_tui/py.typed", "sei_tui/tui/app.tcss"}
    for folder, pattern in (
        ("sei_tui/themes", "*.toml"),
        ("sei_tui/scenarios", "*.toml"),
        ("sei_tui/traces", "*.csv"),
        ("sei_tui/tui", "**/*.tcss"),
    ):
        expected_data |= {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).glob(pattern)}
    assert {"sei_tui/themes/sei-dark.toml", "sei_tui/themes/sei-light.toml"} <= expected_data
    assert {"sei_tui/scenarios/demo.toml"} <= expected_data
    assert {"sei_tui/traces/lte-walking-synthetic.csv"} <= expected_data
    assert sorted(expected_data - names) == []
    # Every module of both packages, and the compiled simulator.
    modules = {
        p.relative_to(ROOT).as_posix()
        for folder in ("sei_tui", "libsim")
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts and "tools" not in p.relative_to(ROOT).parts
    }
    assert sorted(modules - names) == []
    assert any(re.fullmatch(r"libsim/_libsim_cffi\..*\.so", n) for n in names), sorted(names)
    native_sources = sorted(
        n for n in names if n.endswith((".cpp", ".hpp", ".cc", ".h")) or "/src/" in n
    )
    assert native_sources == []
    assert not any(n.startswith("libsim/tools/") for n in names)


_TUI_CHECK = """
import asyncio, os, sys
from importlib import resources
from pathlib import Path
from sei_tui.tui.app import SeiApp

async def main():
    app = SeiApp(theme_name="sei-light")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        packaged = resources.files("sei_tui.tui").joinpath("app.tcss")
        print(repr({
            "stylesheet": (str(Path(str(packaged)).resolve()), len(packaged.read_text())),
            "app_css_is_the_packaged_file": SeiApp.CSS == packaged.read_text(),
            "themes": sorted(app.available_themes),
            "theme": app.theme,
            "pane_borders": [w.styles.border_top[0] for w in app.screen.query(".pane")],
        }))
    sys.stdout.flush()
    os._exit(0)  # a worker thread may still be loading the demo model; don't wait for it

asyncio.run(main())
"""


def test_wheel_installs_and_runs_outside_the_source_tree(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # A fresh venv with pip (ensurepip is offline), the wheel installed alone (--no-deps)
    # while the venv can see nothing else, so pip never touches another environment.
    venv.create(env_dir, with_pip=True, symlinks=True)
    python = env_dir / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(SEI_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path / "home"))
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], elsewhere, env)
    # The runtime dependencies come from the test interpreter's site-packages, added after
    # the venv's own by a .pth line: torch + torchvision are ~5 GB and already installed in
    # the exact pair of constraints.txt, so nothing is downloaded again. (A path added by a
    # .pth is not itself a site dir: an editable sei-tui install there stays inactive.)
    torch_spec = importlib.util.find_spec("torch")
    assert torch_spec is not None and torch_spec.origin is not None
    dependencies_dir = Path(torch_spec.origin).resolve().parents[1]
    site = _site_packages(python)
    (site / "zz-sei-test-dependencies.pth").write_text(f"{dependencies_dir}\n", encoding="utf-8")

    where = _run(
        [python, "-c", "import sei_tui, libsim; print(sei_tui.__file__); print(libsim.__file__)"],
        elsewhere,
        env,
    ).stdout.split()
    for module_file in where:
        assert Path(module_file).resolve().is_relative_to(site.resolve()), where

    sei = env_dir / "bin" / "sei"
    version = _run([sei, "--version"], elsewhere, env).stdout.strip()
    assert version == f"sei {_source_version()}"

    simulated = json.loads(_run([sei, "simulate", "demo", "--json"], elsewhere, env).stdout)
    frames = [frame for flow in simulated["flows"] for frame in flow["frames"]]
    assert frames, simulated
    assert all(frame["latency_s"] > 0 for frame in frames if frame["complete"])
    assert any(frame["complete"] for frame in frames)

    # The CLI's theme check reads the packaged theme files.
    refused = subprocess.run(
        [sei, "tui", "--theme", "no-such-theme"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "sei-dark" in refused.stderr and "sei-light" in refused.stderr, refused.stderr

    # A headless start: the stylesheet and the themes come from the installed package.
    report = ast.literal_eval(
        _run([python, "-c", _TUI_CHECK], elsewhere, env, timeout=300).stdout.strip()
    )
    # The app's stylesheet is the app.tcss installed with the package, read as package data.
    path, size = report["stylesheet"]
    assert Path(path).name == "app.tcss" and size > 0, report
    assert Path(path).is_relative_to(site.resolve()), report
    assert report["app_css_is_the_packaged_file"], report
    assert {"sei-dark", "sei-light"} <= set(report["themes"]), report
    assert report["theme"] == "sei-light", report
    # `.pane { border: round ... }` is in app.tcss; without the stylesheet there is no border.
    assert report["pane_borders"] and set(report["pane_borders"]) == {"round"}, report


def _source_version() -> str:
    text = (ROOT / "sei_tui" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    assert match is not None
    return match.group(1)
