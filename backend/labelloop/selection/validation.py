"""Input checks shared by the selection functions; each raises a precise selection error."""

from __future__ import annotations

import numpy as np

from labelloop.selection.errors import (
    InvalidArgumentType,
    InvalidBatchSize,
    InvalidEmbeddings,
    InvalidIndices,
    InvalidProbabilities,
    InvalidWeights,
)

ROW_SUM_TOLERANCE = 1e-3
_CHUNK_ROWS = 8192  # rows per block when scanning a big matrix


def check_probas(probas: object, *, name: str = "probas", allow_nan_rows: bool = False,
                 multi_label: bool = False) -> np.ndarray:
    """A float ``(n_items, n_classes)`` array of distributions (or of independent per-class
    probabilities when ``multi_label``). With ``allow_nan_rows``, all-NaN rows (a member that
    gave no answer for that item) pass."""
    p = np.asarray(probas)
    if p.dtype == object or not np.issubdtype(p.dtype, np.number):
        raise InvalidArgumentType(f"{name} must be a numeric array, got dtype {p.dtype}")
    if p.ndim != 2:
        raise InvalidProbabilities(f"{name} must be 2-d (n_items, n_classes), got shape {p.shape}")
    if p.shape[1] < 2:
        raise InvalidProbabilities(f"{name} needs at least 2 classes, got {p.shape[1]}")
    p = p.astype(np.float64, copy=False)
    nan = np.isnan(p)
    ok = p  # the rows that are not NaN (no copy when nothing is missing)
    if nan.any():
        rows = nan.any(axis=1)
        if not allow_nan_rows or not nan[rows].all():
            what = "rows that are partly NaN" if allow_nan_rows else "NaN values"
            raise InvalidProbabilities(f"{name} has {what}")
        ok = p[~rows]
    if not np.isfinite(ok).all() or (ok < 0).any() or (ok > 1 + ROW_SUM_TOLERANCE).any():
        raise InvalidProbabilities(f"{name} must hold finite probabilities in [0, 1]")
    if not multi_label and ok.size:
        sums = ok.sum(axis=1)
        if np.abs(sums - 1).max() > ROW_SUM_TOLERANCE:
            raise InvalidProbabilities(f"each row of {name} must sum to 1 (worst: {sums.max():.4g}"
                                       f" / {sums.min():.4g})")
    return p


def check_committee(committee: object, *, allow_nan_rows: bool = True,
                    multi_label: bool = False) -> np.ndarray:
    """A float ``(n_members, n_items, n_classes)`` stack of member probabilities."""
    c = np.asarray(committee)
    if c.dtype == object or not np.issubdtype(c.dtype, np.number):
        raise InvalidArgumentType(f"committee must be a numeric array, got dtype {c.dtype}")
    if c.ndim != 3:
        raise InvalidProbabilities(
            f"committee must be 3-d (n_members, n_items, n_classes), got shape {c.shape}")
    if c.shape[0] < 1:
        raise InvalidProbabilities("committee has no members")
    for m in range(c.shape[0]):
        check_probas(c[m], name=f"committee member {m}", allow_nan_rows=allow_nan_rows,
                     multi_label=multi_label)
    return c.astype(np.float64, copy=False)


def check_weights(weights: object, n_members: int) -> np.ndarray:
    """Non-negative member weights, not all zero, normalised to sum 1 (None: equal weights)."""
    if weights is None:
        return np.full(n_members, 1.0 / n_members)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_members,):
        raise InvalidWeights(f"weights must have one value per member ({n_members}), "
                             f"got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InvalidWeights("weights must be finite, non-negative and not all zero")
    return w / w.sum()


def check_embeddings(embeddings: object, *, n_items: int | None = None) -> np.ndarray:
    e = np.asarray(embeddings)
    if e.dtype == object or not np.issubdtype(e.dtype, np.number):
        raise InvalidArgumentType(f"embeddings must be a numeric array, got dtype {e.dtype}")
    if e.ndim != 2:
        raise InvalidEmbeddings(f"embeddings must be 2-d (n_items, dim), got shape {e.shape}")
    if n_items is not None and e.shape[0] != n_items:
        raise InvalidEmbeddings(f"embeddings have {e.shape[0]} rows, expected {n_items}")
    if not _all_finite(e):
        raise InvalidEmbeddings("embeddings must be finite")
    return e.astype(np.float32, copy=False)


def _all_finite(a: np.ndarray, *, rows: int = _CHUNK_ROWS) -> bool:
    """``np.isfinite(a).all()`` a block of rows at a time: no boolean copy of the whole
    array (366 MiB for 1M x 384) and an early exit at the first bad block."""
    if not np.issubdtype(a.dtype, np.inexact):
        return True
    return all(np.isfinite(a[s : s + rows]).all() for s in range(0, a.shape[0], rows))


def check_indices(indices: object, n_items: int, *, name: str) -> np.ndarray:
    """Distinct integer positions in ``[0, n_items)`` as an int64 array."""
    a = np.asarray(indices)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidArgumentType(f"{name} must be integer positions, got dtype {a.dtype}")
    if a.ndim != 1:
        raise InvalidIndices(f"{name} must be 1-d, got shape {a.shape}")
    if a.min() < 0 or a.max() >= n_items:
        raise InvalidIndices(f"{name} must be positions in [0, {n_items}); "
                             f"got values from {a.min()} to {a.max()}")
    if np.count_nonzero(_mask(a, n_items)) != a.size:  # O(n), no sort
        raise InvalidIndices(f"{name} has repeated positions")
    return a.astype(np.int64, copy=False)


def check_pool(pool: object, labeled: object, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (pool, labeled) positions that do not overlap."""
    p = check_indices(pool, n_items, name="pool")
    lab = check_indices(labeled, n_items, name="labeled")
    if p.size and lab.size and _mask(p, n_items)[lab].any():
        raise InvalidIndices("pool and labeled share positions: a labeled item is not in the pool")
    return p, lab


def _mask(positions: np.ndarray, n_items: int) -> np.ndarray:
    """A boolean array over ``n_items``, True at ``positions`` (in range, checked before)."""
    m = np.zeros(n_items, dtype=bool)
    m[positions] = True
    return m


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise InvalidArgumentType(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise InvalidBatchSize(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)
