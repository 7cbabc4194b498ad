"""The canonical label matrix, and builders for it.

A *label matrix* is a float array of shape ``(n_items, n_annotators)``. Entry ``[i, j]`` is the
class index (``0 … n_classes - 1``) that annotator ``j`` gave item ``i``, or NaN when ``j`` did not
label ``i``. Every metric in :mod:`labelloop.agreement` takes one; rows and columns are positions,
and the ids they stand for travel next to the matrix (:class:`LabelMatrix`).

Multiple-choice controls (an annotator may tick several labels) do not fit one class index per
cell. :func:`binary_matrices_from_records` gives one binary matrix per label instead, stacked as
``(n_labels, n_items, n_annotators)``: 1 = ticked, 0 = the annotator labelled the item but did not
tick it, NaN = the annotator did not label the item.

>>> lm = matrix_from_records([("t1", "ann", "pos"), ("t1", "bob", "neg")], labels=["neg", "pos"])
>>> lm.matrix
array([[1., 0.]])
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labelloop.errors import InvalidInput

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class LabelMatrix:
    """A label matrix with the ids its axes stand for.

    ``matrix`` is ``(n_items, n_annotators)`` from :func:`matrix_from_records`, or
    ``(n_labels, n_items, n_annotators)`` from :func:`binary_matrices_from_records`.
    """

    matrix: FloatArray
    items: tuple[Hashable, ...]
    annotators: tuple[Hashable, ...]
    labels: tuple[Hashable, ...]


def check_label_matrix(
    matrix: ArrayLike, *, n_classes: int | None = None
) -> tuple[FloatArray, int]:
    """Validate a label matrix; return it as a float array, with the number of classes.

    ``n_classes`` defaults to the largest class index + 1 (at least 1). Raises
    :class:`~labelloop.errors.InvalidInput` when the array is not 2-D, or holds values that are
    not NaN and not a class index below ``n_classes``.
    """
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a label matrix must be numeric: {exc}") from exc
    if arr.ndim != 2:
        raise InvalidInput(
            f"a label matrix must be 2-D (n_items, n_annotators); got shape {arr.shape}"
        )
    values = arr[~np.isnan(arr)]
    if values.size and (
        np.any(values < 0) or np.any(values != np.floor(values)) or np.any(np.isinf(values))
    ):
        raise InvalidInput("a label matrix holds class indices (integers >= 0) or NaN")
    observed = int(values.max()) + 1 if values.size else 1
    if n_classes is None:
        n_classes = observed
    elif not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise InvalidInput(f"n_classes must be a positive integer; got {n_classes!r}")
    elif observed > n_classes:
        raise InvalidInput(f"the matrix holds class index {observed - 1} but n_classes={n_classes}")
    return arr, int(n_classes)


def class_counts(matrix: FloatArray, n_classes: int) -> IntArray:
    """``counts[i, k]`` = how many annotators gave item ``i`` class ``k`` (shape ``(n_items, K)``).

    ``matrix`` must already be valid (see :func:`check_label_matrix`).
    """
    n_items = matrix.shape[0]
    rows, cols = np.nonzero(~np.isnan(matrix))
    flat = rows * n_classes + matrix[rows, cols].astype(np.int64)
    counts = np.bincount(flat, minlength=n_items * n_classes)
    return counts.reshape(n_items, n_classes).astype(np.int64)


def _positions(
    seen: Iterable[Hashable], given: Sequence[Hashable] | None, what: str
) -> dict[Hashable, int]:
    if given is not None:
        index = {key: pos for pos, key in enumerate(given)}
        if len(index) != len(given):
            raise InvalidInput(f"the {what} ids given are not unique")
        return index
    index = {}
    for key in seen:
        index.setdefault(key, len(index))
    return index


def _index_records(
    records: Iterable[tuple[Hashable, Hashable, object]],
    items: Sequence[Hashable] | None,
    annotators: Sequence[Hashable] | None,
) -> tuple[list[tuple[Hashable, Hashable, object]], dict[Hashable, int], dict[Hashable, int]]:
    rows = []
    for record in records:
        if not isinstance(record, (tuple, list)) or len(record) != 3:
            raise InvalidInput(f"a record is (item, annotator, label); got {record!r}")
        rows.append((record[0], record[1], record[2]))
    item_pos = _positions((r[0] for r in rows), items, "item")
    annotator_pos = _positions((r[1] for r in rows), annotators, "annotator")
    return rows, item_pos, annotator_pos


def _cell(
    item: Hashable,
    annotator: Hashable,
    item_pos: dict[Hashable, int],
    annotator_pos: dict[Hashable, int],
) -> tuple[int, int]:
    if item not in item_pos:
        raise InvalidInput(f"record for unknown item {item!r}")
    if annotator not in annotator_pos:
        raise InvalidInput(f"record for unknown annotator {annotator!r}")
    return item_pos[item], annotator_pos[annotator]


def matrix_from_records(
    records: Iterable[tuple[Hashable, Hashable, Hashable]],
    *,
    labels: Sequence[Hashable],
    items: Sequence[Hashable] | None = None,
    annotators: Sequence[Hashable] | None = None,
) -> LabelMatrix:
    """Build a label matrix from long-form ``(item, annotator, label)`` records.

    ``labels`` is the vocabulary: a label's position in it is its class index. ``items`` and
    ``annotators`` fix the row and column order (and may list ids without records: an annotator
    column that stays all-NaN changes no metric); by default they are the ids in order of first
    appearance. A label outside the vocabulary, or a second record for the same (item,
    annotator) cell, raises :class:`~labelloop.errors.InvalidInput`.
    """
    class_of = {label: k for k, label in enumerate(labels)}
    if len(class_of) != len(labels):
        raise InvalidInput("the label vocabulary holds duplicates")
    rows, item_pos, annotator_pos = _index_records(records, items, annotators)
    matrix = np.full((len(item_pos), len(annotator_pos)), np.nan)
    for item, annotator, label in rows:
        i, j = _cell(item, annotator, item_pos, annotator_pos)
        if label not in class_of:
            raise InvalidInput(f"label {label!r} is not in the vocabulary {list(labels)!r}")
        if not np.isnan(matrix[i, j]):
            raise InvalidInput(f"annotator {annotator!r} labelled item {item!r} twice")
        matrix[i, j] = class_of[label]
    return LabelMatrix(matrix, tuple(item_pos), tuple(annotator_pos), tuple(labels))


def binary_matrices_from_records(
    records: Iterable[tuple[Hashable, Hashable, Collection[Hashable]]],
    *,
    labels: Sequence[Hashable],
    items: Sequence[Hashable] | None = None,
    annotators: Sequence[Hashable] | None = None,
) -> LabelMatrix:
    """Per-label binary matrices ``(n_labels, n_items, n_annotators)`` for multiple choice.

    Each record is ``(item, annotator, chosen_labels)``; an empty collection means the annotator
    labelled the item and ticked nothing (zeros, not NaN). Same ordering and error rules as
    :func:`matrix_from_records`.
    """
    class_of = {label: k for k, label in enumerate(labels)}
    if len(class_of) != len(labels):
        raise InvalidInput("the label vocabulary holds duplicates")
    if not class_of:
        raise InvalidInput("the label vocabulary is empty")
    rows, item_pos, annotator_pos = _index_records(records, items, annotators)
    out = np.full((len(labels), len(item_pos), len(annotator_pos)), np.nan)
    for item, annotator, chosen in rows:
        i, j = _cell(item, annotator, item_pos, annotator_pos)
        if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Collection):
            raise InvalidInput(f"chosen labels must be a collection; got {chosen!r}")
        if not np.isnan(out[0, i, j]):
            raise InvalidInput(f"annotator {annotator!r} labelled item {item!r} twice")
        unknown = [c for c in chosen if c not in class_of]
        if unknown:
            raise InvalidInput(f"labels {unknown!r} are not in the vocabulary {list(labels)!r}")
        out[:, i, j] = 0.0
        out[[class_of[c] for c in chosen], i, j] = 1.0
    return LabelMatrix(out, tuple(item_pos), tuple(annotator_pos), tuple(labels))
