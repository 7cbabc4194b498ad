"""The one generic selection step: scores in, a batch of pool positions out."""

from __future__ import annotations

import numpy as np

from labelloop.selection.errors import InvalidProbabilities
from labelloop.selection.validation import check_batch_size, check_indices


def order_by_score(scores: np.ndarray, pool: np.ndarray, *,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Every pool position, highest score first. Ties are broken at random (by ``rng``), or by
    position when no ``rng`` is given. ``scores`` has one value per item (``n_items``)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise InvalidProbabilities("scores must be a finite 1-d array")
    p = check_indices(pool, s.shape[0], name="pool")
    if p.size == 0:
        return p
    tie = rng.random(p.size) if rng is not None else np.arange(p.size, dtype=np.float64)
    order = np.lexsort((tie, -s[p]))
    return p[order]


def select_top(scores: np.ndarray, pool: np.ndarray, batch_size: int, *,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The ``batch_size`` pool positions with the highest scores, best first (the whole pool,
    ordered, when it is smaller). ``O(n)`` selection plus a sort of the batch only."""
    n = check_batch_size(batch_size)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise InvalidProbabilities("scores must be a finite 1-d array")
    p = check_indices(pool, s.shape[0], name="pool")
    if p.size <= n:
        return order_by_score(s, p, rng=rng)
    tie = rng.random(p.size) if rng is not None else np.arange(p.size, dtype=np.float64)
    ps = s[p]
    # the n-th best score; everything strictly above is in, ties at it are split by ``tie``
    threshold = np.partition(-ps, n - 1)[n - 1]
    keep = np.flatnonzero(-ps <= threshold)
    order = keep[np.lexsort((tie[keep], -ps[keep]))][:n]
    return p[order]
