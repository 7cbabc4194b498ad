"""Synthetic pools for selection tests: blobs in embedding space with matching probabilities."""

from __future__ import annotations

import numpy as np

from labelloop.selection import PoolData


def blobs(n_items: int, *, n_classes: int = 3, dim: int = 16, seed: int = 0,
          spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``n_classes`` centres, and each item's class."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim))
    y = rng.integers(n_classes, size=n_items)
    x = centres[y] + spread * rng.standard_normal((n_items, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def pool_data(n_items: int = 60, *, n_classes: int = 3, seed: int = 0, llm: bool = True,
              llm_nan_every: int = 0) -> PoolData:
    rng = np.random.default_rng(seed + 1)
    x, _ = blobs(n_items, n_classes=n_classes, seed=seed)
    probas = rng.dirichlet(np.ones(n_classes), size=n_items)
    llm_probas = rng.dirichlet(np.ones(n_classes), size=n_items) if llm else None
    if llm_probas is not None and llm_nan_every:
        llm_probas[::llm_nan_every] = np.nan
    return PoolData(x, probas=probas, llm_probas=llm_probas, llm_weight=0.7)
