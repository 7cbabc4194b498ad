"""Review aimed at machine errors: the ``dataset`` queue objective, and the ``auto`` rule.

The ``model`` objective (:func:`labelloop.selection.rank_pool`) asks for the labels that teach
the local model most. The ``dataset`` objective asks for the labels that remove the most wrong
labels from the exported dataset: a task whose machine label is right with probability
``p_correct`` holds ``1 - p_correct`` expected wrong labels (:func:`expected_errors`), and a human
label removes them. :func:`rank_for_errors` puts the highest expected errors first, with the
batch diversified so that one cluster of look-alike mistakes does not fill it: among the
``shortlist`` × ``batch_size`` highest, one task per k-means cluster (clusters weighted by
expected errors, each cluster's highest-error task); ``shortlist=1`` (or a shortlist whose
points are all the same) gives the plain highest errors.

:func:`choose_objective` answers ``model``/``dataset`` as set, and for ``auto`` compares two
gains in the same unit, wrong dataset labels removed per human label:

- ``model_gain`` = ``max(slope, 0) / 100 × n_machine``: the learning curve's recent slope
  (:func:`labelloop.quality.stopping.recent_slope`, accuracy per 100 labels) is what one more
  label adds to the model's accuracy, and each of the ``n_machine`` machine labels the model
  decides gains that much chance of being right. Pass as ``n_machine`` the unreviewed tasks
  whose dataset label follows the local model (the LLM gave none, or the combination overrode
  the LLM's label); every machine-labelled task also works but overstates the model's gain
  where the LLM decides most labels: on Rotten Tomatoes with an 85 % realistic LLM (2 seeds,
  batches of 2 % of the pool) auto then spent 2-4 of 17 batches on the model and ended 0.007
  below the dataset objective at 20 % reviewed, against no loss with the model-decided count;
- ``error_gain`` = the mean expected errors of the ``dataset`` batch: what reviewing it removes.

``auto`` takes ``dataset`` when ``error_gain >= model_gain``. Before the slope is measured (too
few retrains) it takes ``dataset`` when the batch holds machine labels (``error_gain < 1``) and
``model`` otherwise (no machine label to correct yet: the cold start). The first rule tried, ``model`` until the
slope is measured, cost dataset accuracy: on Rotten Tomatoes with an 85 % realistic LLM its two
model-objective batches left the dataset at 0.861 after reviewing 5 % of the pool, against 0.870
for the dataset objective throughout (one seed). As it is now (``bench/bench_dataset_accuracy.py``,
docs/benchmarks.md) ``auto`` chose error removal in 505 of 510 batches over six runs and matched
the dataset objective within 0.003 at every point but one (−0.008 at 5 %, 70 % LLM). The model gain is generous (a better local model changes the dataset label
only where the combination follows the model), so ``auto`` still moves to the model while the
learning curve is steep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.selection.diversity import kmeans_representatives
from labelloop.selection.errors import InvalidProbabilities, SelectionInputError
from labelloop.selection.validation import check_batch_size, check_embeddings, check_indices

QueueObjective = Literal["model", "dataset", "auto"]
QUEUE_OBJECTIVES: tuple[QueueObjective, ...] = ("model", "dataset", "auto")


def expected_errors(p_correct: np.ndarray) -> np.ndarray:
    """(n,) 1 - p_correct clipped to [0, 1]; NaN (no machine label) -> 1.0"""
    p = np.asarray(p_correct, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidProbabilities(f"p_correct must be 1-d, got shape {p.shape}")
    return np.where(np.isnan(p), 1.0, 1.0 - np.clip(p, 0.0, 1.0))


def _by_errors(candidates: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """``candidates`` by expected errors descending, ties by position."""
    return candidates[np.lexsort((candidates, -errors[candidates]))]


def rank_for_errors(x: np.ndarray, candidates: np.ndarray, p_correct: np.ndarray, *,
                    batch_size: int, rng: np.random.Generator,
                    shortlist: int = 3) -> np.ndarray:
    """All of `candidates` (positions into x / p_correct), label-first: the first
    min(batch_size, len) form the batch — the highest expected errors, diversified (e.g. k-center or
    k-means representatives among the top few x batch_size, weighted by expected errors); the rest by
    expected errors descending, ties by position."""
    e = check_embeddings(x)
    errors = expected_errors(p_correct)
    if errors.shape[0] != e.shape[0]:
        raise SelectionInputError(f"p_correct has {errors.shape[0]} rows, x has {e.shape[0]}")
    cand = check_indices(candidates, e.shape[0], name="candidates")
    b = min(check_batch_size(batch_size), cand.size)
    if shortlist < 1:
        raise SelectionInputError(f"shortlist must be >= 1, got {shortlist}")
    order = _by_errors(cand, errors)
    if b == 0:
        return order
    top = order[:min(cand.size, shortlist * b)]
    if top.size > b and np.ptp(e[top], axis=0).max() > 0:
        picked = kmeans_representatives(e, top, b, rng=rng, scores=errors[top])
        batch = _by_errors(picked, errors)
    else:
        batch = order[:b]
    rest = order[~np.isin(order, batch)]
    return np.concatenate([batch, rest])


@dataclass(frozen=True)
class ObjectiveChoice:
    objective: Literal["model", "dataset"]
    reason: str              # plain words, shown in lineage/status
    model_gain: float | None  # expected wrong dataset labels removed per human label by improving the model (None: not measured)
    error_gain: float        # ... by reviewing the dataset-objective batch (mean expected_errors of it)


def choose_objective(setting: QueueObjective, *, slope: float | None, n_machine: int,
                     batch_errors: np.ndarray) -> ObjectiveChoice:
    """'model'/'dataset' -> that objective; 'auto' -> the documented rule."""
    if setting not in QUEUE_OBJECTIVES:
        raise SelectionInputError(f"unknown queue objective {setting!r}; choose from "
                                  f"{', '.join(QUEUE_OBJECTIVES)}")
    if n_machine < 0:
        raise SelectionInputError(f"n_machine must be >= 0, got {n_machine}")
    errs = np.asarray(batch_errors, dtype=np.float64)
    error_gain = float(np.clip(errs, 0.0, 1.0).mean()) if errs.size else 0.0
    model_gain = None if slope is None or not np.isfinite(slope) \
        else max(float(slope), 0.0) / 100.0 * n_machine
    if setting != "auto":
        return ObjectiveChoice(setting, f"the queue objective is set to {setting}", model_gain,
                               error_gain)
    if model_gain is None and (errs.size == 0 or error_gain >= 1.0):
        return ObjectiveChoice("model", "auto: no machine label to correct yet, so labels go to "
                               "improving the model", None, error_gain)
    if model_gain is None:
        return ObjectiveChoice("dataset", "auto: the learning curve's slope is not measured yet "
                               "and machine labels exist, so review goes to their likely errors "
                               f"(about {error_gain:.2f} wrong labels removed per label)", None,
                               error_gain)
    words = (f"a label removes about {error_gain:.2f} wrong dataset labels by review and about "
             f"{model_gain:.2f} by improving the model (accuracy {slope:+.3f} per 100 labels "
             f"over {n_machine:,} machine-labelled tasks)")
    if error_gain >= model_gain:
        return ObjectiveChoice("dataset", f"auto: review aimed at machine errors, as {words}",
                               model_gain, error_gain)
    return ObjectiveChoice("model", f"auto: model improvement, as {words}", model_gain,
                           error_gain)
