"""`sei serve`: serve an exported split's tail over TCP (docs/wire-format.md)."""

from __future__ import annotations

import argparse
import signal
import sys

from sei_tui.core.errors import SeiInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="a `sei export` folder")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)"
    )
    p.add_argument(
        "--port", default="0", metavar="P", help="TCP port (default 0: any free port, printed)"
    )


def run(args: argparse.Namespace) -> int:
    from sei_tui.cli.inspect import integer_option
    from sei_tui.core.deploy.manifest import read_manifest

    port = integer_option("--port", args.port, minimum=0)
    if port > 65535:
        raise SeiInputError(f"--port = {port}: must be at most 65535")
    manifest = read_manifest(args.folder)
    from sei_tui.core.deploy.server import TailServer

    def log(line: str) -> None:
        print(f"sei serve: {line}", file=sys.stderr, flush=True)

    try:
        server = TailServer(manifest, args.host, port, log=log)
    except OSError as exc:
        raise SeiInputError(
            f"--host {args.host} --port {port}: cannot listen: {exc.strerror or exc}"
        ) from None
    host, bound = server.address
    print(f"sei serve: listening on {host}:{bound}", flush=True)
    entry = manifest.adapters
    part = ""
    if entry is not None:
        part = f", {entry['kind'].replace('_', ' ')} {entry['digest'][:12]}…"
    log(
        f"{manifest.document['model']['name']} split {manifest.document['split_index']} "
        f"({manifest.document['after']}), {manifest.encoding.name}{part}"
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: server.stop())  # SIGTERM: a clean stop
    try:
        server.serve_forever()
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        server.join()
    log(f"stopped after {server.served} frames")
    return 0
