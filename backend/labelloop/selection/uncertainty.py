"""Uncertainty measures of one model's predicted distributions (higher = more uncertain).

These are *measures*: they score items and pick nothing. Turning scores into a batch is
:func:`labelloop.selection.select.select_top`'s job.

* ``least_confident``: ``1 - max_k p_k``; in ``[0, 1 - 1/K]``.
* ``margin``: ``1 - (p_(1) - p_(2))`` (one minus the gap between the two most likely classes),
  in ``[0, 1]``: high when the top two are close.
* ``entropy``: ``-sum_k p_k log p_k`` (natural log); in ``[0, log K]``. ``normalised=True``
  divides by ``log K`` so that every method lands in ``[0, 1]``.

For multi-label (independent per-class probabilities), :func:`multilabel_uncertainty_scores`
averages each method over the per-class Bernoulli distributions.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from labelloop.selection.errors import SelectionInputError
from labelloop.selection.validation import check_probas

UncertaintyMethod = Literal["least_confident", "margin", "entropy"]
METHODS: tuple[UncertaintyMethod, ...] = ("least_confident", "margin", "entropy")


def entropy(probas: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Shannon entropy (nats) along ``axis``, with ``0 log 0 = 0``. No input checks.

    Works in place on one temporary the size of ``probas`` (besides the clipped copy)."""
    p = np.clip(probas, 0.0, 1.0)
    positive = p > 0
    terms = np.where(positive, p, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log(terms, out=terms)
        np.multiply(p, terms, out=terms)
    terms[~positive] = 0.0
    return -terms.sum(axis=axis)


def uncertainty_scores(probas: np.ndarray, *, method: UncertaintyMethod = "margin",
                       normalised: bool = False) -> np.ndarray:
    """One uncertainty score per row of ``probas`` ``(n_items, n_classes)``; higher = less sure.

    Raises :class:`~labelloop.selection.errors.InvalidProbabilities` for rows that are not
    distributions, and ``SelectionInputError`` for an unknown ``method``.
    """
    if method not in METHODS:
        raise SelectionInputError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    p = check_probas(probas)
    return _scores(p, method=method, normalised=normalised)


def _scores(p: np.ndarray, *, method: UncertaintyMethod, normalised: bool) -> np.ndarray:
    n_classes = p.shape[1]
    if p.shape[0] == 0:
        return np.zeros(0)
    if method == "least_confident":
        scores = 1.0 - p.max(axis=1)
        return scores / (1.0 - 1.0 / n_classes) if normalised else scores
    if method == "margin":
        top2 = -np.partition(-p, 1, axis=1)[:, :2]
        return 1.0 - (top2[:, 0] - top2[:, 1])
    h = entropy(p)
    return h / np.log(n_classes) if normalised else h


def multilabel_uncertainty_scores(probas: np.ndarray, *, method: UncertaintyMethod = "entropy",
                                  normalised: bool = False) -> np.ndarray:
    """Mean over classes of the uncertainty of each class's Bernoulli ``(p, 1 - p)``."""
    if method not in METHODS:
        raise SelectionInputError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    p = check_probas(probas, multi_label=True)
    n, k = p.shape
    binary = np.stack([p, 1.0 - p], axis=-1).reshape(n * k, 2)
    return _scores(binary, method=method, normalised=normalised).reshape(n, k).mean(axis=1)
