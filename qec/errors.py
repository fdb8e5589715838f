"""The one exception type for bad input: a value or file a user gave that is not allowed.

Every validation in qecpipe raises :class:`InputError` (or :class:`InputTypeError` for a value
of the wrong kind) with a message that names the argument or file, its value and the rule.
They subclass ``ValueError`` and ``TypeError``, so callers that expect those still catch
them. The command line turns them into one line on stderr and exit code 2; any other
exception reaching it is a bug in qecpipe (exit code 1, ``--debug`` shows the traceback),
except :class:`RunFailure`: valid work that failed (exit code 1, one line).

Examples:
    >>> try:
    ...     raise InputError("distance=4 must be an odd integer >= 3")
    ... except ValueError as exc:
    ...     print(type(exc).__name__, exc)
    InputError distance=4 must be an odd integer >= 3
"""

from __future__ import annotations


class InputError(ValueError):
    """A bad value or file from the user; the message names it and the rule it breaks."""


class InputTypeError(InputError, TypeError):
    """A value of the wrong kind from the user (also a ``TypeError``)."""


class RunFailure(RuntimeError):
    """Valid work that could not be completed (training diverged, the decoding service's
    workers kept dying); the message says what happened. The command line reports it in one
    line with exit code 1, without calling it a bug."""
