"""Active-learning selection: measures, strategies, cold start and the pool ranking.

Measures score items and pick nothing (:mod:`.uncertainty`, :mod:`.committee`,
:mod:`.diversity`); :func:`select_top` is the one generic step from scores to a batch;
strategies (:mod:`.strategies`) combine them behind one signature; :func:`rank_pool` orders the
whole pool for Label Studio's queue; :mod:`.spans` does the same for span (NER) tasks
(:func:`rank_span_pool`); :mod:`.dataset` ranks for the dataset's errors instead of the model
(:func:`rank_for_errors`, :func:`choose_objective`). Indices are always positions in the
arrays passed in.
"""

from labelloop.selection.cold_start import ColdStartOptions, cold_start_batch, needs_cold_start
from labelloop.selection.committee import (
    agreement_weight,
    consensus,
    js_divergence,
    llm_lead,
    member_weight,
    vote_entropy,
)
from labelloop.selection.dataset import (
    QUEUE_OBJECTIVES,
    ObjectiveChoice,
    QueueObjective,
    choose_objective,
    expected_errors,
    rank_for_errors,
)
from labelloop.selection.diversity import k_center_greedy, kmeans_representatives
from labelloop.selection.errors import (
    InvalidArgumentType,
    InvalidBatchSize,
    InvalidEmbeddings,
    InvalidIndices,
    InvalidProbabilities,
    InvalidWeights,
    SelectionInputError,
)
from labelloop.selection.ranking import Ranking, rank_pool
from labelloop.selection.select import order_by_score, select_top
from labelloop.selection.spans import (
    SPAN_STRATEGY_NAMES,
    SpanSelectionOptions,
    SpanStrategyName,
    llm_span_proxy,
    needs_span_cold_start,
    rank_span_pool,
    span_disagreement,
)
from labelloop.selection.strategies import (
    STRATEGIES,
    STRATEGY_NAMES,
    PoolData,
    StrategyName,
    StrategyOptions,
    get_strategy,
)
from labelloop.selection.uncertainty import (
    UncertaintyMethod,
    multilabel_uncertainty_scores,
    uncertainty_scores,
)

__all__ = [
    "QUEUE_OBJECTIVES", "SPAN_STRATEGY_NAMES", "STRATEGIES", "STRATEGY_NAMES", "ColdStartOptions",
    "InvalidArgumentType", "InvalidBatchSize", "InvalidEmbeddings", "InvalidIndices",
    "InvalidProbabilities", "InvalidWeights", "ObjectiveChoice", "PoolData", "QueueObjective",
    "Ranking", "SelectionInputError", "SpanSelectionOptions", "SpanStrategyName", "StrategyName",
    "StrategyOptions", "UncertaintyMethod", "agreement_weight", "choose_objective",
    "cold_start_batch", "consensus", "expected_errors", "get_strategy", "js_divergence",
    "k_center_greedy", "kmeans_representatives", "llm_lead", "llm_span_proxy", "member_weight",
    "multilabel_uncertainty_scores", "needs_cold_start", "needs_span_cold_start", "order_by_score",
    "rank_for_errors", "rank_pool", "rank_span_pool", "select_top", "span_disagreement",
    "uncertainty_scores", "vote_entropy",
]
