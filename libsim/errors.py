"""What can go wrong in a simulation, by whose fault: the caller's input, an interruption,
or the engine itself. The C status code (LIBSIM_ERR_*, libsim.h) travels with the error."""

from __future__ import annotations

from typing import Any


class LibsimError(Exception):
    """The simulator refused a network, was interrupted, or failed.

    ``status`` is the C status code (None when the binding found the problem before calling
    C, or could not load the library); ``kind`` is ``"input"``, ``"interrupted"`` or
    ``"internal"``. Catch the subclasses to tell them apart.
    """

    kind = "internal"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __reduce__(self):  # raised in a worker process, re-raised in the caller
        return (type(self), (self.message, self.status))


class LibsimInputError(LibsimError, ValueError):
    """The network description is invalid or asks more than the simulator allows (a limit of
    libsim.h, the time horizon or the event budget): the caller's to fix."""

    kind = "input"


class LibsimInterrupted(LibsimError):
    """The run was stopped by `libsim.interrupt()`."""

    kind = "interrupted"


class LibsimInternalError(LibsimError):
    """The engine failed (out of memory, SystemC, a bug) or the native library is missing."""

    kind = "internal"


# The class each libsim.h status code (LIBSIM_ERR_<suffix>) stands for.
KIND_OF_STATUS: dict[str, type[LibsimError]] = {
    "ARGUMENT": LibsimInputError,
    "RUNTIME": LibsimInputError,  # a run-time limit the network's size or speed hit
    "INTERRUPTED": LibsimInterrupted,
    "MEMORY": LibsimInternalError,
    "INTERNAL": LibsimInternalError,
}


def error_for_status(lib: Any, status: int, message: str) -> LibsimError:
    """The error C status `status` stands for (an unknown code is an internal failure)."""
    cls: type[LibsimError] = LibsimInternalError
    for suffix, candidate in KIND_OF_STATUS.items():
        if status == getattr(lib, f"LIBSIM_ERR_{suffix}"):
            cls = candidate
    return cls(message or f"libsim failed with status {status}", status)
