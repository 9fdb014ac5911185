"""The `sei` console script: help, version, exit codes."""

import subprocess
import sys

from sei_tui import __version__
from sei_tui.cli.main import SUBCOMMANDS


def sei(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sei_tui", *args], capture_output=True, text=True, timeout=120
    )


def test_version():
    out = sei("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"sei {__version__}"


def test_help_lists_every_subcommand():
    out = sei("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout


def test_unknown_subcommand_is_exit_2():
    out = sei("frobnicate")
    assert out.returncode == 2
    assert "frobnicate" in out.stderr
    assert "Traceback" not in out.stderr


def test_usage_mistakes_are_one_line_exit_2():
    for args in (["analyze", "--format", "xml"], ["saliency", "demo"], ["simulate"]):
        out = sei(*args)
        assert out.returncode == 2, args
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, (args, out.stderr)
        assert lines[0].startswith(f"sei {args[0]}: error: "), lines[0]
        assert "--help" in lines[0]
