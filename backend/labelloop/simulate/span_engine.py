"""The active-learning loop on span (NER) data, offline: gold spans play the annotator.

For each strategy and seed the loop starts with nothing labeled, asks
:func:`~labelloop.selection.rank_span_pool` for a batch (cold start while fewer than
``min_labeled_with_spans`` labeled sentences hold an entity), "labels" it with the gold spans,
refits the token model (:func:`~labelloop.models.tokens.fit_token_model`) on the labeled
sentences and scores it on the test split: exact-match micro span-F1, token (BIO tag) accuracy
and the macro span-F1 over the labels the test split uses. Sentence embeddings (diversity, cold
start, the batch's k-means guard) are computed once by the caller.

``llm_spans`` (per *train* sentence, None where the LLM gave no answer) adds the LLM: its
disagreement with the token model, weighted by its measured span-F1 against the gold spans
labeled so far, and its spans as the cold-start proxy.

Every span the token model predicts (pool and test) is checked against its text; the count of
invalid ones is kept per strategy (it must stay 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.agreement.spans import span_prf, span_prf_per_label
from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span, span_problem
from labelloop.models.token_text import spans_to_bio, tokenize
from labelloop.models.tokens import TokenModel, TokenPrediction, fit_token_model
from labelloop.selection import (
    SPAN_STRATEGY_NAMES,
    llm_span_proxy,
    needs_span_cold_start,
    rank_span_pool,
    span_disagreement,
)
from labelloop.simulate.engine import Curve, SimulationResult, SpanSimulationConfig, budget_points

SpanSets = Sequence[Sequence[Span]]
_NEEDS_POOL_PREDICTIONS = ("uncertainty", "disagreement", "default")


@dataclass(frozen=True)
class SpanScores:
    span_f1: float  # exact-match micro span-F1
    token_accuracy: float  # BIO tags on the tokenizer's tokens
    macro_f1: float  # mean per-label span-F1 over the labels in ``gold``


def count_invalid(texts: Sequence[str], predictions: Sequence[TokenPrediction], *,
                  labels: Sequence[str]) -> int:
    """Predicted spans that could not be sent to Label Studio (out of range, unknown label,
    repeated)."""
    bad = 0
    for text, p in zip(texts, predictions, strict=True):
        bad += sum(span_problem(text, s, labels=labels) is not None for s in p.spans)
        bad += len(p.spans) - len(set(p.spans))
    return bad


def score_spans(texts: Sequence[str], gold: SpanSets, pred: SpanSets) -> SpanScores:
    """The test-split figures of one model (see :class:`SpanScores`)."""
    micro = span_prf(gold, pred).f1
    per_label = span_prf_per_label(gold, pred,
                                   labels=sorted({s.label for g in gold for s in g}))
    macro = float(np.mean([r.f1 for r in per_label.values()])) if per_label else micro
    right = total = 0
    for text, g, p in zip(texts, gold, pred, strict=True):
        tokens = tokenize(text)
        a, b = spans_to_bio(tokens, g).tags, spans_to_bio(tokens, p).tags
        right += sum(x == y for x, y in zip(a, b))
        total += len(tokens)
    return SpanScores(micro, right / total if total else 1.0, macro)


def llm_trust(llm_spans: Sequence[Sequence[Span] | None], gold: SpanSets,
              labeled: np.ndarray) -> float:
    """The LLM's exact span-F1 against the gold spans of the labeled sentences it answered
    (0.5 before there is one)."""
    answered = [int(i) for i in labeled if llm_spans[int(i)] is not None]
    if not answered:
        return 0.5
    return span_prf([gold[i] for i in answered],
                    [llm_spans[i] or () for i in answered]).f1


@dataclass
class LoopFigures:
    span_f1: list[float]
    accuracy: list[float]
    macro_f1: list[float]
    invalid_spans: int
    picked: list[int]  # train positions in the order they were labeled


def run_span_loop(texts: Sequence[str], spans: SpanSets, test_texts: Sequence[str],
                  test_spans: SpanSets, embeddings: np.ndarray, *, labels: Sequence[str],
                  strategy: str, seed: int, config: SpanSimulationConfig,
                  llm_spans: Sequence[Sequence[Span] | None] | None = None,
                  embedder: object | None = None,
                  step: Callable[[], None] | None = None) -> LoopFigures:
    """One learning curve: the test figures at each budget point."""
    if strategy not in SPAN_STRATEGY_NAMES:
        raise InvalidInput(f"unknown span strategy {strategy!r}; choose from "
                           f"{list(SPAN_STRATEGY_NAMES)}")
    rng = np.random.default_rng(seed)
    n = len(texts)
    labeled = np.zeros(0, dtype=np.int64)
    pool = np.arange(n)
    proxy = None if llm_spans is None else llm_span_proxy(llm_spans, labels)
    uncertainty: np.ndarray | None = None
    model_spans: list[tuple[Span, ...]] = [() for _ in range(n)]
    out = LoopFigures([], [], [], 0, [])
    model: TokenModel | None = None
    for point in budget_points(config.batch_size, min(config.budget, n)):
        while labeled.size < point:
            with_spans = sum(bool(spans[int(i)]) for i in labeled)
            disagreement = None
            if llm_spans is not None and uncertainty is not None:
                disagreement = span_disagreement(llm_spans, model_spans,
                                                 trust=llm_trust(llm_spans, spans, labeled))
            ranking = rank_span_pool(
                embeddings, pool, labeled, uncertainty=uncertainty, disagreement=disagreement,
                rng=rng, batch_size=min(config.batch_size, point - labeled.size),
                strategy=strategy,
                cold=needs_span_cold_start(with_spans,
                                           min_labeled=config.min_labeled_with_spans),
                proxy=proxy, options=config.options)
            labeled = np.concatenate([labeled, ranking.batch])
            pool = np.setdiff1d(pool, ranking.batch, assume_unique=True)
            chosen = labeled.tolist()
            model = fit_token_model([texts[i] for i in chosen], [spans[i] for i in chosen],
                                    labels=labels, rng=rng, kind=config.kind,
                                    embedder=embedder)
            if strategy in _NEEDS_POOL_PREDICTIONS and pool.size:
                pool_texts = [texts[i] for i in pool.tolist()]
                preds = model.predict(pool_texts)
                out.invalid_spans += count_invalid(pool_texts, preds, labels=labels)
                uncertainty = np.zeros(n)
                uncertainty[pool] = [p.uncertainty for p in preds]
                for i, p in zip(pool, preds):
                    model_spans[int(i)] = p.spans
        if model is None:  # budget_points never gives 0 labels; kept for the type checker
            raise InvalidInput("no model was trained")
        test_preds = model.predict(list(test_texts))
        out.invalid_spans += count_invalid(test_texts, test_preds, labels=labels)
        s = score_spans(test_texts, test_spans, [p.spans for p in test_preds])
        out.span_f1.append(s.span_f1)
        out.accuracy.append(s.token_accuracy)
        out.macro_f1.append(s.macro_f1)
        if step is not None:
            step()
    out.picked = labeled.tolist()
    return out


def run_span_simulation(texts: Sequence[str], spans: SpanSets, test_texts: Sequence[str],
                        test_spans: SpanSets, embeddings: np.ndarray, *,
                        labels: Sequence[str],
                        config: SpanSimulationConfig | None = None,
                        llm_spans: Sequence[Sequence[Span] | None] | None = None,
                        embedder: object | None = None,
                        step: Callable[[], None] | None = None) -> SimulationResult:
    """Every strategy x seed on span data. ``step`` is called per budget point."""
    config = config if config is not None else SpanSimulationConfig()
    if len(texts) != len(spans) or len(test_texts) != len(test_spans):
        raise InvalidInput("texts and spans must have the same number of rows")
    if embeddings.shape[0] != len(texts):
        raise InvalidInput(f"embeddings have {embeddings.shape[0]} rows for {len(texts)} texts")
    if llm_spans is not None and len(llm_spans) != len(texts):
        raise InvalidInput("llm_spans needs one entry (or None) per train text")
    unknown = [s for s in config.strategies if s not in SPAN_STRATEGY_NAMES]
    if unknown:
        raise InvalidInput(f"unknown span strategies {unknown}; choose from "
                           f"{list(SPAN_STRATEGY_NAMES)}")
    full = fit_token_model(texts, spans, labels=labels, rng=np.random.default_rng(0),
                           kind=config.kind, embedder=embedder)
    full_preds = full.predict(list(test_texts))
    invalid_full = count_invalid(test_texts, full_preds, labels=labels)
    full_scores = score_spans(test_texts, test_spans, [p.spans for p in full_preds])
    points = budget_points(config.batch_size, min(config.budget, len(texts)))
    curves: dict[str, Curve] = {}
    for strategy in config.strategies:
        curve = Curve(labels=points)
        for seed in range(config.seeds):
            f = run_span_loop(texts, spans, test_texts, test_spans, embeddings, labels=labels,
                              strategy=strategy, seed=seed, config=config, llm_spans=llm_spans,
                              embedder=embedder, step=step)
            curve.span_f1.append(f.span_f1)
            curve.accuracy.append(f.accuracy)
            curve.macro_f1.append(f.macro_f1)
            curve.invalid_spans += f.invalid_spans
            curve.picked.append(f.picked)
        curves[strategy] = curve
    notes = [(f"span data: token model {config.kind!r}; accuracy = token (BIO tag) accuracy, "
              "macro_f1 = mean per-label span-F1; labels_to_95pct is measured on span-F1")]
    if invalid_full:
        notes.append(f"the full-pool model predicted {invalid_full} invalid spans")
    llm_f1 = None
    if llm_spans is not None:
        llm_f1 = llm_trust(llm_spans, spans, np.arange(len(texts)))
        notes.append(f"LLM spans: exact span-F1 {llm_f1:.3f} on the train split")
    elif "disagreement" in config.strategies:
        notes.append("no LLM spans: the disagreement strategy used the token model's "
                     "uncertainty alone")
    return SimulationResult(
        n_train=len(texts), n_test=len(test_texts), labels=list(labels), config=config,
        full_pool_accuracy=full_scores.token_accuracy, full_pool_macro_f1=full_scores.macro_f1,
        curves=curves, llm_train_accuracy=llm_f1, notes=notes, task="spans",
        full_pool_span_f1=full_scores.span_f1)
