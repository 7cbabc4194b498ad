"""Drift of live traffic against the labelled set: a kernel two-sample test on embeddings and
the shift of the label distribution.

* :func:`mmd2` — the unbiased squared maximum mean discrepancy (Gretton et al., "A kernel
  two-sample test", JMLR 2012) with an RBF kernel ``exp(-|a - b|² / (2 σ²))``; ``σ`` defaults
  to the median distance between the pooled items (the median heuristic, as
  ``√median |a - b|²``). 0 in expectation when both samples come from one distribution; it can
  be slightly negative.
* :func:`mmd_test` — its permutation test: the samples are pooled, relabelled at random
  ``permutations`` times, and the statistic compared with those of the relabellings. One kernel
  matrix serves every relabelling (``sᵀ K s`` for the indicator ``s`` of each one), so 1,000 ×
  1,000 items with 200 permutations cost one ``(2000, 2000) @ (2000, 200)`` product.
* :func:`label_shift` — total variation between two label count vectors and a chi-square test
  of homogeneity (:func:`scipy.stats.chi2_contingency`, Yates-corrected with two classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2_contingency

from labelloop.errors import InvalidInput

MIN_LABELS = 20  # items per side below which label_shift gives no p-value
_CHUNK = 50  # permutations per matrix product


@dataclass(frozen=True)
class DriftTest:
    """``statistic``: MMD² of the two samples; ``threshold``: the ``1 - alpha`` quantile of its
    permutation distribution; ``p_value``: ``(1 + #{permuted >= statistic}) / (1 +
    permutations)``; ``drifting``: ``p_value < alpha``; ``bandwidth``: the kernel's ``σ``."""

    statistic: float
    threshold: float
    p_value: float
    bandwidth: float
    drifting: bool


def _check(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x), np.asarray(y)
    for name, s in (("x", a), ("y", b)):
        if s.ndim != 2 or s.shape[0] < 2 or not np.issubdtype(s.dtype, np.number):
            raise InvalidInput(f"{name} must be a numeric (n >= 2, dim) array, got {s.dtype} "
                               f"{s.shape}")
        if not np.isfinite(s).all():
            raise InvalidInput(f"{name} must be finite")
    if a.shape[1] != b.shape[1]:
        raise InvalidInput(f"x and y differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def _kernel(z: np.ndarray, bandwidth: float | None) -> tuple[np.ndarray, float]:
    """The RBF kernel matrix of the pooled items and its bandwidth (median heuristic)."""
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    if bandwidth is None:
        iu = np.triu_indices(z.shape[0], k=1)
        med = float(np.median(d2[iu]))
        bandwidth = float(np.sqrt(med)) if med > 0 else 1.0
    elif not (np.isfinite(bandwidth) and bandwidth > 0):
        raise InvalidInput(f"bandwidth must be a positive number, not {bandwidth!r}")
    d2 *= -1.0 / (2.0 * bandwidth * bandwidth)
    return np.exp(d2, out=d2), float(bandwidth)


def _mmd2(q_xx: np.ndarray, s_x: np.ndarray, total: float, m: int, n: int) -> np.ndarray:
    """Unbiased MMD² from ``q_xx = sᵀ K s``, ``s_x = (K 1)ᵀ s`` and ``total = 1ᵀ K 1`` (the
    kernel's diagonal is 1): the within sums leave out ``i = j``."""
    q_xy = s_x - q_xx
    q_yy = total - 2.0 * s_x + q_xx
    return (q_xx - m) / (m * (m - 1)) + (q_yy - n) / (n * (n - 1)) - 2.0 * q_xy / (m * n)


def mmd2(x: np.ndarray, y: np.ndarray, *, bandwidth: float | None = None) -> float:
    """Unbiased MMD² between the rows of ``x`` ``(m, d)`` and ``y`` ``(n, d)`` (m, n >= 2), RBF
    kernel; ``bandwidth`` None: the median pairwise distance of the pooled rows. Builds the
    ``(m + n)²`` kernel matrix: subsample large inputs first (:func:`mmd_test` does)."""
    a, b = _check(x, y)
    k, _ = _kernel(np.vstack([a, b]), bandwidth)
    return float(_statistic(k, a.shape[0]))


def _statistic(k: np.ndarray, m: int) -> float:
    n = k.shape[0] - m
    rows = k.sum(axis=1)
    q_xx = float(k[:m, :m].sum())
    return float(_mmd2(np.array(q_xx), np.array(rows[:m].sum()), float(rows.sum()), m, n))


def mmd_test(x: np.ndarray, y: np.ndarray, *, permutations: int, alpha: float,
             rng: np.random.Generator, max_items: int = 1000) -> DriftTest:
    """Permutation test of "x and y come from one distribution" with the MMD² statistic.

    Each side larger than ``max_items`` is first subsampled to it (uniformly, with ``rng``);
    the bandwidth is the pooled sample's median distance, fixed across permutations."""
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise InvalidInput(f"permutations must be an int >= 1, not {permutations!r}")
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be in (0, 1), not {alpha!r}")
    if max_items < 2:
        raise InvalidInput(f"max_items must be >= 2, not {max_items!r}")
    a, b = _check(x, y)
    if a.shape[0] > max_items:
        a = a[np.sort(rng.choice(a.shape[0], size=max_items, replace=False))]
    if b.shape[0] > max_items:
        b = b[np.sort(rng.choice(b.shape[0], size=max_items, replace=False))]
    m, n = a.shape[0], b.shape[0]
    k, bandwidth = _kernel(np.vstack([a, b]), None)
    statistic = _statistic(k, m)
    rows, total = k.sum(axis=1), float(k.sum())
    base = np.r_[np.ones(m), np.zeros(n)]
    permuted = np.empty(permutations)
    for start in range(0, permutations, _CHUNK):
        size = min(_CHUNK, permutations - start)
        s = rng.permuted(np.tile(base, (size, 1)), axis=1).T  # (m + n, size) indicators
        q_xx = np.einsum("ij,ij->j", s, k @ s)
        permuted[start:start + size] = _mmd2(q_xx, rows @ s, total, m, n)
    exceed = int(np.count_nonzero(permuted >= statistic - 1e-12 * abs(statistic)))
    p_value = (1 + exceed) / (1 + permutations)
    threshold = float(np.quantile(permuted, 1.0 - alpha, method="higher"))
    return DriftTest(statistic=statistic, threshold=threshold, p_value=p_value,
                     bandwidth=bandwidth, drifting=p_value < alpha)


def label_shift(reference: np.ndarray, recent: np.ndarray) -> tuple[float, float | None]:
    """(total variation distance, chi-square p-value) between two per-class count vectors.

    The distance is ``½ Σ |p_k - q_k|`` of the normalised counts, in [0, 1]; the p-value tests
    homogeneity of the 2 × k table (classes absent from both sides left out; 1.0 when a
    single class remains), None when either side has fewer than ``MIN_LABELS`` items."""
    r, q = np.asarray(reference), np.asarray(recent)
    for name, c in (("reference", r), ("recent", q)):
        if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.number) \
                or not np.isfinite(c).all() or (c < 0).any():
            raise InvalidInput(f"{name} must be a 1-d array of non-negative counts per class")
        if c.sum() <= 0:
            raise InvalidInput(f"{name} holds no items: no label distribution to compare")
    if r.shape != q.shape:
        raise InvalidInput(f"reference and recent differ in classes: {r.size} vs {q.size}")
    r, q = r.astype(np.float64), q.astype(np.float64)
    tv = float(0.5 * np.abs(r / r.sum() - q / q.sum()).sum())
    if r.sum() < MIN_LABELS or q.sum() < MIN_LABELS:
        return tv, None
    present = (r + q) > 0
    if np.count_nonzero(present) < 2:
        return tv, 1.0
    result = chi2_contingency(np.vstack([r[present], q[present]]))
    return tv, float(result.pvalue)
