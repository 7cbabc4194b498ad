"""Errors of the selection functions. Each is an :class:`~labelloop.errors.InvalidInput` (422 at
the HTTP boundary) and a ``ValueError`` or ``TypeError``, so either way of catching works."""

from __future__ import annotations

from labelloop.errors import InvalidInput


class SelectionInputError(InvalidInput):
    """Base class: an argument to a selection function is wrong."""


class InvalidProbabilities(SelectionInputError, ValueError):
    """Probabilities of the wrong shape, outside [0, 1], or rows that do not sum to 1."""


class InvalidEmbeddings(SelectionInputError, ValueError):
    """Embeddings that are not a finite 2-d array matching the other inputs."""


class InvalidIndices(SelectionInputError, ValueError):
    """Pool/labeled indices out of range, repeated, or overlapping."""


class InvalidBatchSize(SelectionInputError, ValueError):
    """A batch size that is not a positive integer."""


class InvalidWeights(SelectionInputError, ValueError):
    """Committee member weights of the wrong length, negative, or all zero."""


class InvalidArgumentType(SelectionInputError, TypeError):
    """An argument of the wrong type (e.g. a float array where indices are expected)."""


class InvalidStreamInput(SelectionInputError, ValueError):
    """Stream selection inputs that are wrong: NaN or infinite utilities, feedback flags of
    another length, a budget outside its range, a stored state that does not parse."""
