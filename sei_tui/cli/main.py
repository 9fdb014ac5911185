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

# name -> (help line, issue that delivers it). The module sei_tui.cli.<name>
# implements the subcommand; until it exists the subcommand says so and exits 2.
SUBCOMMANDS: dict[str, tuple[str, int]] = {
    "tui": ("open the terminal UI (the default)", 7),
    "simulate": ("simulate sending frames over a scenario's network", 3),
    "inspect": ("list a model's layers and every valid split point", 4),
    "saliency": ("cumulative-saliency curve and its maxima (candidate splits)", 5),
    "analyze": ("latency x accuracy of every deployment, QoS, recommendation", 6),
    "profile": ("measure per-layer latency on this machine", 4),
}


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr and exit 2, like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _load(name: str):
    try:
        return importlib.import_module(f"sei_tui.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"sei_tui.cli.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="sei",
        description="Split-Et-Impera in the terminal: find, simulate and recommend "
        "where to split a DNN between an edge device and a server.",
    )
    parser.add_argument("--version", action="version", version=f"sei {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, issue) in SUBCOMMANDS.items():
        module = _load(name)
        if module is None:
            p = sub.add_parser(name, help=f"{help_line} (not available yet)")
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(_run=_unavailable(name, issue))
        else:
            p = sub.add_parser(name, help=help_line, description=help_line)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _unavailable(name: str, issue: int):
    def run(_args: argparse.Namespace) -> int:
        print(f"sei {name}: not available yet (tracked in issue #{issue})", file=sys.stderr)
        return 2

    return run


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
        if os.environ.get("SEI_DEBUG"):
            traceback.print_exc()
        print(
            f"sei {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set SEI_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
