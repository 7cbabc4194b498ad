"""Training with evaluation: cross-validated metrics and a calibrated temperature.

:func:`train_local_model` is what a retrain job calls: it cross-validates on the labeled set
(stratified folds, as many as the rarest seen class allows, up to ``cv_folds``), reports
accuracy and macro-F1 of the out-of-fold predictions, fits one temperature on those same
out-of-fold predictions (minimising log-loss), and fits the final model on everything.
With too few labels for cross-validation the metrics are ``None`` and the temperature is 1.

Its parts are reusable with another way of fitting (:mod:`labelloop.models.distill` adds the
LLM's labels to each fold's training rows): :func:`cv_folds_of` (the folds),
:func:`out_of_fold` (a fit per fold and the out-of-fold logits) and :func:`calibrated_result`
(the temperature and metrics of those logits, applied to a final model).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.models.logistic import (
    DEFAULT_C,
    LocalModel,
    check_training_data,
    decision_function,
    fit_local_model,
    probas_from_logits,
    with_temperature,
)

MIN_CALIBRATION_ITEMS = 20


@dataclass(frozen=True)
class CvMetrics:
    accuracy: float  # single choice: accuracy; multiple choice: exact-match (subset) accuracy
    macro_f1: float  # over the classes present in the true or predicted labels
    n_folds: int
    n_items: int
    log_loss: float  # of the out-of-fold predictions after calibration


@dataclass(frozen=True)
class TrainResult:
    model: LocalModel
    metrics: CvMetrics | None  # None: too few labels to cross-validate


def _folds(t: np.ndarray, *, multi_label: bool, cv_folds: int, seed: int
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    n = t.shape[0]
    if cv_folds < 2 or n < 4:
        return []
    if multi_label:
        k = min(cv_folds, n // 2)
        return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n)))
    counts = np.bincount(t)
    counts = counts[counts > 0]
    if counts.size < 2 or counts.max() < 2:
        return []
    k = int(min(cv_folds, max(2, counts[counts >= 2].min())))
    with warnings.catch_warnings():  # classes with fewer members than folds are expected here
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), t))


def _log_loss(p: np.ndarray, t: np.ndarray, multi_label: bool) -> float:
    eps = 1e-12
    if multi_label:
        q = np.clip(p, eps, 1 - eps)
        return float(-(t * np.log(q) + (1 - t) * np.log(1 - q)).mean())
    return float(-np.log(np.clip(p[np.arange(t.size), t], eps, 1.0)).mean())


def fit_temperature(model_of_fold: list[LocalModel], logits: np.ndarray, t: np.ndarray,
                    fold_of_item: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the log-loss of out-of-fold predictions."""
    from scipy.optimize import minimize_scalar

    multi = model_of_fold[0].multi_label

    def loss(log_temp: float) -> float:
        p = np.empty((t.shape[0], model_of_fold[0].n_classes))
        for f, m in enumerate(model_of_fold):
            rows = fold_of_item == f
            p[rows] = probas_from_logits(m, logits[rows], temperature=float(np.exp(log_temp)))
        return _log_loss(p, t, multi)

    res = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-3})
    return float(np.exp(res.x))


def _metrics(pred: np.ndarray, t: np.ndarray, multi_label: bool) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = accuracy_score(t, pred)
        f1 = f1_score(t, pred, average="macro", zero_division=0)
    return float(acc), float(f1)


FitOnRows = Callable[[np.ndarray], LocalModel]
"""Fits a model on the labeled rows at the given positions (a fold's training rows, or all)."""


@dataclass(frozen=True)
class OutOfFold:
    """A cross-validation's fold models and their out-of-fold logits (one row per labeled item)."""

    models: list[LocalModel]
    logits: np.ndarray  # (n, n_classes)
    fold_of_item: np.ndarray  # (n,) the fold whose model predicted the item

    def accuracy(self, t: np.ndarray) -> float:
        """Single choice: out-of-fold accuracy (argmax; the temperature does not change it)."""
        return float((np.argmax(self.logits, axis=1) == t).mean())


def out_of_fold(x: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                fit: FitOnRows, *, n_classes: int) -> OutOfFold:
    """Fit ``fit(train)`` per fold and predict its test rows."""
    models: list[LocalModel] = []
    fold_of_item = np.empty(x.shape[0], dtype=np.int64)
    logits = np.empty((x.shape[0], n_classes))
    for f, (train, test) in enumerate(folds):
        m = fit(np.asarray(train))
        models.append(m)
        fold_of_item[test] = f
        logits[test] = decision_function(m, x[test])
    return OutOfFold(models, logits, fold_of_item)


def calibrated_result(final: LocalModel, oof: OutOfFold, t: np.ndarray, *,
                      multi_label: bool, calibrate: bool = True) -> TrainResult:
    """The final model with the temperature fitted on ``oof`` and the metrics of ``oof``."""
    temperature = 1.0
    if calibrate and t.shape[0] >= MIN_CALIBRATION_ITEMS:
        temperature = fit_temperature(oof.models, oof.logits, t, oof.fold_of_item)
    p = np.empty_like(oof.logits)
    for f, m in enumerate(oof.models):
        rows = oof.fold_of_item == f
        p[rows] = probas_from_logits(m, oof.logits[rows], temperature=temperature)
    pred = (p >= 0.5).astype(np.int8) if multi_label else np.argmax(p, axis=1)
    acc, f1 = _metrics(pred, t, multi_label)
    metrics = CvMetrics(accuracy=acc, macro_f1=f1, n_folds=len(oof.models),
                        n_items=int(t.shape[0]), log_loss=_log_loss(p, t, multi_label))
    return TrainResult(with_temperature(final, temperature), metrics)


def cv_folds_of(t: np.ndarray, *, multi_label: bool, cv_folds: int, seed: int
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds :func:`train_local_model` uses (stratified for single choice; empty when the
    labels are too few to cross-validate)."""
    return _folds(t, multi_label=multi_label, cv_folds=cv_folds, seed=seed)


def train_local_model(embeddings: np.ndarray, y: np.ndarray, *, labels: Sequence[str],
                      multi_label: bool = False, C: float = DEFAULT_C,
                      class_weight: str | None = None, cv_folds: int = 5,
                      calibrate: bool = True, seed: int = 0,
                      threads: int | None = 1) -> TrainResult:
    """Cross-validate, calibrate and fit (see the module docstring). ``cv_folds=0`` skips the
    cross-validation (and so the calibration): the fastest retrain, for simulations."""
    x, t = check_training_data(embeddings, y, n_classes=len(labels), multi_label=multi_label)

    def fit(rows: np.ndarray) -> LocalModel:
        return fit_local_model(x[rows], t[rows], labels=labels, multi_label=multi_label, C=C,
                               class_weight=class_weight, threads=threads)

    final = fit(np.arange(t.shape[0]))
    folds = _folds(t, multi_label=multi_label, cv_folds=cv_folds, seed=seed)
    if not folds:
        return TrainResult(final, None)
    oof = out_of_fold(x, folds, fit, n_classes=len(labels))
    return calibrated_result(final, oof, t, multi_label=multi_label, calibrate=calibrate)
