"""`sei export`: write a split's head and tail (plain PyTorch programs) and manifest.json,
optionally with an early exit (`--early-exit TAU`) or a bottleneck (`--bottleneck C`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sei_tui.cli.inspect import add_model_arguments, integer_option
from sei_tui.core.errors import SeiInputError

_TRAINING_FLAGS = ("train_images", "train_epochs")


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
    adapted = p.add_mutually_exclusive_group()
    adapted.add_argument(
        "--early-exit",
        metavar="TAU",
        help="add the exit at the split: the device answers when its top-1 probability >= TAU",
    )
    adapted.add_argument(
        "--bottleneck",
        metavar="C",
        help="add the bottleneck of C channels at the split: its code travels",
    )
    p.add_argument(
        "--adapters",
        metavar="FILE|DIR",
        help="the exit or bottleneck `sei analyze --save-adapters DIR` wrote (that file, or "
        "DIR); default: train it as sei analyze does",
    )
    data = p.add_mutually_exclusive_group()
    data.add_argument("--data", help="labelled images to train on and size payloads with")
    data.add_argument("--synthetic", metavar="N", help="N synthetic evaluation images (64)")
    p.add_argument(
        "--images", metavar="N", help="evaluation images, as sei analyze --images (default 64)"
    )
    p.add_argument("--train-images", metavar="N", help="as sei analyze (default 512)")
    p.add_argument(
        "--train-epochs", metavar="E", help="as sei analyze (default 30 exits, 4 bottlenecks)"
    )
    p.add_argument("--train-seed", metavar="S", default="0", help="as sei analyze (default 0)")


def _adapter_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The checked --early-exit / --bottleneck / --adapters / training flags."""
    from sei_tui.core.adapters.split_data import MIN_TRAIN_IMAGES

    out: dict[str, Any] = {"kind": None, "threshold": None, "width": None}
    if args.early_exit is not None:
        try:
            tau = float(args.early_exit)
        except ValueError:
            raise SeiInputError(f"--early-exit = {args.early_exit!r}: expected a number") from None
        if not 0.0 < tau <= 1.0:
            raise SeiInputError(f"--early-exit = {args.early_exit}: must be in (0, 1]")
        out.update(kind="early_exit", threshold=tau)
    elif args.bottleneck is not None:
        out.update(kind="bottleneck", width=integer_option("--bottleneck", args.bottleneck))
    if out["kind"] is None:
        for flag in ("adapters", *_TRAINING_FLAGS):
            if getattr(args, flag) is not None:
                name = "--" + flag.replace("_", "-")
                raise SeiInputError(f"{name}: needs --early-exit TAU or --bottleneck C")
        return out
    if args.adapters is not None:
        for flag in _TRAINING_FLAGS:
            if getattr(args, flag) is not None:
                name = "--" + flag.replace("_", "-")
                raise SeiInputError(
                    f"{name}: the part is read from --adapters {args.adapters}, not trained"
                )
        return out
    from sei_tui.core.adapters.training import AdapterOptions

    seed = integer_option("--train-seed", args.train_seed, minimum=0)
    options = AdapterOptions(seed=seed)
    changes: dict[str, Any] = {}
    if args.train_images is not None:
        changes["train_images"] = integer_option(
            "--train-images", args.train_images, minimum=MIN_TRAIN_IMAGES
        )
    if args.train_epochs is not None:
        epochs = integer_option("--train-epochs", args.train_epochs)
        changes["exit_epochs"] = changes["bottleneck_epochs"] = epochs
    from dataclasses import replace

    out["options"] = replace(options, **changes)
    return out


def _adapters_path(text: str, kind: str, split: int, width: int | None) -> Path:
    """--adapters FILE, or the file analyze's --save-adapters DIR holds for this part."""
    from sei_tui.core.deploy.adapters import adapter_file_name

    path = Path(text)
    if path.is_dir():
        path = path / adapter_file_name(kind, split, width)
        if not path.is_file():
            raise SeiInputError(
                f"--adapters {text}: no {path.name} (sei analyze --save-adapters names the "
                f"{kind} of split {split} so)"
            )
    return path


def run(args: argparse.Namespace) -> int:
    from sei_tui.cli.analyze import _from_flag
    from sei_tui.core.evaluation.encoding import parse_tensor_encoding
    from sei_tui.core.model.loading import parse_input_shape

    split = integer_option("--split", args.split, minimum=0)
    encoding = _from_flag("--encoding", parse_tensor_encoding, args.encoding)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SeiInputError(f"--out {args.out}: exists and is not a folder")
    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    flags = _adapter_flags(args)
    synthetic = None if args.synthetic is None else integer_option("--synthetic", args.synthetic)
    images = None if args.images is None else integer_option("--images", args.images)
    kind = flags["kind"]
    path = None
    if kind is not None and args.adapters is not None:
        path = _adapters_path(args.adapters, kind, split, flags["width"])

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
    adapter = None
    if kind is not None:
        adapter = _adapter(args, flags, loaded, graph, split, path, synthetic, images)
    payload_bytes = None
    if encoding.compression is not None:  # the size depends on the images: analyze's mean
        from sei_tui.core.deploy.predicted import (
            adapter_evaluation,
            deployment_of,
            split_evaluation,
        )

        common = {"data": args.data, "synthetic": synthetic, "max_images": images}
        if kind == "bottleneck":  # the code travels: the bottleneck row's figure
            evaluation = adapter_evaluation(loaded, graph, adapter, encoding.name, **common)
            payload_bytes = deployment_of(evaluation, kind).payload_bytes
        else:  # a plain split, or the frame an early exit sends when it does not exit
            evaluation = split_evaluation(loaded, graph, split, encoding.name, **common)
            payload_bytes = deployment_of(evaluation).payload_bytes
    spec = {
        "spec": args.model,
        "weights": args.weights,
        "input_shape": list(loaded.input_shape),
        "name": graph.name,
        "num_classes": loaded.num_classes,
    }
    document = export_split(loaded, graph, split, encoding, out, spec, payload_bytes, adapter)
    if args.json:
        json.dump(document, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        formats = {document["head"]["format"], document["tail"]["format"]}
        extra = ""
        if kind == "early_exit":
            extra = f", early exit at τ = {flags['threshold']:g}"
        elif kind == "bottleneck":
            extra = f", bottleneck of {flags['width']} channels"
        print(
            f"exported {graph.name} split {split} (after {document['after']}){extra}, "
            f"{encoding.name}, {document['payload_bytes']} B per frame, "
            f"{' + '.join(sorted(formats))} -> {out}"
        )
    return 0


def _adapter(args, flags, loaded, graph, split, path, synthetic, images):
    """The exit or bottleneck to export: read from --adapters, or trained as analyze does."""
    from sei_tui.core.adapters.bottleneck import channels_of
    from sei_tui.core.deploy.adapters import load_adapter, model_classes, split_layout

    kind, width = flags["kind"], flags["width"]
    flag = "--early-exit" if kind == "early_exit" else "--bottleneck"
    point, layout = split_layout(graph, split, flag)
    if kind == "bottleneck":
        channels = channels_of(point.tensors[0].shape[1:], layout)
        if width > channels:
            raise SeiInputError(
                f"--bottleneck {width}: wider than split {split} ({point.after}), whose "
                f"tensor has {channels} channels"
            )
    if path is not None:
        classes = model_classes(graph)
        return load_adapter(path, kind, graph, split, classes, width, flags["threshold"])
    from sei_tui.core.deploy.predicted import train_adapter

    print(f"sei export: training the {kind.replace('_', ' ')} at split {split}", file=sys.stderr)
    return train_adapter(
        loaded,
        graph,
        kind,
        split,
        flags["options"],
        flags["threshold"],
        width,
        args.data,
        synthetic,
        images,
    )
