"""The `sei` command line: the argument parser (`main`) and one module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules
import only light things at top level (argparse-time must stay fast); torch and the native
simulator are imported inside ``run``.
"""

from sei_tui.cli.main import main

__all__ = ["main"]
