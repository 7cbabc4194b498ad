"""Inter-annotator agreement on a label matrix (nominal labels).

Every function takes a label matrix (see :mod:`labelloop.agreement.matrix`): ``(n_items,
n_annotators)``, class indices, NaN = missing. ``n_classes`` defaults to the largest index + 1;
pass it when some class was never used. Annotators in results are column positions.

What each statistic means, and where it is undefined:

- :func:`percent_agreement` — the chance that two annotators, drawn without replacement from those
  who labelled an item, agree; averaged over items with at least two labels (Fleiss' ``P̄``).
- :func:`pairwise_cohen_kappa` — Cohen's kappa (scikit-learn) for every pair of annotators with at
  least ``min_overlap`` items in common. NaN when the pair used one and the same class throughout
  (expected agreement 1).
- :func:`fleiss_kappa` — Fleiss' kappa (statsmodels). It needs the same number of raters per item,
  so it is computed on the items labelled by exactly ``n_raters`` annotators — by default the most
  common count among items with at least two labels (on a tie, the larger count). Items with
  other counts are left out; :func:`krippendorff_alpha` uses every item. NaN when those items use
  a single class.
- :func:`krippendorff_alpha` — nominal Krippendorff's alpha (the ``krippendorff`` package), which
  handles missing labels: items with fewer than two labels are not pairable and drop out. NaN
  when all pairable labels are one class.
- :func:`annotator_vs_consensus` — each annotator against the majority label of the *other*
  annotators of the same item (leave-one-out, so nobody agrees with themselves). Items where the
  others tie, or where nobody else labelled, are not compared; ties are counted.
- :func:`per_label_agreement` — for multiple choice: the statistics above on each label's binary
  matrix (ticked or not).

Fewer than one item with two labels raises :class:`~labelloop.agreement.errors.InsufficientData`.
"""

from __future__ import annotations

from typing import TypedDict

import krippendorff
import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.matrix import FloatArray, IntArray, check_label_matrix, class_counts
from labelloop.errors import InvalidInput


class PairKappa(TypedDict):
    a: int
    b: int
    n: int
    kappa: float


class AnnotatorAgreement(TypedDict):
    annotator: int
    n_items: int  # items this annotator labelled
    n: int  # items compared with the others' majority
    ties: int  # items left out because the others tied
    agreement: float
    kappa: float


class LabelAgreement(TypedDict):
    label: int
    prevalence: float  # share of (item, annotator) labels that tick this label
    percent_agreement: float
    fleiss_kappa: float
    krippendorff_alpha: float


def _counts(matrix: ArrayLike, n_classes: int | None) -> tuple[FloatArray, IntArray]:
    arr, k = check_label_matrix(matrix, n_classes=n_classes)
    counts = class_counts(arr, k)
    if not np.any(counts.sum(axis=1) >= 2):
        raise InsufficientData("no item was labelled by two annotators: agreement is undefined")
    return arr, counts


def cohen_kappa(y1: ArrayLike, y2: ArrayLike, *, n_classes: int) -> float:
    """Cohen's kappa of two class-index vectors (scikit-learn); NaN when empty or undefined."""
    a = np.asarray(y1, dtype=np.int64)
    b = np.asarray(y2, dtype=np.int64)
    if a.size == 0:
        return float("nan")
    if np.all(a == a[0]) and np.all(b == a[0]):  # expected agreement is 1: kappa is 0/0
        return float("nan")
    return float(cohen_kappa_score(a, b, labels=np.arange(n_classes)))


def percent_agreement(matrix: ArrayLike, *, n_classes: int | None = None) -> float:
    """Mean share of agreeing annotator pairs per item, over items with at least two labels."""
    _, counts = _counts(matrix, n_classes)
    n = counts.sum(axis=1)
    ok = n >= 2
    pairs_agreeing = (counts[ok] * (counts[ok] - 1)).sum(axis=1)
    return float(np.mean(pairs_agreeing / (n[ok] * (n[ok] - 1))))


def modal_rater_count(matrix: ArrayLike) -> int:
    """The most common number of labels per item, among items with at least two (ties: larger)."""
    arr, _ = check_label_matrix(matrix)
    n = (~np.isnan(arr)).sum(axis=1)
    n = n[n >= 2]
    if n.size == 0:
        raise InsufficientData("no item was labelled by two annotators: agreement is undefined")
    freq = np.bincount(n)
    return int(np.flatnonzero(freq == freq.max())[-1])


def fleiss_kappa(
    matrix: ArrayLike, *, n_classes: int | None = None, n_raters: int | None = None
) -> float:
    """Fleiss' kappa on the items labelled by exactly ``n_raters`` annotators.

    ``n_raters`` defaults to :func:`modal_rater_count`. Raises
    :class:`~labelloop.agreement.errors.InsufficientData` when no item has that many labels.
    """
    arr, counts = _counts(matrix, n_classes)
    if n_raters is None:
        n_raters = modal_rater_count(arr)
    elif not isinstance(n_raters, (int, np.integer)) or n_raters < 2:
        raise InvalidInput(f"n_raters must be an integer >= 2; got {n_raters!r}")
    table = counts[counts.sum(axis=1) == n_raters]
    if table.shape[0] == 0:
        raise InsufficientData(f"no item was labelled by exactly {n_raters} annotators")
    if np.count_nonzero(table.sum(axis=0)) < 2:
        return float("nan")
    return float(inter_rater.fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(matrix: ArrayLike, *, n_classes: int | None = None) -> float:
    """Nominal Krippendorff's alpha over all items; missing labels allowed."""
    _, counts = _counts(matrix, n_classes)
    pairable = counts[counts.sum(axis=1) >= 2]
    if np.count_nonzero(pairable.sum(axis=0)) < 2:
        return float("nan")
    return float(
        krippendorff.alpha(
            value_counts=pairable,
            value_domain=np.arange(counts.shape[1]),
            level_of_measurement="nominal",
        )
    )


def pairwise_cohen_kappa(
    matrix: ArrayLike, *, n_classes: int | None = None, min_overlap: int = 2
) -> list[PairKappa]:
    """Cohen's kappa for each pair ``a < b`` (column positions) sharing ``min_overlap`` items.

    Raises :class:`~labelloop.agreement.errors.InsufficientData` when no pair shares that many.
    """
    if not isinstance(min_overlap, (int, np.integer)) or min_overlap < 1:
        raise InvalidInput(f"min_overlap must be a positive integer; got {min_overlap!r}")
    arr, k = check_label_matrix(matrix, n_classes=n_classes)
    present = ~np.isnan(arr)
    overlap = present.T.astype(np.int64) @ present.astype(np.int64)
    out: list[PairKappa] = []
    for a, b in zip(*np.triu_indices(arr.shape[1], k=1)):
        n = int(overlap[a, b])
        if n < min_overlap:
            continue
        both = present[:, a] & present[:, b]
        kappa = cohen_kappa(arr[both, a], arr[both, b], n_classes=k)
        out.append({"a": int(a), "b": int(b), "n": n, "kappa": kappa})
    if not out:
        raise InsufficientData(f"no two annotators labelled {min_overlap} or more items in common")
    return out


def annotator_vs_consensus(
    matrix: ArrayLike, *, n_classes: int | None = None
) -> list[AnnotatorAgreement]:
    """Each annotator's agreement (share and Cohen's kappa) with the majority of the others."""
    arr, counts = _counts(matrix, n_classes)
    k = counts.shape[1]
    out: list[AnnotatorAgreement] = []
    for j in range(arr.shape[1]):
        rows = np.flatnonzero(~np.isnan(arr[:, j]))
        own = arr[rows, j].astype(np.int64)
        others = counts[rows].copy()
        others[np.arange(rows.size), own] -= 1
        top = others.max(axis=1, initial=0)
        n_top = (others == top[:, None]).sum(axis=1)
        labelled_by_others = top > 0
        compared = labelled_by_others & (n_top == 1)
        majority = others.argmax(axis=1)[compared]
        mine = own[compared]
        out.append(
            {
                "annotator": j,
                "n_items": int(rows.size),
                "n": int(compared.sum()),
                "ties": int((labelled_by_others & (n_top > 1)).sum()),
                "agreement": float(np.mean(mine == majority)) if mine.size else float("nan"),
                "kappa": cohen_kappa(mine, majority, n_classes=k),
            }
        )
    return out


def per_label_agreement(binary: ArrayLike) -> list[LabelAgreement]:
    """Agreement per label of a multiple-choice control.

    ``binary`` is ``(n_labels, n_items, n_annotators)`` with 1 = ticked, 0 = not ticked, NaN =
    not labelled (see :func:`~labelloop.agreement.matrix.binary_matrices_from_records`).
    """
    try:
        arr = np.asarray(binary, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"binary label matrices must be numeric: {exc}") from exc
    if arr.ndim != 3:
        raise InvalidInput(
            f"binary label matrices are 3-D (n_labels, n_items, n_annotators); got {arr.shape}"
        )
    values = arr[~np.isnan(arr)]
    if np.any((values != 0) & (values != 1)):
        raise InvalidInput("binary label matrices hold only 0, 1 and NaN")
    out: list[LabelAgreement] = []
    for label in range(arr.shape[0]):
        m = arr[label]
        out.append(
            {
                "label": label,
                "prevalence": float(np.nanmean(m)) if np.any(~np.isnan(m)) else float("nan"),
                "percent_agreement": percent_agreement(m, n_classes=2),
                "fleiss_kappa": fleiss_kappa(m, n_classes=2),
                "krippendorff_alpha": krippendorff_alpha(m, n_classes=2),
            }
        )
    return out
