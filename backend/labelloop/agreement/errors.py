"""Errors raised by :mod:`labelloop.agreement`.

Both derive from :class:`labelloop.errors.InvalidInput`, so an HTTP handler answers 422 and the CLI
exits with code 2.
"""

from __future__ import annotations

from labelloop.errors import InvalidInput


class InsufficientData(InvalidInput):
    """The input is well-formed but too thin for the statistic (e.g. no task with two labels)."""

    code = "insufficient_data"


class MalformedExport(InvalidInput):
    """A Label Studio export that is not a list of tasks, or holds no choices annotation at all."""

    code = "malformed_export"
