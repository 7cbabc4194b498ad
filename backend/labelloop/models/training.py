"""Training with evaluation: cross-validated metrics and a calibrated temperature.

:func:`train_local_model` is what a retrain job calls: it cross-validates on the labeled set
(stratified folds, as many as the rarest seen class allows, up to ``cv_folds``), reports
accuracy and macro-F1 of the out-of-fold predictions, fits one temperature on those same
out-of-fold predictions (minimising log-loss), and fits the final model on everything.
With too few labels for cross-validation the metrics are ``None`` and the temperature is 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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


def train_local_model(embeddings: np.ndarray, y: np.ndarray, *, labels: Sequence[str],
                      multi_label: bool = False, C: float = DEFAULT_C,
                      class_weight: str | None = None, cv_folds: int = 5,
                      calibrate: bool = True, seed: int = 0,
                      threads: int | None = 1) -> TrainResult:
    """Cross-validate, calibrate and fit (see the module docstring). ``cv_folds=0`` skips the
    cross-validation (and so the calibration): the fastest retrain, for simulations."""
    x, t = check_training_data(embeddings, y, n_classes=len(labels), multi_label=multi_label)
    opts = {"labels": labels, "multi_label": multi_label, "C": C, "class_weight": class_weight,
            "threads": threads}
    final = fit_local_model(x, t, **opts)  # type: ignore[arg-type]
    folds = _folds(t, multi_label=multi_label, cv_folds=cv_folds, seed=seed)
    if not folds:
        return TrainResult(final, None)
    fold_models: list[LocalModel] = []
    fold_of_item = np.empty(t.shape[0], dtype=np.int64)
    logits = np.empty((t.shape[0], len(labels)))
    for f, (train, test) in enumerate(folds):
        m = fit_local_model(x[train], t[train], **opts)  # type: ignore[arg-type]
        fold_models.append(m)
        fold_of_item[test] = f
        logits[test] = decision_function(m, x[test])
    temperature = 1.0
    if calibrate and t.shape[0] >= MIN_CALIBRATION_ITEMS:
        temperature = fit_temperature(fold_models, logits, t, fold_of_item)
    oof = np.empty_like(logits)
    for f, m in enumerate(fold_models):
        rows = fold_of_item == f
        oof[rows] = probas_from_logits(m, logits[rows], temperature=temperature)
    pred = (oof >= 0.5).astype(np.int8) if multi_label else np.argmax(oof, axis=1)
    acc, f1 = _metrics(pred, t, multi_label)
    metrics = CvMetrics(accuracy=acc, macro_f1=f1, n_folds=len(folds), n_items=int(t.shape[0]),
                        log_loss=_log_loss(oof, t, multi_label))
    return TrainResult(with_temperature(final, temperature), metrics)
