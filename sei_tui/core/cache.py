"""The user cache directory (trained demo model, saliency results) and atomic writes.

`SEI_CACHE_DIR` overrides the platform's user cache directory (tests point it at a tmp dir).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

CACHE_ENV_VAR = "SEI_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a sub-directory of it), created on demand."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        root = Path(override).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("sei", appauthor=False))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temp file in the same directory, then os.replace: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def digest_key(obj: Any) -> str:
    """A stable short hex digest of a JSON-serialisable description (cache file names)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
