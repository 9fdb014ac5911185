"""One module per `sei` subcommand.

Each module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules import
only light things at top level (argparse-time must stay fast); torch and the native
simulator are imported inside ``run``.
"""
