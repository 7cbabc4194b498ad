"""``simulate --objective dataset``: how accurate the exported dataset gets per human label.

For each strategy and seed the pool is the train split and gold labels play the reviewers. Humans
review in batches; besides each strategy's picks, a uniform audit share of the reviews
(``audit_fraction``, 5 % as in the product's queue) is drawn at random. After every batch the
local model is retrained on every reviewed task. At each budget point (a fraction of the pool)
the pool's dataset is what the product would export (:func:`labelloop.quality.dataset_labels.
class_labels`): the gold label where reviewed, elsewhere the best machine label of
:func:`labelloop.quality.best_label.best_labels` over the LLM's probabilities and the local
model's (for reviewed tasks, the model's probabilities from before their label arrived), the
audited tasks held out of its fit. Measured there:

- ``dataset_accuracy``: the dataset against the gold labels, over the whole pool;
- ``estimated_accuracy`` and ``estimated_interval``: the product's own estimate and 95 % interval
  (:func:`labelloop.quality.dataset_card.class_accuracy`: the audit where one exists, else the
  mean ``p_correct``), so that its coverage of the true figure can be counted; beside it
  ``difference_accuracy``/``difference_interval``, ``p_correct`` corrected by the audit
  (:mod:`.difference_estimate`), which stays unbiased where review targets machine errors.

Strategies: ``random``; ``llm_confidence`` (least-confident LLM labels first); ``model`` (the
model-improvement queue, :func:`labelloop.selection.rank_pool` strategy ``default``); ``dataset``
(:func:`labelloop.selection.rank_for_errors` over the current ``p_correct``); ``default``
(what the product's default queue objective does: :func:`labelloop.selection.choose_objective`
with ``default_objective``, ``auto`` unless set; the slope it reads is the cross-validated
accuracy of each retrain, as the product's lineage stores it, and ``n_machine`` the unreviewed
tasks whose label the local model decides, :func:`model_decided`). The test split still scores the
local model at each point, so the result keeps the learning-curve keys.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models import fit_local_model, predict_proba
from labelloop.models.logistic import DEFAULT_C
from labelloop.models.training import train_local_model
from labelloop.quality.dataset_card import class_accuracy
from labelloop.quality.dataset_labels import ClassArrays, ClassLabels, class_labels, machine_labels
from labelloop.quality.stopping import RetrainPoint, recent_slope
from labelloop.selection import (
    PoolData,
    QueueObjective,
    choose_objective,
    expected_errors,
    llm_lead,
    member_weight,
    rank_for_errors,
    rank_pool,
)
from labelloop.simulate.difference_estimate import difference_estimate
from labelloop.simulate.engine import Curve, SimulationResult, score

DatasetStrategy = Literal["random", "llm_confidence", "model", "dataset", "default"]
DATASET_STRATEGIES: tuple[DatasetStrategy, ...] = (
    "random", "llm_confidence", "model", "dataset", "default")


@dataclass(frozen=True)
class DatasetSimulationConfig:
    """``fractions``: budget points as shares of the pool; ``budget``: the last point in labels
    (filled in by :func:`run_dataset_simulation`)."""

    strategies: tuple[DatasetStrategy, ...] = DATASET_STRATEGIES
    fractions: tuple[float, ...] = (0.05, 0.10, 0.20, 0.30)
    batch_size: int = 50
    seeds: int = 5
    audit_fraction: float = 0.05
    default_objective: QueueObjective = "auto"
    shortlist: int = 3  # rank_for_errors: the batch's diversity shortlist (1 = none)
    C: float = DEFAULT_C
    budget: int = 0


@dataclass
class DatasetCurve(Curve):
    """Per seed, per budget point (``labels``: human labels spent there)."""

    dataset_accuracy: list[list[float]] = field(default_factory=list)
    estimated_accuracy: list[list[float]] = field(default_factory=list)
    estimated_interval: list[list[list[float]]] = field(default_factory=list)
    difference_accuracy: list[list[float]] = field(default_factory=list)  # .difference_estimate
    difference_interval: list[list[list[float]]] = field(default_factory=list)
    dataset_batches: list[int] = field(default_factory=list)  # per seed: batches on errors
    batches: list[int] = field(default_factory=list)  # per seed: batches reviewed

    def coverage(self, *, difference: bool = False) -> float:
        """Share of (seed, point) where the 95 % interval (the product's, or the difference
        estimator's) holds the true dataset accuracy."""
        intervals = self.difference_interval if difference else self.estimated_interval
        hits = [lo - 1e-12 <= a <= hi + 1e-12 for acc, iv in zip(
            self.dataset_accuracy, intervals) for a, (lo, hi) in zip(acc, iv)]
        return float(np.mean(hits)) if hits else float("nan")


def fraction_points(n: int, fractions: Sequence[float]) -> list[int]:
    """Budget points in labels: ``round(f * n)`` per fraction, at least 1, increasing."""
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise InvalidInput("budget fractions must be in (0, 1]")
    return sorted({max(1, round(f * n)) for f in fractions})


def _member(probas: np.ndarray | None, n: int, k: int) -> tuple[np.ndarray, ...]:
    p = np.full((n, k), np.nan) if probas is None else probas
    ok = ~np.isnan(p).any(axis=1)
    label = np.where(ok, np.nan_to_num(p).argmax(axis=1), -1).astype(np.int64)
    conf = np.where(ok, np.nan_to_num(p).max(axis=1), np.nan)
    return label, conf, p


def dataset_state(y: np.ndarray, reviewed: np.ndarray, audit: np.ndarray,
                  llm_probas: np.ndarray | None, model_probas: np.ndarray | None, *,
                  labels: Sequence[str], rng: np.random.Generator,
                  ) -> tuple[ClassArrays, ClassLabels]:
    """The product's arrays of the pool (gold where reviewed) and its dataset labels."""
    n, k = y.size, len(labels)
    human = np.where(reviewed, y, -1).astype(np.int64)
    ones = reviewed.astype(np.int64)
    llm, llm_conf, llm_p = _member(llm_probas, n, k)
    model, model_conf, model_p = _member(model_probas, n, k)
    a = ClassArrays(np.arange(n, dtype=np.int64), tuple((c,) for c in labels), False, human,
                    ones, ones, audit & reviewed, llm, llm_conf, llm_p, model, model_conf,
                    model_p)
    return a, class_labels(a, rng=rng)


@dataclass
class _State:
    reviewed: np.ndarray
    audit: np.ndarray
    before: np.ndarray  # model probabilities just before each task's label arrived
    probas: np.ndarray | None = None
    history: list[RetrainPoint] = field(default_factory=list)
    dataset_batches: int = 0
    batches: int = 0

    def stack_probas(self) -> np.ndarray | None:
        if self.probas is None:
            return None
        return np.where(self.reviewed[:, None], self.before, self.probas)


def _by_llm_confidence(cand: np.ndarray, llm: np.ndarray | None) -> np.ndarray:
    if llm is None:
        return cand
    conf = np.where(np.isnan(llm).any(axis=1), -1.0, np.nan_to_num(llm).max(axis=1))
    return cand[np.lexsort((cand, conf[cand]))]


def model_decided(labels: np.ndarray, reviewed: np.ndarray, llm: np.ndarray | None) -> int:
    """Unreviewed tasks whose dataset label the local model decides: the LLM gave none, or the
    combination overrode the LLM's label (the ``n_machine`` the auto rule weighs)."""
    if llm is None:
        return int((~reviewed).sum())
    answered = ~np.isnan(llm).any(axis=1)
    llm_label = np.where(answered, np.nan_to_num(llm).argmax(axis=1), -1)
    return int(((labels != llm_label) & ~reviewed).sum())


def _pick(strategy: DatasetStrategy, x: np.ndarray, y: np.ndarray, cand: np.ndarray, m: int,
          s: _State, *, labels: Sequence[str], llm: np.ndarray | None,
          config: DatasetSimulationConfig, rng: np.random.Generator) -> np.ndarray:
    if strategy == "random":
        return rng.choice(cand, size=m, replace=False)
    if strategy == "llm_confidence":
        return _by_llm_confidence(cand, llm)[:m]
    done = np.flatnonzero(s.reviewed)
    if strategy in ("dataset", "default"):
        _, lab = dataset_state(y, s.reviewed, s.audit, llm, s.stack_probas(), labels=labels,
                               rng=rng)
        errors_first = rank_for_errors(x, cand, lab.p_correct, batch_size=m, rng=rng,
                                       shortlist=config.shortlist)[:m]
        if strategy == "dataset":
            return errors_first
        slope, _ = recent_slope(s.history, window=4)
        choice = choose_objective(config.default_objective, slope=slope,
                                  n_machine=model_decided(lab.label, s.reviewed, llm),
                                  batch_errors=expected_errors(lab.p_correct)[errors_first])
        if choice.objective == "dataset":
            s.dataset_batches += 1
            return errors_first
    y_done = y[done]
    data = PoolData(
        x, probas=s.probas, llm_probas=llm,
        llm_weight=0.5 if llm is None else member_weight(llm[done], y_done),
        model_weight=member_weight(s.before[done], y_done),
        llm_lead=0.0 if llm is None else llm_lead(llm[done], s.before[done], y_done))
    return rank_pool(data, cand, done, rng=rng, batch_size=m, strategy="default",
                     label_counts=np.bincount(y_done, minlength=len(labels))).batch


def run_dataset_loop(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                     labels: Sequence[str], strategy: DatasetStrategy, seed: int,
                     config: DatasetSimulationConfig, llm_probas: np.ndarray | None,
                     step: Callable[[], None] | None = None) -> DatasetCurve:
    """One strategy, one seed: the curve of a single seed (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n, k = y.size, len(labels)
    points = fraction_points(n, config.fractions)
    s = _State(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.full((n, k), np.nan))
    out = DatasetCurve(labels=points)
    row: dict[str, list[float]] = {"acc": [], "f1": [], "data": [], "est": [], "diff": []}
    intervals: list[list[float]] = []
    diff_intervals: list[list[float]] = []
    model = None
    for point in points:
        while int(s.reviewed.sum()) < point:
            done = int(s.reviewed.sum())
            b = min(config.batch_size, point - done)
            free = np.flatnonzero(~s.reviewed)
            n_audit = int(np.clip(round(config.audit_fraction * (done + b)) - s.audit.sum(),
                                  0, b))
            drawn = rng.choice(free, size=n_audit, replace=False)
            cand = np.setdiff1d(free, drawn, assume_unique=True)
            picked = _pick(strategy, x, y, cand, b - n_audit, s, labels=labels, llm=llm_probas,
                           config=config, rng=rng) if b > n_audit else drawn[:0]
            batch = np.concatenate([picked, drawn]).astype(np.int64)
            s.batches += 1
            if s.probas is not None:
                s.before[batch] = s.probas[batch]
            s.reviewed[batch] = True
            s.audit[drawn] = True
            idx = np.flatnonzero(s.reviewed)
            if strategy == "default":
                trained = train_local_model(x[idx], y[idx], labels=labels, C=config.C,
                                            cv_folds=3, calibrate=False, seed=seed)
                model = trained.model
                if trained.metrics is not None:
                    s.history.append(RetrainPoint(str(s.batches), idx.size,
                                                  trained.metrics.accuracy))
            else:
                model = fit_local_model(x[idx], y[idx], labels=labels, C=config.C)
            s.probas = predict_proba(model, x)
        twin = copy.deepcopy(rng)  # the same fit again, for the audited tasks' p_correct
        a, lab = dataset_state(y, s.reviewed, s.audit, llm_probas, s.stack_probas(),
                               labels=labels, rng=rng)
        overall = class_accuracy(a, lab)["overall"]
        m = machine_labels(a, rng=twin)
        aud = a.audit & (m.machine >= 0)
        diff = difference_estimate(m.machine[aud] == y[aud], m.p_correct[aud],
                                   lab.p_correct[~s.reviewed], n_human=int(s.reviewed.sum()))
        diff = diff or (overall["accuracy"], overall["low"], overall["high"])
        row["diff"].append(float(diff[0]))
        diff_intervals.append([float(diff[1]), float(diff[2])])
        acc, f1 = score(model, x_test, y_test) if model is not None else (np.nan, np.nan)
        row["acc"].append(acc)
        row["f1"].append(f1)
        row["data"].append(float(np.mean(lab.label == y)))
        row["est"].append(float(overall["accuracy"]))
        intervals.append([float(overall["low"]), float(overall["high"])])
        if step is not None:
            step()
    out.accuracy, out.macro_f1 = [row["acc"]], [row["f1"]]
    out.dataset_accuracy, out.estimated_accuracy = [row["data"]], [row["est"]]
    out.estimated_interval = [intervals]
    out.difference_accuracy, out.difference_interval = [row["diff"]], [diff_intervals]
    out.dataset_batches, out.batches = [s.dataset_batches], [s.batches]
    return out


def run_dataset_simulation(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                           *, labels: Sequence[str], llm_probas: np.ndarray,
                           config: DatasetSimulationConfig = DatasetSimulationConfig(),
                           step: Callable[[], None] | None = None) -> SimulationResult:
    """Every strategy × seed; ``step`` is called per budget point. Needs the LLM's
    probabilities on the pool (NaN rows where it gave none)."""
    n, k = y.size, len(labels)
    if x.shape[0] != n or x_test.shape[0] != y_test.size:
        raise InvalidInput("embeddings and labels must have the same number of rows")
    if llm_probas is None or llm_probas.shape != (n, k):
        raise InvalidInput(f"the dataset objective needs the LLM's probabilities, shape ({n}, {k})")
    unknown = [s for s in config.strategies if s not in DATASET_STRATEGIES]
    if unknown:
        raise InvalidInput(f"unknown strategies {unknown}; choose from {list(DATASET_STRATEGIES)}")
    if config.batch_size < 1 or config.seeds < 1 or not 0.0 <= config.audit_fraction < 1.0:
        raise InvalidInput("batch_size and seeds must be >= 1, audit_fraction in [0, 1)")
    points = fraction_points(n, config.fractions)
    config = dataclasses.replace(config, budget=points[-1])
    curves: dict[str, Curve] = {}
    for strategy in config.strategies:
        curve = DatasetCurve(labels=points)
        for seed in range(config.seeds):
            one = run_dataset_loop(x, y, x_test, y_test, labels=labels, strategy=strategy,
                                   seed=seed, config=config, llm_probas=llm_probas, step=step)
            for name in ("accuracy", "macro_f1", "dataset_accuracy", "estimated_accuracy",
                         "estimated_interval", "difference_accuracy", "difference_interval",
                         "dataset_batches", "batches"):
                getattr(curve, name).extend(getattr(one, name))
        curves[strategy] = curve
    full = fit_local_model(x, y, labels=labels, C=config.C)
    full_acc, full_f1 = score(full, x_test, y_test)
    ok = ~np.isnan(llm_probas).any(axis=1)
    llm_acc = float((llm_probas[ok].argmax(axis=1) == y[ok]).mean()) if ok.any() else None
    note = (f"dataset objective: {n} pool tasks, budget points {points}, batch "
            f"{config.batch_size}, audit share {config.audit_fraction:.0%}; default = "
            f"{config.default_objective} queue objective")
    return SimulationResult(n_train=n, n_test=int(y_test.size), labels=list(labels),
                            config=config, full_pool_accuracy=full_acc,
                            full_pool_macro_f1=full_f1, curves=curves, llm_train_accuracy=llm_acc,
                            notes=[note])
