"""`sei export`: write a split's head and tail (plain PyTorch programs) and manifest.json."""

from __future__ import annotations

import argparse
import json
import sys

from sei_tui.cli.inspect import add_model_arguments, integer_option
from sei_tui.core.errors import SeiInputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--split", required=True, metavar="K", help="split point index (sei inspect)")
    p.add_argument(
        "--encoding",
        default="fp32",
        metavar="E",
        help="payload encoding: fp32|fp16|int8 [+zlib|+lz4] (default fp32)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the export into")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def run(args: argparse.Namespace) -> int:
    from sei_tui.cli.analyze import _from_flag
    from sei_tui.core.evaluation.encoding import parse_tensor_encoding
    from sei_tui.core.model.loading import parse_input_shape

    split = integer_option("--split", args.split, minimum=0)
    encoding = _from_flag("--encoding", parse_tensor_encoding, args.encoding)
    from pathlib import Path

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SeiInputError(f"--out {args.out}: exists and is not a folder")
    shape = parse_input_shape(args.input_shape) if args.input_shape else None

    from sei_tui.core.deploy.export import export_split
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.model.loading import load_model

    loaded = load_model(args.model, weights=args.weights, input_shape=shape)
    graph = analyze_model(loaded)
    if split >= len(graph.split_points):
        raise SeiInputError(
            f"--split {split}: {graph.name} has split points 0..{len(graph.split_points) - 1} "
            "(see sei inspect)"
        )
    payload_bytes = None
    if encoding.compression is not None:  # the size depends on the images: analyze's mean
        from sei_tui.core.deploy.predicted import deployment_of, split_evaluation

        evaluation = split_evaluation(loaded, graph, split, encoding.name)
        payload_bytes = deployment_of(evaluation).payload_bytes
    spec = {
        "spec": args.model,
        "weights": args.weights,
        "input_shape": list(loaded.input_shape),
        "name": graph.name,
        "num_classes": loaded.num_classes,
    }
    document = export_split(loaded, graph, split, encoding, out, spec, payload_bytes)
    if args.json:
        json.dump(document, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        formats = {document["head"]["format"], document["tail"]["format"]}
        print(
            f"exported {graph.name} split {split} (after {document['after']}), "
            f"{encoding.name}, {document['payload_bytes']} B per frame, "
            f"{' + '.join(sorted(formats))} -> {out}"
        )
    return 0
