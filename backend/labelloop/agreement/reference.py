"""A model's labels against reference labels (human consensus, or an audit).

:func:`compare_to_reference` takes two 1-D label vectors — class indices (NaN = missing) or label
values from ``labels`` (None = missing) — and scores the predictions on the items where both are
present: accuracy, Cohen's kappa, per-class precision / recall / F1 / support (scikit-learn) and
the confusion matrix (rows = reference, columns = prediction, both in ``labels`` order).

Undefined per-class numbers are NaN: precision of a class the model never predicted, recall of a
class absent from the reference. ``support`` is the class's count in the reference.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.matrix import FloatArray
from labelloop.agreement.metrics import cohen_kappa
from labelloop.errors import InvalidInput


class ClassScores(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


class ReferenceComparison(TypedDict):
    n: int
    accuracy: float
    kappa: float
    labels: list[str]
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]


def as_class_indices(values: ArrayLike, labels: Sequence[Hashable], *, what: str) -> FloatArray:
    """A 1-D vector of class indices (NaN = missing) from indices or label values."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInput(f"{what} must be 1-D; got shape {arr.shape}")
    k = len(labels)
    if arr.dtype.kind in "biuf":
        out = arr.astype(np.float64)
        ok = out[~np.isnan(out)]
        if np.any(ok < 0) or np.any(ok >= k) or np.any(ok != np.floor(ok)):
            raise InvalidInput(f"{what} holds values that are not class indices 0..{k - 1}")
        return out
    class_of = {label: i for i, label in enumerate(labels)}
    out = np.full(arr.shape[0], np.nan)
    for i, value in enumerate(arr.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if value not in class_of:
            raise InvalidInput(f"{what}[{i}] = {value!r} is not one of the labels {list(labels)!r}")
        out[i] = class_of[value]
    return out


def compare_to_reference(
    pred: ArrayLike, ref: ArrayLike, labels: Sequence[Hashable]
) -> ReferenceComparison:
    """Score ``pred`` against ``ref`` on the items where both have a label."""
    if len(labels) < 1 or len(set(labels)) != len(labels):
        raise InvalidInput("labels must be a non-empty list without duplicates")
    p = as_class_indices(pred, labels, what="pred")
    r = as_class_indices(ref, labels, what="ref")
    if p.shape != r.shape:
        raise InvalidInput(f"pred and ref differ in length: {p.shape[0]} vs {r.shape[0]}")
    both = ~np.isnan(p) & ~np.isnan(r)
    if not np.any(both):
        raise InsufficientData("no item has both a prediction and a reference label")
    p_i = p[both].astype(np.int64)
    r_i = r[both].astype(np.int64)
    classes = np.arange(len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        r_i, p_i, labels=classes, zero_division=np.nan
    )
    names = [str(label) for label in labels]
    return {
        "n": int(both.sum()),
        "accuracy": float(np.mean(p_i == r_i)),
        "kappa": cohen_kappa(r_i, p_i, n_classes=len(labels)),
        "labels": names,
        "per_class": {
            name: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c, name in enumerate(names)
        },
        "confusion": confusion_matrix(r_i, p_i, labels=classes).tolist(),
    }
