"""`sei tui`: open the terminal UI."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default="demo", help="torchvision model name, 'demo', or file.py:factory"
    )
    p.add_argument("--weights", help="torchvision weights name or a local state-dict file")
    p.add_argument("--scenario", help="scenario TOML file (default: the built-in demo)")
    p.add_argument("--data", help="labelled image folder for saliency and accuracy")
    p.add_argument("--theme", help="theme name (or set SEI_THEME)")


def run(args: argparse.Namespace) -> int:
    from sei_tui.tui.app import SeiApp

    SeiApp(
        model=args.model,
        weights=args.weights,
        scenario=args.scenario,
        data=args.data,
        theme_name=args.theme,
    ).run()
    return 0
