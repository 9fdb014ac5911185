"""Errors the front ends turn into exit codes."""


class SeiInputError(Exception):
    """Bad input from the user: exit code 2, one clear line, no traceback.

    The message names what is wrong and where (file, key, value).
    """


class SeiCancelled(Exception):
    """A long computation was cancelled through its cancel callback."""
