"""`sei tui`: open the terminal UI."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from sei_tui.core.errors import SeiInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default="demo", help="torchvision model name, 'demo', or file.py:factory"
    )
    p.add_argument("--weights", help="torchvision weights name or a local state-dict file")
    p.add_argument(
        "--scenario", help="scenario TOML file or built-in name (default: the built-in demo)"
    )
    p.add_argument("--data", help="labelled image folder for saliency and accuracy")
    p.add_argument("--qos", default="", help='constraints, e.g. "p95_latency<=0.1,accuracy>=0.9"')
    p.add_argument("--theme", help="theme name, e.g. sei-dark or sei-light (or set SEI_THEME)")
    p.add_argument(
        "--strategies",
        default="local,remote,split",
        help="deployments, as `sei analyze --strategies` (default local,remote,split)",
    )
    p.add_argument(
        "--run",
        metavar="FILE",
        help="a `sei run --json` file: its measured figures in the detail of the row it measured",
    )
    p.add_argument(
        "--study",
        metavar="DIR",
        help="open a `sei study` results folder (finished or not) as a sensitivity map first",
    )


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    measured = read_run_file(args.run) if args.run else None
    study = None
    if args.study:
        from sei_tui.tui.screens.sensitivity import read_study

        study = read_study(args.study, f"--study {args.study}")
    # Imported here so `sei --help` never pays for Textual; torch loads inside the app's
    # workers, after the first screen has painted.
    from sei_tui.tui.app import SeiApp

    app = SeiApp(
        model=args.model,
        weights=args.weights,
        scenario=args.scenario,
        data=args.data,
        theme_name=args.theme,
        qos=args.qos,
        strategies=_strategies(args.strategies),
        measured_run=measured,
        study=study,
    )
    app.run()
    if app.return_code:
        return app.return_code
    _exit_without_waiting_for_workers()
    return 0


def _exit_without_waiting_for_workers() -> None:
    """Quit means quit: a worker thread still inside a long core call (training the demo,
    a simulation) cannot be interrupted, and the interpreter would wait for it at exit."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def read_run_file(path: str) -> dict:
    """A `sei run --json` document (or a report with its `measured` entry), checked."""
    import json

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeiInputError(
            f"--run {path}: unreadable: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("measured"), dict):
        document = document["measured"]
    needed = ("split_index", "encoding", "frames", "p50_latency", "p95_latency", "parts")
    if not isinstance(document, dict) or any(k not in document for k in needed):
        raise SeiInputError(
            f"--run {path}: not a `sei run --json` file (needs {', '.join(needed)})"
        )
    return document


def _strategies(text: str) -> tuple[str, ...]:
    from sei_tui.core.evaluation.rows import STRATEGIES

    if text.strip().lower() == "all":
        return STRATEGIES
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise SeiInputError(
            f"--strategies: unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGIES)}, all)"
            if unknown
            else "--strategies: empty list"
        )
    return names


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad input before the screen opens: one line, exit 2."""
    _strategies(args.strategies)
    if args.scenario is not None and not Path(args.scenario).exists():
        from sei_tui.core.network.scenario import builtin_scenario_names

        if args.scenario not in builtin_scenario_names():
            raise SeiInputError(
                f"--scenario = {args.scenario}: no such file or built-in scenario "
                f"(built-in: {', '.join(builtin_scenario_names())})"
            )
    if args.data is not None and not Path(args.data).is_dir():
        raise SeiInputError(f"--data = {args.data}: not a folder")
    if args.qos:
        from sei_tui.core.evaluation.qos import parse_qos

        try:
            parse_qos(args.qos)
        except SeiInputError as exc:
            # the core names the term; the front end names the flag (once)
            message = str(exc)
            raise SeiInputError(
                message if message.startswith("--qos") else f"--qos: {message}"
            ) from None
    theme = args.theme or os.environ.get("SEI_THEME")
    if theme:
        from textual.theme import BUILTIN_THEMES

        from sei_tui.tui.themes import load_themes

        known = sorted({t.name for t in load_themes()} | set(BUILTIN_THEMES))
        if theme not in known:
            origin = "--theme" if args.theme else "SEI_THEME"
            raise SeiInputError(f"{origin} = {theme}: unknown theme (known: {', '.join(known)})")
