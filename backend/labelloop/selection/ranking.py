"""A full ranking of the pool: what Label Studio's queue shows, in order.

:func:`rank_pool` gives every unlabeled item a rank and a score in ``[0, 1)``, lowest score =
label first (Label Studio's uncertainty-sampling queue serves low prediction scores first). The
first ``batch_size`` items are the strategy's batch, in the strategy's order; the rest follow by
the strategy's per-item priority (random order for ``random``). While the project is cold (see
:mod:`labelloop.selection.cold_start`) the batch is a class-balanced seed set instead.

Everything quadratic runs on a shortlist, and nothing copies the embedding matrix or holds
more than a few arrays of ``(n_items, n_classes)``: 1,000,000 items rank in about a second
and ~150 MiB beyond the data (``bench/bench_rank_scale.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.selection.cold_start import (
    ColdStartOptions,
    cold_start_batch,
    needs_cold_start,
    typical_seeds,
)
from labelloop.selection.select import order_by_score
from labelloop.selection.strategies import (
    PoolData,
    StrategyName,
    StrategyOptions,
    combined_scores,
    committee_scores,
    diversity_priority,
    get_strategy,
    local_uncertainty,
)
from labelloop.selection.typicality import typicality_batch
from labelloop.selection.validation import check_batch_size, check_embeddings, check_pool

Phase = Literal["cold_start", "active"]


@dataclass(frozen=True)
class Ranking:
    """``order``: pool positions, label-first first. ``scores[i]`` belongs to ``order[i]`` and
    increases along ``order``. ``batch``: the first ``len(batch)`` entries of ``order``."""

    order: np.ndarray
    scores: np.ndarray
    batch: np.ndarray
    strategy: str
    phase: Phase
    notes: tuple[str, ...] = ()

    def score_of(self) -> dict[int, float]:
        """Position → score, for writing predictions."""
        return {int(i): float(s) for i, s in zip(self.order, self.scores)}


def proxy_probas(data: PoolData) -> np.ndarray | None:
    """The stand-in labels for cold start: the LLM's, else the local model's, else none."""
    if data.llm_probas is not None:
        return np.asarray(data.llm_probas, dtype=np.float64)
    if data.probas is not None:
        return np.asarray(data.probas, dtype=np.float64)
    return None


def seed_batch(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int, *,
               rng: np.random.Generator, label_counts: np.ndarray | None,
               options: ColdStartOptions) -> tuple[np.ndarray, list[str]]:
    """A cold-start batch and its notes: typical items of uncovered regions when
    :func:`~labelloop.selection.cold_start.typical_seeds` says so (without an LLM, on a project
    whose seed phase spans several batches; the class count from ``label_counts``, or the
    model's columns), else seeds balanced by the proxy labels."""
    k = label_counts.size if label_counts is not None else \
        data.probas.shape[1] if data.probas is not None else 0
    typical = (k > 0 or options.picks == "typicality") and typical_seeds(
        k, batch_size, llm=data.llm_probas is not None, options=options)
    if typical:
        batch = typicality_batch(data.embeddings, pool, labeled, batch_size, rng=rng,
                                 options=options.typicality)
        why = "without an LLM (no proxy labels)" if data.llm_probas is None else "(typicality)"
        return batch, [f"cold start {why}: the most typical items of regions no label covers"]
    proxy = proxy_probas(data)
    batch = cold_start_batch(data.embeddings, pool, labeled, batch_size, rng=rng,
                             proxy_probas=proxy, label_counts=label_counts, options=options)
    notes = [] if proxy is not None else \
        ["cold start without proxy labels: cluster representatives only"]
    return batch, notes


def _priority(data: PoolData, strategy: StrategyName, labeled: np.ndarray, *,
              options: StrategyOptions, rng: np.random.Generator) -> np.ndarray:
    if strategy in ("random", "typicality") or (data.probas is None
                                                 and strategy != "diversity"):
        return rng.random(data.n_items)
    if strategy == "uncertainty":
        return local_uncertainty(data, method=options.uncertainty_method)
    if strategy == "committee":
        return committee_scores(data, options=options)
    if strategy == "diversity":
        return diversity_priority(data, labeled)
    return combined_scores(data, options=options)


def rank_pool(data: PoolData, pool: np.ndarray, labeled: np.ndarray, *,
              rng: np.random.Generator, batch_size: int = 20,
              strategy: StrategyName = "default", label_counts: np.ndarray | None = None,
              options: StrategyOptions | None = None,
              cold_start: ColdStartOptions | None = None) -> Ranking:
    """Rank every pool item (see the module docstring).

    ``label_counts``: human labels per class (config order); with it, cold start applies while
    :func:`needs_cold_start` says so. Without a trained model (``data.probas`` is None) the
    model-based strategies also fall back to cold start.
    """
    run = get_strategy(strategy)
    options = options if options is not None else StrategyOptions()
    cold_start = cold_start if cold_start is not None else ColdStartOptions()
    check_embeddings(data.embeddings)
    p, lab = check_pool(pool, labeled, data.n_items)
    n = check_batch_size(batch_size)
    notes: list[str] = []
    cold = strategy not in ("random", "typicality") and (
        (label_counts is not None and needs_cold_start(label_counts, options=cold_start))
        or (data.probas is None and strategy != "diversity"))
    if cold:
        batch, seed_notes = seed_batch(data, p, lab, n, rng=rng, label_counts=label_counts,
                                       options=cold_start)
        notes.extend(seed_notes)
    else:
        batch = run(data, p, lab, n, rng=rng, options=options)
        if strategy == "committee" and data.llm_probas is None:
            notes.append("committee without an LLM: the local model alone (its entropy)")
    rest = np.setdiff1d(p, batch, assume_unique=True)
    priority = _priority(data, strategy, lab, options=options, rng=rng)
    order = np.concatenate([batch, order_by_score(priority, rest, rng=rng)]).astype(np.int64)
    scores = np.arange(order.size, dtype=np.float64) / max(order.size, 1)
    return Ranking(order=order, scores=scores, batch=batch.astype(np.int64),
                   strategy=strategy, phase="cold_start" if cold else "active",
                   notes=tuple(notes))
