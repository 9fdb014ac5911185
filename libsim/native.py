"""The compiled engine (cffi module libsim._libsim_cffi), loaded on first use."""

from __future__ import annotations

from typing import Any

from libsim.errors import LibsimInternalError


def load() -> tuple[Any, Any]:
    """(ffi, lib) of the native simulator; LibsimInternalError when it is not built."""
    try:
        from libsim._libsim_cffi import ffi, lib
    except ImportError as exc:  # the extension is built by `pip install -e .` / `make setup`
        raise LibsimInternalError(
            f"the native simulator is not built (run `make setup` or `pip install -e .`): {exc}"
        ) from exc
    return ffi, lib
