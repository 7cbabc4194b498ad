"""Calibration of confidences: reliability curve and expected calibration error (ECE).

Both take ``confidence`` (the model's probability for the label it chose, in [0, 1]) and
``correct`` (whether that label matched the reference), one entry per item. Confidences fall into
``n_bins`` equal-width bins ``[lower, upper)`` (the last bin includes 1.0).

- :func:`reliability_curve` gives every bin, empty ones included (``n = 0``, NaN means), so the
  curve always has ``n_bins`` points.
- :func:`expected_calibration_error` is ``sum_b n_b / N * |accuracy_b - confidence_b|`` over the
  non-empty bins: 0 for a calibrated model, up to 1.

Drop items without a confidence before calling: NaN confidences are rejected, not skipped.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike

from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.matrix import FloatArray, IntArray
from labelloop.errors import InvalidInput


class ReliabilityBin(TypedDict):
    lower: float
    upper: float
    n: int
    confidence: float  # mean confidence in the bin
    accuracy: float  # share correct in the bin


def _binned(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise InvalidInput(f"n_bins must be a positive integer; got {n_bins!r}")
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct)
    if conf.ndim != 1 or hit.shape != conf.shape:
        raise InvalidInput(
            f"confidence and correct must be 1-D and of equal length; got {conf.shape}, {hit.shape}"
        )
    if conf.size == 0:
        raise InsufficientData("no confidences to bin")
    if not np.all((conf >= 0) & (conf <= 1)):  # also rejects NaN
        raise InvalidInput("confidences must lie in [0, 1] (drop missing ones first)")
    if hit.dtype != np.bool_ and not np.all((hit == 0) | (hit == 1)):
        raise InvalidInput("correct must be booleans (or 0/1)")
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    n = np.bincount(bins, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins).astype(np.float64)
    hit_sum = np.bincount(bins, weights=hit.astype(np.float64), minlength=n_bins).astype(np.float64)
    return n, conf_sum, hit_sum


def reliability_curve(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10
) -> list[ReliabilityBin]:
    """Mean confidence and accuracy per confidence bin."""
    n, conf_sum, hit_sum = _binned(confidence, correct, n_bins)
    out: list[ReliabilityBin] = []
    for b in range(n_bins):
        filled = n[b] > 0
        out.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "n": int(n[b]),
                "confidence": float(conf_sum[b] / n[b]) if filled else float("nan"),
                "accuracy": float(hit_sum[b] / n[b]) if filled else float("nan"),
            }
        )
    return out


def expected_calibration_error(
    confidence: ArrayLike, correct: ArrayLike, *, n_bins: int = 10
) -> float:
    """Count-weighted mean gap between accuracy and confidence over the bins."""
    n, conf_sum, hit_sum = _binned(confidence, correct, n_bins)
    return float(np.sum(np.abs(hit_sum - conf_sum)) / n.sum())
