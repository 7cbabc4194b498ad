"""The active-learning loop, offline: gold labels play the annotator.

For each strategy and seed, the loop starts with nothing labeled, asks :func:`rank_pool` for a
batch (exactly as the service does, cold start included), "labels" it with the gold labels,
retrains the local model from scratch and scores it on the held-out test set — until the
budget is spent. Everything works on arrays: embeddings are computed once by the caller.

``llm_probas`` (one row per *train* item, NaN rows for failures) makes the LLM a committee
member and the cold-start proxy; its weight follows its agreement with the labels gathered so
far (:func:`~labelloop.selection.committee.agreement_weight`). Without it, the committee
strategy is the local model alone — the result says so in ``notes``.

Span (NER) data runs through :mod:`.span_engine` with a :class:`SpanSimulationConfig` and gives
the same :class:`SimulationResult` (``task="spans"``): its curves carry ``span_f1`` (exact-match
micro span-F1 on the test split), and the labels-to-target figure is measured on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models import LocalModel, fit_local_model, predict, predict_proba
from labelloop.models.distill import DistillOptions, distill_local_model
from labelloop.models.logistic import DEFAULT_C
from labelloop.selection import (
    STRATEGY_NAMES,
    ColdStartOptions,
    PoolData,
    SpanSelectionOptions,
    SpanStrategyName,
    StrategyName,
    StrategyOptions,
    llm_lead,
    member_weight,
    rank_pool,
)

if TYPE_CHECKING:
    from labelloop.simulate.dataset_engine import DatasetSimulationConfig


@dataclass(frozen=True)
class SimulationConfig:
    strategies: tuple[StrategyName, ...] = STRATEGY_NAMES
    batch_size: int = 20
    budget: int = 400
    seeds: int = 5
    C: float = DEFAULT_C
    options: StrategyOptions = field(default_factory=StrategyOptions)
    cold_start: ColdStartOptions = field(default_factory=ColdStartOptions)
    # the retrain's LLM-label distillation (models/distill.py); off: human labels only, as
    # before issue 16 (``labelloop simulate --distill-llm`` and the service default: auto)
    distill: DistillOptions = field(default_factory=lambda: DistillOptions(mode="off"))


TaskKind = Literal["choices", "spans"]


@dataclass(frozen=True)
class SpanSimulationConfig:
    """The loop on span data: ``kind`` is the token model's (``models.tokens``); cold start
    lasts while fewer than ``min_labeled_with_spans`` labeled sentences hold an entity."""

    strategies: tuple[SpanStrategyName, ...] = ("random", "uncertainty", "diversity", "default")
    batch_size: int = 20
    budget: int = 400
    seeds: int = 5
    kind: str = "crf"
    options: SpanSelectionOptions = field(default_factory=SpanSelectionOptions)
    min_labeled_with_spans: int = 5


@dataclass
class Curve:
    """Per seed, per budget point. On span data ``accuracy`` is the token (BIO tag) accuracy,
    ``macro_f1`` the mean per-label span-F1 over the test split's labels, ``span_f1`` the
    exact-match micro span-F1; ``invalid_spans`` counts predicted spans that failed validation
    (over every prediction the loop made: pool and test)."""

    labels: list[int]
    accuracy: list[list[float]] = field(default_factory=list)
    macro_f1: list[list[float]] = field(default_factory=list)
    span_f1: list[list[float]] = field(default_factory=list)
    invalid_spans: int = 0
    picked: list[list[int]] = field(default_factory=list)  # span data: per seed, in label order

    def mean_accuracy(self) -> np.ndarray:
        return np.asarray(self.accuracy).mean(axis=0)

    def mean_span_f1(self) -> np.ndarray:
        return np.asarray(self.span_f1).mean(axis=0)


@dataclass
class SimulationResult:
    n_train: int
    n_test: int
    labels: list[str]
    config: SimulationConfig | SpanSimulationConfig | DatasetSimulationConfig
    full_pool_accuracy: float
    full_pool_macro_f1: float
    curves: dict[str, Curve]
    llm_train_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)
    task: TaskKind = "choices"
    full_pool_span_f1: float | None = None

    @property
    def target_metric(self) -> str:
        """What labels-to-target is measured on: span-F1 on span data, else accuracy."""
        return "span_f1" if self.task == "spans" else "accuracy"

    def full_pool_target(self) -> float:
        if self.task == "spans" and self.full_pool_span_f1 is not None:
            return self.full_pool_span_f1
        return self.full_pool_accuracy

    def mean_curve(self, strategy: str) -> np.ndarray:
        """The strategy's mean (over seeds) of :attr:`target_metric` per budget point."""
        curve = self.curves[strategy]
        return curve.mean_span_f1() if self.task == "spans" else curve.mean_accuracy()

    def labels_to_reach(self, strategy: str, value: float) -> int | None:
        """The first budget point where the strategy's mean target metric is >= ``value``."""
        hit = np.flatnonzero(self.mean_curve(strategy) >= value)
        return int(self.curves[strategy].labels[hit[0]]) if hit.size else None

    def labels_to_target(self, strategy: str, *, fraction: float = 0.95) -> int | None:
        """Labels the strategy needs before its mean accuracy (span-F1 on span data) reaches
        ``fraction`` of the full-pool model's (None: not within the budget)."""
        return self.labels_to_reach(strategy, fraction * self.full_pool_target())


def budget_points(batch_size: int, budget: int) -> list[int]:
    if batch_size < 1 or budget < 1:
        raise InvalidInput("batch_size and budget must be >= 1")
    points = list(range(batch_size, budget + 1, batch_size))
    if not points or points[-1] != budget:
        points.append(budget)
    return points


def score(model: LocalModel, x_test: np.ndarray, y_test: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 (over the whole label set) of a model on the test set."""
    from sklearn.metrics import f1_score

    pred = predict(model, x_test)
    f1 = f1_score(y_test, pred, average="macro", labels=np.arange(model.n_classes),
                  zero_division=0)
    return float((pred == y_test).mean()), float(f1)


def fit_round(x_train: np.ndarray, y_train: np.ndarray, labeled: np.ndarray, *,
              labels: Sequence[str], config: SimulationConfig, llm_probas: np.ndarray | None,
              rng: np.random.Generator) -> LocalModel:
    """The local model after a batch, as the retrain trains it: on the human labels alone, or
    (``config.distill`` on and an LLM given) with the LLM's labels of the rest of the pool when
    cross-validation on the human labels says they help (:mod:`labelloop.models.distill`)."""
    if llm_probas is None or config.distill.mode == "off":
        return fit_local_model(x_train[labeled], y_train[labeled], labels=labels, C=config.C)
    pool = np.setdiff1d(np.arange(x_train.shape[0]), labeled)
    return distill_local_model(x_train[labeled], y_train[labeled], llm_probas[labeled],
                               x_train[pool], llm_probas[pool], labels=labels, rng=rng,
                               options=config.distill, C=config.C).result.model


def run_loop(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             *, labels: Sequence[str], strategy: StrategyName, seed: int,
             config: SimulationConfig, llm_probas: np.ndarray | None = None,
             step: Callable[[], None] | None = None) -> tuple[list[float], list[float]]:
    """One learning curve: accuracy and macro-F1 at each budget point."""
    rng = np.random.default_rng(seed)
    k = len(labels)
    labeled = np.zeros(0, dtype=np.int64)
    pool = np.arange(x_train.shape[0])
    acc: list[float] = []
    f1: list[float] = []
    probas: np.ndarray | None = None
    # what the local model predicted for each item just before its label arrived (NaN: no model)
    model_before = np.full((x_train.shape[0], k), np.nan)
    for point in budget_points(config.batch_size, min(config.budget, pool.size)):
        while labeled.size < point:
            y_lab = y_train[labeled]
            data = PoolData(
                x_train, probas=probas, llm_probas=llm_probas,
                llm_weight=0.5 if llm_probas is None
                else member_weight(llm_probas[labeled], y_lab),
                model_weight=member_weight(model_before[labeled], y_lab),
                llm_lead=0.0 if llm_probas is None
                else llm_lead(llm_probas[labeled], model_before[labeled], y_lab))
            counts = np.bincount(y_train[labeled], minlength=k)
            ranking = rank_pool(data, pool, labeled, rng=rng,
                                batch_size=min(config.batch_size, point - labeled.size),
                                strategy=strategy, label_counts=counts,
                                options=config.options, cold_start=config.cold_start)
            if probas is not None:
                model_before[ranking.batch] = probas[ranking.batch]
            labeled = np.concatenate([labeled, ranking.batch])
            pool = np.setdiff1d(pool, ranking.batch, assume_unique=True)
            model = fit_round(x_train, y_train, labeled, labels=labels, config=config,
                              llm_probas=llm_probas,
                              rng=np.random.default_rng([seed, int(labeled.size)]))
            probas = predict_proba(model, x_train)
        a, f = score(model, x_test, y_test)
        acc.append(a)
        f1.append(f)
        if step is not None:
            step()
    return acc, f1


def run_simulation(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                   y_test: np.ndarray, *, labels: Sequence[str],
                   config: SimulationConfig = SimulationConfig(),
                   llm_probas: np.ndarray | None = None,
                   step: Callable[[], None] | None = None) -> SimulationResult:
    """Every strategy × seed (see the module docstring). ``step`` is called per budget point
    (for a progress bar: ``len(strategies) * seeds * len(budget_points)`` calls)."""
    if x_train.shape[0] != y_train.shape[0] or x_test.shape[0] != y_test.shape[0]:
        raise InvalidInput("embeddings and labels must have the same number of rows")
    if llm_probas is not None and llm_probas.shape != (x_train.shape[0], len(labels)):
        raise InvalidInput(f"llm_probas must have shape ({x_train.shape[0]}, {len(labels)})")
    unknown = [s for s in config.strategies if s not in STRATEGY_NAMES]
    if unknown:
        raise InvalidInput(f"unknown strategies {unknown}; choose from {list(STRATEGY_NAMES)}")
    full = fit_local_model(x_train, y_train, labels=labels, C=config.C)
    full_acc, full_f1 = score(full, x_test, y_test)
    points = budget_points(config.batch_size, min(config.budget, x_train.shape[0]))
    curves: dict[str, Curve] = {}
    for strategy in config.strategies:
        curve = Curve(labels=points)
        for seed in range(config.seeds):
            a, f = run_loop(x_train, y_train, x_test, y_test, labels=labels, strategy=strategy,
                            seed=seed, config=config, llm_probas=llm_probas, step=step)
            curve.accuracy.append(a)
            curve.macro_f1.append(f)
        curves[strategy] = curve
    notes: list[str] = []
    llm_acc = None
    if llm_probas is None:
        if "committee" in config.strategies:
            notes.append("no LLM: the committee strategy used the local model alone (entropy)")
    else:
        ok = ~np.isnan(llm_probas).any(axis=1)
        llm_acc = float((np.argmax(llm_probas[ok], axis=1) == y_train[ok]).mean()) \
            if ok.any() else None
        if config.distill.mode != "off":
            notes.append("the local model learned from the LLM's labels of the pool where "
                         "cross-validation on the labels gathered said they help")
    return SimulationResult(n_train=int(x_train.shape[0]), n_test=int(x_test.shape[0]),
                            labels=list(labels), config=config, full_pool_accuracy=full_acc,
                            full_pool_macro_f1=full_f1, curves=curves,
                            llm_train_accuracy=llm_acc, notes=notes)
