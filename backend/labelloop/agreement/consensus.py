"""Majority-vote consensus of a label matrix.

:func:`majority_vote` gives one class index per item (NaN where there is none). An item's
consensus is the class most annotators chose; a single label is its own majority. When two or more
classes share the top count, ``ties`` decides:

- ``"missing"`` (default): no consensus (NaN). Safest when the consensus is used as a reference:
  a coin flip would be scored as if a human had meant it.
- ``"lowest"``: the tied class with the smallest index — deterministic, biased towards low indices.
- ``"random"``: a tied class drawn uniformly with ``rng`` (required, an ``np.random.Generator``).

Items nobody labelled are NaN whatever ``ties`` says. :func:`consensus_strength` gives the share of
an item's annotators who chose its top class, for filtering on "at least 2/3 agreed".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from labelloop.agreement.matrix import FloatArray, check_label_matrix, class_counts
from labelloop.errors import InvalidInput

TieRule = Literal["missing", "lowest", "random"]


def majority_vote(
    matrix: ArrayLike,
    *,
    n_classes: int | None = None,
    ties: TieRule = "missing",
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """The majority class index per item, shape ``(n_items,)``, NaN where undefined."""
    if ties not in ("missing", "lowest", "random"):
        raise InvalidInput(f"ties must be 'missing', 'lowest' or 'random'; got {ties!r}")
    if ties == "random" and not isinstance(rng, np.random.Generator):
        raise InvalidInput("ties='random' needs rng, an np.random.Generator")
    arr, k = check_label_matrix(matrix, n_classes=n_classes)
    counts = class_counts(arr, k)
    top = counts.max(axis=1, initial=0)
    is_top = (counts == top[:, None]) & (top[:, None] > 0)
    n_top = is_top.sum(axis=1)
    out = np.full(arr.shape[0], np.nan)
    single = n_top == 1
    out[single] = is_top[single].argmax(axis=1)
    tied = n_top > 1
    if ties == "lowest":
        out[tied] = is_top[tied].argmax(axis=1)
    elif ties == "random" and rng is not None and np.any(tied):
        # The tied class at a uniformly drawn position among each item's tied classes.
        pick = np.floor(rng.random(int(tied.sum())) * n_top[tied]).astype(np.int64)
        ranks = np.cumsum(is_top[tied], axis=1) - 1
        out[tied] = np.argmax(is_top[tied] & (ranks == pick[:, None]), axis=1)
    return out


def consensus_strength(matrix: ArrayLike, *, n_classes: int | None = None) -> FloatArray:
    """Share of each item's annotators who chose its most chosen class (NaN when unlabelled)."""
    arr, k = check_label_matrix(matrix, n_classes=n_classes)
    counts = class_counts(arr, k)
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, counts.max(axis=1, initial=0) / np.maximum(n, 1), np.nan)
