"""Encode and decode times measured once per key and cached, so a study's numbers contain
no timing taken while it runs.

An evaluation measures each deployment's encoder and decoder on this machine (see
`evaluation.deployments`) and scales them to the edge and the server. A study instead
keeps the first such measurement per key in the cache folder (`codec/`): the machine's
host-time fingerprint (as `ComputeModel.host_scale` uses), the model, its input shape and
data, the deployment (strategy, split, encoding) and the image count. Every later
preparation of that key, on this machine, reads the same host seconds back, and
encode_s = host seconds x encode_scale (decode likewise): a study and its re-run give the
same numbers bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
from collections.abc import Sequence
from typing import Any

from sei_tui.core.cache import atomic_write_json, cache_dir, digest_key

__all__ = ["codec_key", "fix_codec_times"]


def codec_key(model_key: dict, settings: dict, deployment: Any) -> str:
    import torch

    split = deployment.split
    return digest_key(
        {
            "model": model_key,
            "data": settings.get("data"),
            "synthetic": settings.get("synthetic"),
            "images": settings.get("images"),
            "strategy": deployment.strategy,
            "split": None if split is None else split.index,
            "encoding": deployment.encoding,
            "machine": [platform.machine(), platform.processor(), platform.node()],
            "torch": torch.__version__,
        }
    )


def _host_seconds(deployment: Any) -> tuple[float, float]:
    encode = deployment.encode_s / deployment.encode_scale if deployment.encode_scale else 0.0
    decode = deployment.decode_s / deployment.decode_scale if deployment.decode_scale else 0.0
    return encode, decode


def fix_codec_times(deployments: Sequence[Any], model_key: dict, settings: dict) -> int:
    """Replace every deployment's encode/decode time by the cached host measurement of its
    key (storing this run's when there is none); the number of keys read from the cache."""
    folder = cache_dir("codec")
    hits = 0
    for d in deployments:
        key = codec_key(model_key, settings, d)
        path = folder / f"{key}.json"
        cached = None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            entry = json.loads(path.read_text())
            cached = (float(entry["encode_host_s"]), float(entry["decode_host_s"]))
            if not all(math.isfinite(v) and v >= 0 for v in cached):
                cached = None
        if cached is None:
            cached = _host_seconds(d)
            with contextlib.suppress(OSError):  # an unwritable cache only costs determinism
                atomic_write_json(path, {"encode_host_s": cached[0], "decode_host_s": cached[1]})
        else:
            hits += 1
        d.encode_s = cached[0] * d.encode_scale
        d.decode_s = cached[1] * d.decode_scale
    return hits
