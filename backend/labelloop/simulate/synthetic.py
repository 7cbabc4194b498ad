"""Synthetic stand-ins for an LLM: noisy label distributions made from gold labels.

Used by tests and benchmarks when no LLM server is at hand. Each item's "LLM answer" is its
gold class with probability ``accuracy``, else another class chosen uniformly; the answer gets a
confidence drawn uniformly from ``confidence`` and the remaining mass is spread over the other
classes. ``failure_rate`` of the rows are NaN (the LLM gave no usable answer).
"""

from __future__ import annotations

import numpy as np

from labelloop.errors import InvalidInput


def noisy_llm_distributions(y: np.ndarray, n_classes: int, *, accuracy: float,
                            rng: np.random.Generator,
                            confidence: tuple[float, float] = (0.55, 0.95),
                            failure_rate: float = 0.0) -> np.ndarray:
    """``(len(y), n_classes)`` label distributions, right about ``accuracy`` of the time."""
    t = np.asarray(y, dtype=np.int64)
    if not 0.0 <= accuracy <= 1.0 or not 0.0 <= failure_rate <= 1.0:
        raise InvalidInput("accuracy and failure_rate must be in [0, 1]")
    lo, hi = confidence
    if not 0.0 <= lo <= hi <= 1.0 or n_classes < 2:
        raise InvalidInput("confidence must be 0 <= low <= high <= 1, with >= 2 classes")
    n = t.size
    wrong = rng.random(n) >= accuracy
    shift = rng.integers(1, n_classes, size=n)
    answer = np.where(wrong, (t + shift) % n_classes, t)
    conf = rng.uniform(lo, hi, size=n)
    rest = rng.dirichlet(np.ones(n_classes - 1), size=n) * (1.0 - conf)[:, None]
    out = np.empty((n, n_classes))
    for i in range(n):
        others = np.delete(np.arange(n_classes), answer[i])
        out[i, others] = rest[i]
        out[i, answer[i]] = conf[i]
    out[rng.random(n) < failure_rate] = np.nan
    return out
