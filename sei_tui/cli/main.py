"""The `sei` console script: argparse front end over the core (and the TUI launcher)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from sei_tui import __version__
from sei_tui.core.errors import SeiCancelled, SeiInputError

# name -> help line; the module sei_tui.cli.<name> implements the subcommand.
SUBCOMMANDS: dict[str, str] = {
    "tui": "open the terminal UI (the default)",
    "simulate": "simulate sending frames over a scenario's network",
    "inspect": "list a model's layers and every valid split point",
    "saliency": "cumulative-saliency curve and its maxima (candidate splits)",
    "analyze": "latency x accuracy of every deployment, QoS, recommendation",
    "profile": "measure per-layer latency on this machine",
    "export": "write a split's head and tail as PyTorch programs, with a manifest",
    "serve": "serve an exported split's tail over TCP (the server side)",
    "run": "run an exported split's head against `sei serve`, measured vs predicted",
    "study": "a grid of models x scenarios x link parameters on a pool or Dask, resumable",
}

# A core setting (SeiInputError.key) -> the flag that sets it in every subcommand.
FLAG_OF_SETTING: dict[str, str] = {
    "input_shape": "--input-shape",
    "data": "--data",
    "synthetic": "--synthetic",
    "target": "--target",
    "batch": "--batch",
}


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr and exit 2, like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="sei",
        description="Split-Et-Impera in the terminal: find, simulate and recommend "
        "where to split a DNN between an edge device and a server.",
    )
    parser.add_argument("--version", action="version", version=f"sei {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_line in SUBCOMMANDS.items():
        module = importlib.import_module(f"sei_tui.cli.{name}")
        p = sub.add_parser(name, help=help_line, description=help_line)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["tui"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SeiInputError as exc:
        if exc.key in FLAG_OF_SETTING:  # the core names the setting; say the flag typed
            exc = exc.renamed(FLAG_OF_SETTING[exc.key])
        print(f"sei {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except SeiCancelled:
        print(f"sei {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"sei {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: exit 1, not a trace
        return _unexpected(args.command, exc)


def _unexpected(command: str, exc: Exception) -> int:
    """Exit code and one line for an error no subcommand turned into SeiInputError: the
    simulator's by kind (input 2, interrupted 130, internal 1), anything else internal."""
    libsim = sys.modules.get("libsim")  # a simulator error implies libsim was imported
    if libsim is not None and isinstance(exc, libsim.LibsimError):
        if isinstance(exc, libsim.LibsimInputError):
            print(f"sei {command}: error: the simulator refused it: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, libsim.LibsimInterrupted):
            print(f"sei {command}: interrupted", file=sys.stderr)
            return 130
    if os.environ.get("SEI_DEBUG"):
        traceback.print_exc()
    what = (
        "simulator failure"
        if libsim is not None and isinstance(exc, libsim.LibsimError)
        else type(exc).__name__
    )
    print(
        f"sei {command}: internal error: {what}: {exc} (set SEI_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
