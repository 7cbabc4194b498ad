"""When a project's encoder is fine-tuned, and when the fine-tuned one is adopted. Pure.

**When** (:func:`finetune_due`): never with ``LABELLOOP_FINETUNE=off``; otherwise once the
project has ``finetune_min_labels`` human labels, and again each time it has
``finetune_every_n`` more than at its last round (adopted or not).

**Adopted where it pays** (:func:`cross_fitted_gate`): with ``on`` always; with ``auto`` (the
default) only when the logistic regression the retrain fits is more accurate on the fine-tuned
vectors than on the frozen ones, by at least :data:`MIN_GAIN`, out of fold. The comparison must
not let the encoder see the labels it is judged on (an encoder tuned on every label makes those
same labels separable whatever it does to new texts), so it is cross-fitted: for each of
:data:`GATE_FOLDS` stratified folds an encoder is fine-tuned on the other folds' labels only;
the regression is fitted on the other folds' vectors and scored on the held-out fold, once with
frozen and once with that fold's vectors. The pooled held-out accuracies are the comparison
recorded in the lineage. This costs ``GATE_FOLDS`` extra fine-tunes per round, each within the
same time budget as the final one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models.logistic import fit_local_model, predict

FineTuneMode = Literal["auto", "on", "off"]
MIN_GAIN = 0.01  # held-out accuracy the fine-tuned vectors must add for auto to adopt them
GATE_FOLDS = 3


def finetune_due(n_labels: int, last_labels: int | None, *, mode: FineTuneMode,
                 min_labels: int, every_n: int) -> bool:
    """Whether a fine-tune round is due at ``n_labels`` human labels, the last round having
    been at ``last_labels`` (None: never)."""
    if mode == "off" or n_labels < min_labels:
        return False
    return last_labels is None or n_labels - last_labels >= every_n


@dataclass(frozen=True)
class GateResult:
    """Pooled out-of-fold accuracy of the regression on frozen and on fine-tuned vectors."""

    frozen: float
    tuned: float
    folds: int
    n_items: int
    min_gain: float
    mode: FineTuneMode
    adopt: bool

    def to_json(self) -> dict[str, Any]:
        return {"frozen_accuracy": round(self.frozen, 4), "tuned_accuracy": round(self.tuned, 4),
                "gain": round(self.tuned - self.frozen, 4), "folds": self.folds,
                "n_items": self.n_items, "min_gain": self.min_gain, "mode": self.mode,
                "adopt": self.adopt,
                "rule": "auto adopts when tuned_accuracy >= frozen_accuracy + min_gain "
                        "(out-of-fold, each fold's encoder tuned without its labels)"}


def stratified_folds(y: np.ndarray, *, k: int, rng: np.random.Generator
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) position splits, each class dealt round-robin over the folds in a
    random order."""
    labels = np.asarray(y)
    fold = np.empty(labels.size, dtype=np.int64)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold[members] = (np.arange(members.size) + int(rng.integers(k))) % k
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _held_out_hits(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                   n_classes: int) -> int:
    model = fit_local_model(x[train], y[train], labels=[str(c) for c in range(n_classes)])
    return int((predict(model, x[test]) == y[test]).sum())


def cross_fitted_gate(y: np.ndarray, frozen: np.ndarray,
                      tune_fold: Callable[[np.ndarray], np.ndarray], *, mode: FineTuneMode,
                      rng: np.random.Generator, folds: int = GATE_FOLDS,
                      min_gain: float = MIN_GAIN) -> GateResult:
    """Compare frozen and fine-tuned vectors of the labelled items (see the module docstring).

    ``y`` ``(n,)`` class ids in ``range(k)``; ``frozen`` ``(n, d)`` their frozen vectors;
    ``tune_fold(train)`` fine-tunes an encoder on the items at positions ``train`` only and
    returns the vectors it gives all ``n`` items. ``mode`` ``"on"`` adopts whatever the
    comparison says (it is still recorded)."""
    labels = np.asarray(y, dtype=np.int64)
    if frozen.shape[0] != labels.size:
        raise InvalidInput(f"{labels.size} labels but {frozen.shape[0]} vectors")
    if mode == "off":
        raise InvalidInput("no fine-tuning with mode 'off'")
    k = int(labels.max()) + 1 if labels.size else 0
    splits = [s for s in stratified_folds(labels, k=folds, rng=rng) if s[1].size and s[0].size]
    frozen_hits = tuned_hits = total = 0
    for train, test in splits:
        tuned = tune_fold(train)
        frozen_hits += _held_out_hits(frozen, labels, train, test, k)
        tuned_hits += _held_out_hits(tuned, labels, train, test, k)
        total += test.size
    if total == 0:
        raise InvalidInput("too few labels to compare encoders")
    a_frozen, a_tuned = frozen_hits / total, tuned_hits / total
    adopt = mode == "on" or a_tuned >= a_frozen + min_gain
    return GateResult(a_frozen, a_tuned, len(splits), total, min_gain, mode, adopt)
