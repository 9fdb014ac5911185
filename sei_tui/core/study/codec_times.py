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

split2 deployments (`fix_two_cut_codec_times`) likewise: one host measurement per hop
payload, keyed by (cut, encoding) as `tiers.build_two_cuts` measures it, carried to the
encoding and the decoding node by their profiles' host scales.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
from collections.abc import Sequence
from typing import Any

from sei_tui.core.cache import atomic_write_json, cache_dir, digest_key

__all__ = ["codec_key", "fix_codec_times", "fix_two_cut_codec_times"]


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


def _cached_or_stored(path: Any, names: tuple[str, ...], measured: tuple[float, ...]) -> tuple:
    """The finite times cached at `path`, else `measured` (then stored there)."""
    entry: dict = {}
    with contextlib.suppress(OSError, ValueError):
        entry = json.loads(path.read_text())
        entry = entry if isinstance(entry, dict) else {}
    cached = _finite_times(entry, names)
    if cached is not None:
        return cached
    with contextlib.suppress(OSError):  # an unwritable cache only costs determinism
        atomic_write_json(path, dict(zip(names, measured, strict=True)))
    return measured


def fix_two_cut_codec_times(evaluation: Any, model_key: dict, settings: dict) -> None:
    """Replace the encode/decode times of `evaluation.two_cuts` (tiers.TwoCut) by the
    cached host measurement of each hop payload (cut, encoding), storing this run's when
    there is none: hop 1's encode x the device's host scale and decode x the edge box's,
    hop 2's encode x the box's and decode x the server's (as `build_two_cuts` scales)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from sei_tui.core.evaluation.tiers import edge_box
    from sei_tui.core.model.compute import ComputeModel

    if not evaluation.two_cuts:
        return
    scenario, graph = evaluation.scenario, evaluation.graph
    nodes = (scenario.edge_node(), edge_box(scenario), scenario.server_node())
    scale = [ComputeModel.from_profile(scenario.compute_of(n), graph).host_scale for n in nodes]

    def host(seconds: float, factor: float) -> float:
        return seconds / factor if factor else 0.0

    measured: dict[tuple[int, str], tuple[float, float]] = {}
    for d in evaluation.two_cuts:
        a, b = d.cuts
        first = (host(d.encode_s[0], scale[0]), host(d.decode_s[0], scale[1]))
        measured.setdefault((a, d.encoding), first)
        second = (host(d.encode_s[1], scale[1]), host(d.decode_s[1], scale[2]))
        measured.setdefault((b, d.encoding), second)
    folder = cache_dir("codec")
    times = {}
    for (cut, encoding), seconds in measured.items():
        hop = SimpleNamespace(
            strategy="split2 hop", split=SimpleNamespace(index=cut), encoding=encoding
        )
        path = folder / f"{codec_key(model_key, settings, hop)}.json"
        times[cut, encoding] = _cached_or_stored(path, ("encode_host_s", "decode_host_s"), seconds)
    fixed = []
    for d in evaluation.two_cuts:
        (enc1, dec1), (enc2, dec2) = (times[k, d.encoding] for k in d.cuts)
        fixed.append(
            replace(
                d,
                encode_s=(enc1 * scale[0], enc2 * scale[1]),
                decode_s=(dec1 * scale[1], dec2 * scale[2]),
            )
        )
    evaluation.two_cuts = fixed
