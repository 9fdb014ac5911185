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


def _result_host_seconds(deployment: Any) -> float:
    """An early exit's time to encode a result on this machine, read off the fixed latency
    of an image that exited (head + result); 0 when none did."""
    for j, exited in enumerate(deployment.exited):
        if exited:
            return deployment.frame_fixed_s[j] - deployment.head_s
    return 0.0


def _finite_times(entry: dict, names: tuple[str, ...]) -> tuple[float, ...] | None:
    with contextlib.suppress(KeyError, TypeError, ValueError):
        values = tuple(float(entry[n]) for n in names)
        if all(math.isfinite(v) and v >= 0 for v in values):
            return values
    return None


def fix_codec_times(deployments: Sequence[Any], model_key: dict, settings: dict) -> int:
    """Replace every deployment's encode/decode time by the cached host measurement of its
    key (storing this run's when there is none); the number of keys read from the cache.
    An early exit's per-image fixed latencies are rebuilt from those times and a cached
    result-encoding time, as `adapters.deploy.early_exit_deployment` builds them."""
    folder = cache_dir("codec")
    hits = 0
    for d in deployments:
        key = codec_key(model_key, settings, d)
        path = folder / f"{key}.json"
        entry: dict = {}
        with contextlib.suppress(OSError, ValueError):
            entry = json.loads(path.read_text())
            entry = entry if isinstance(entry, dict) else {}
        names = ("encode_host_s", "decode_host_s")
        early = bool(getattr(d, "frame_fixed_s", ())) and getattr(d, "exited", None) is not None
        if early:
            names += ("result_host_s",)
        cached = _finite_times(entry, names)
        if cached is None:
            cached = _host_seconds(d) + ((_result_host_seconds(d),) if early else ())
            with contextlib.suppress(OSError):  # an unwritable cache only costs determinism
                atomic_write_json(path, dict(zip(names, cached, strict=True)))
        else:
            hits += 1
        d.encode_s = cached[0] * d.encode_scale
        d.decode_s = cached[1] * d.decode_scale
        if early:
            offloaded = d.encode_s + d.decode_s + d.tail_s
            d.frame_fixed_s = tuple(
                d.head_s + (cached[2] if exited else offloaded) for exited in d.exited
            )
    return hits
