"""Selection for span (NER) tasks: what to label next when a task's label is a set of spans.

Measures first, then one ranking step, as for classification (:mod:`.strategies`):

* :func:`span_disagreement` — per task, ``trust * (1 - exact span-F1)`` between the LLM's spans
  and the token model's; 0 where the LLM gave no answer, and 0 when both found nothing (they
  agree). ``trust`` is how far the LLM's spans are believed (e.g. its measured span-F1 against
  human spans), so an LLM that is usually wrong cannot drive the queue.
* per-task uncertainty comes from the token model
  (:attr:`~labelloop.models.tokens.TokenPrediction.uncertainty`, in ``[0, 1]``); this module
  takes it as an array and never sees a model.
* :func:`llm_span_proxy` — the LLM's spans as a stand-in label distribution for cold start
  (column 0 = "no entity", then one column per label: the share of the task's spans with it).
* :func:`rank_span_pool` — a full ranking of the pool (a :class:`~.ranking.Ranking`, the type
  the queue publishing reads), batch first.

Strategies (``strategy``):

* ``random`` — uniform; the baseline.
* ``uncertainty`` — the token model's uncertainty.
* ``disagreement`` — :func:`span_disagreement` (uncertainty when there is no LLM).
* ``diversity`` — core-set k-center greedy on sentence embeddings away from the labeled tasks.
* ``default`` — ``(1 - s) * uncertainty + s * disagreement`` (uncertainty alone without LLM
  spans), a shortlist of ``shortlist_factor * batch_size`` by it, then one task per k-means
  cluster of the shortlist (the best-scoring one), so a batch holds no near-duplicates.

Cold start (``cold=True``, or no uncertainty yet for a strategy that needs it): the batch is
representatives of embedding clusters (:func:`~.cold_start.cold_start_batch`), balanced over the
LLM's entity types when a ``proxy`` (:func:`llm_span_proxy`) is given. Indices are positions in
the arrays passed in; randomness comes only from ``rng``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.agreement.spans import span_prf
from labelloop.labelconfig.spans import Span
from labelloop.selection.cold_start import cold_start_batch
from labelloop.selection.diversity import k_center_greedy, kmeans_representatives, min_sq_distances
from labelloop.selection.errors import InvalidProbabilities, InvalidWeights, SelectionInputError
from labelloop.selection.ranking import Ranking
from labelloop.selection.select import order_by_score, select_top
from labelloop.selection.validation import check_batch_size, check_embeddings, check_pool

SpanStrategyName = Literal["default", "uncertainty", "disagreement", "diversity", "random"]
SPAN_STRATEGY_NAMES: tuple[SpanStrategyName, ...] = (
    "random", "uncertainty", "disagreement", "diversity", "default")


@dataclass(frozen=True)
class SpanSelectionOptions:
    disagreement_share: float = 0.5  # default strategy: weight of disagreement next to uncertainty
    shortlist_factor: int = 3  # default strategy: shortlist = this many batches, then k-means
    max_candidates: int = 20_000  # diversity: k-center over a random sample this large


def span_disagreement(llm: Sequence[Sequence[Span] | None], model: Sequence[Sequence[Span]], *,
                      trust: float = 1.0) -> np.ndarray:
    """Per task ``trust * (1 - F1)``, F1 the exact-match span-F1 between the LLM's spans and
    the model's (two empty sets agree: 0); 0.0 where ``llm[i]`` is None (no LLM answer)."""
    if len(llm) != len(model):
        raise SelectionInputError(f"llm and model need one span set per task; got {len(llm)} "
                                  f"and {len(model)}")
    if not np.isfinite(trust) or not 0.0 <= trust <= 1.0:
        raise InvalidWeights(f"trust must be in [0, 1], got {trust}")
    out = np.zeros(len(llm), dtype=np.float64)
    for i, (a, b) in enumerate(zip(llm, model)):
        if a is not None:
            out[i] = trust * (1.0 - span_prf([a], [b]).f1)
    return out


def llm_span_proxy(llm: Sequence[Sequence[Span] | None], labels: Sequence[str]) -> np.ndarray:
    """``(n_tasks, 1 + len(labels))``: column 0 is 1 for a task the LLM found no entity in;
    otherwise each label's share of the task's spans. NaN rows where the LLM gave no answer."""
    index = {label: k + 1 for k, label in enumerate(labels)}
    out = np.full((len(llm), len(labels) + 1), np.nan)
    for i, spans in enumerate(llm):
        if spans is None:
            continue
        row = np.zeros(len(labels) + 1)
        for s in spans:
            if s.label in index:
                row[index[s.label]] += 1.0
        if row.sum() == 0:
            row[0] = 1.0
        out[i] = row / row.sum()
    return out


def needs_span_cold_start(n_labeled_with_spans: int, *, min_labeled: int = 5) -> bool:
    """True while fewer than ``min_labeled`` labeled tasks hold at least one span: a token
    model that has seen (almost) no entity has no useful uncertainty yet."""
    if n_labeled_with_spans < 0 or min_labeled < 0:
        raise SelectionInputError("n_labeled_with_spans and min_labeled must be >= 0")
    return n_labeled_with_spans < min_labeled


def _check_scores(scores: np.ndarray | None, n_items: int, *, name: str) -> np.ndarray | None:
    if scores is None:
        return None
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (n_items,) or not np.isfinite(s).all() or (s < 0).any() or (s > 1).any():
        raise InvalidProbabilities(f"{name} must be {n_items} finite values in [0, 1]")
    return s


def _priority(strategy: SpanStrategyName, e: np.ndarray, lab: np.ndarray,
              u: np.ndarray | None, d: np.ndarray | None, *, share: float,
              rng: np.random.Generator) -> np.ndarray:
    """Per task, higher = label sooner (what orders the pool after the batch)."""
    if strategy == "diversity":
        dist = min_sq_distances(e, e[lab])
        return np.where(np.isinf(dist), 0.0, dist).astype(np.float64)
    if strategy == "disagreement" and d is not None:
        return d
    if strategy == "random" or u is None:
        return rng.random(e.shape[0])
    if strategy == "default" and d is not None:
        return (1.0 - share) * u + share * d
    return u


def rank_span_pool(embeddings: np.ndarray, pool: np.ndarray, labeled: np.ndarray, *,
                   uncertainty: np.ndarray | None, disagreement: np.ndarray | None,
                   rng: np.random.Generator, batch_size: int = 20,
                   strategy: SpanStrategyName = "default", cold: bool = False,
                   proxy: np.ndarray | None = None,
                   options: SpanSelectionOptions | None = None) -> Ranking:
    """Rank every pool task (see the module docstring).

    ``embeddings`` ``(n_items, dim)``: sentence embeddings of all tasks; ``uncertainty`` and
    ``disagreement``: one value in ``[0, 1]`` per task (None: not available); ``proxy``: the
    cold-start stand-in labels (:func:`llm_span_proxy`). ``order`` is a permutation of ``pool``
    whose first ``len(batch)`` entries are the batch.
    """
    if strategy not in SPAN_STRATEGY_NAMES:
        raise SelectionInputError(f"unknown span strategy {strategy!r}; choose from "
                                  f"{', '.join(SPAN_STRATEGY_NAMES)}")
    opts = options if options is not None else SpanSelectionOptions()
    if not 0.0 <= opts.disagreement_share <= 1.0 or opts.shortlist_factor < 1:
        raise SelectionInputError("disagreement_share must be in [0, 1], shortlist_factor >= 1")
    e = check_embeddings(embeddings)
    p, lab = check_pool(pool, labeled, e.shape[0])
    n = check_batch_size(batch_size)
    u = _check_scores(uncertainty, e.shape[0], name="uncertainty")
    d = _check_scores(disagreement, e.shape[0], name="disagreement")
    notes: list[str] = []
    needed = d if strategy == "disagreement" and d is not None else u
    is_cold = strategy not in ("random", "diversity") and (cold or needed is None)
    score = _priority(strategy, e, lab, u, d, share=opts.disagreement_share, rng=rng)
    if strategy == "disagreement" and d is None:
        notes.append("disagreement without LLM spans: the token model's uncertainty alone")
    if is_cold:
        batch = cold_start_batch(e, p, lab, n, rng=rng, proxy_probas=proxy)
        if proxy is None:
            notes.append("cold start without LLM spans: cluster representatives only")
    elif strategy == "random":
        batch = rng.permutation(p)[:n]
    elif strategy == "diversity":
        cand = p if p.size <= opts.max_candidates else \
            np.sort(rng.choice(p, size=opts.max_candidates, replace=False))
        batch = k_center_greedy(e, cand, n, rng=rng, centers=lab) if cand.size else cand
    elif strategy == "default":
        shortlist = select_top(score, p, max(n, opts.shortlist_factor * n), rng=rng)
        if shortlist.size <= n:
            batch = shortlist
        else:
            picked = kmeans_representatives(e, shortlist, n, rng=rng, scores=score[shortlist])
            batch = picked[np.lexsort((picked, -score[picked]))]
    else:
        batch = select_top(score, p, n, rng=rng)
    batch = np.asarray(batch, dtype=np.int64)
    rest = np.setdiff1d(p, batch, assume_unique=True)
    order = np.concatenate([batch, order_by_score(score, rest, rng=rng)]).astype(np.int64)
    scores = np.arange(order.size, dtype=np.float64) / max(order.size, 1)
    return Ranking(order=order, scores=scores, batch=batch, strategy=strategy,
                   phase="cold_start" if is_cold else "active", notes=tuple(notes))
