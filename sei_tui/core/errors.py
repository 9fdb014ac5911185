"""Errors the front ends turn into exit codes."""

from __future__ import annotations


class SeiInputError(Exception):
    """Bad input from the user: exit code 2, one clear line, no traceback.

    The message names what is wrong and where (file, key, value). An error about one setting
    may also carry it apart, so that a front end can name the setting its own way (a CLI
    flag, a form field) instead of the core's key: ``key`` (the core's name, e.g.
    ``payload_bytes``), ``shown`` (the value as quoted, None when the setting is missing)
    and ``problem`` (``must be 1..10000000``); see ``renamed``.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        shown: str | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.shown = shown
        self.problem = problem

    def renamed(self, name: str, shown: str | None = None) -> SeiInputError:
        """The same problem said about `name` (a flag, a field), with the value as that front
        end shows it (default: as the core quoted it): ``--frames = 0: must be 1..10000000``."""
        if self.problem is None:
            return self
        shown = self.shown if shown is None else shown
        where = name if shown is None else f"{name} = {shown}"
        return SeiInputError(
            f"{where}: {self.problem}", key=name, shown=shown, problem=self.problem
        )


def setting_error(key: str, label: str, shown: str | None, problem: str) -> SeiInputError:
    """An error about one setting, worded by the core (`label = shown: problem`) and carrying
    `key` so that a front end can say it about its own flag or field (`renamed`)."""
    where = label if shown is None else f"{label} = {shown}"
    return SeiInputError(f"{where}: {problem}", key=key, shown=shown, problem=problem)


class SeiCancelled(Exception):
    """A long computation was cancelled through its cancel callback."""
