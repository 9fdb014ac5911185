"""Trained exits and bottlenecks, cached as state-dict files in the user cache directory.

Key: the model's name, a digest of its weights, the training images' fingerprint (dataset
content + the chosen indices), the split point and the part's configuration (kind, layout,
sizes, epochs, seed, the code's `ADAPTER_VERSION`), hashed with `sei_tui.core.cache.digest_key`
(the convention of the saliency result cache). Files are plain `torch.save(state_dict)`
written atomically and read back with `torch.load(weights_only=True)` only; an unreadable
or mismatched entry is retrained. `save_state_dict` writes the same kind of file for
deployment (`sei analyze --save-adapters DIR`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from sei_tui.core.cache import atomic_write_bytes, cache_dir, digest_key

__all__ = ["ADAPTER_VERSION", "cache_key", "load_cached", "save_state_dict", "weights_digest"]

ADAPTER_VERSION = 2  # bump when training or the parts' structure changes


def weights_digest(loaded: Any) -> str:
    """The LoadedModel's own weights digest, or one over the module's state dict."""
    digest = getattr(loaded, "weights_digest", None)
    if digest:
        return str(digest)
    from sei_tui.core.model.loading import state_dict_digest

    return state_dict_digest(getattr(loaded, "module", loaded))


def cache_key(
    model: str, weights: str, data: str, split_index: int, configuration: dict[str, Any]
) -> str:
    return digest_key(
        {
            "version": ADAPTER_VERSION,
            "model": model,
            "weights": weights,
            "data": data,
            "split": split_index,
            "configuration": configuration,
        }
    )


def _path(key: str) -> Path:
    return cache_dir("adapters") / f"{key}.pt"


def load_cached(key: str, module: torch.nn.Module) -> bool:
    """Load the cached state into `module`; False when absent, unreadable or mismatched."""
    path = _path(key)
    if not path.is_file():
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except Exception:  # noqa: BLE001 - a damaged cache entry is retrained, not fatal
        return False
    return True


def save_state_dict(path: Path, module: torch.nn.Module) -> None:
    """`torch.save(module.state_dict())` to `path`, atomically."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def store(key: str, module: torch.nn.Module) -> None:
    save_state_dict(_path(key), module)
