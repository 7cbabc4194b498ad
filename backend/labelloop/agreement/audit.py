"""How accurate is the LLM on the tasks nobody reviewed? An estimate from a uniform audit.

Setting: the LLM labelled a population of ``N`` tasks. :func:`draw_audit_sample` draws ``n`` of
them uniformly without replacement; humans label those, and ``k`` of the LLM's labels match.
:func:`estimate_audit_accuracy` estimates the LLM's accuracy on the ``N - n`` unreviewed tasks.

Method (overall):

1. A Wilson score interval for the population accuracy ``P`` (the closed form, as statsmodels'
   ``proportion_confint(method="wilson")`` computes it). When ``N`` is given, the sampling variance
   ``P(1-P)/n`` carries the finite-population correction ``f = (N - n) / (N - 1)``, which is the
   Wilson interval for an effective sample size ``n / f`` with the same observed share ``k / n``
   (:func:`wilson_interval`).
2. Given the sample, the accuracy on the rest is ``R = (N·P - k) / (N - n)``, linear in ``P``, so
   ``[L, U]`` for ``P`` maps to ``[(N·L - k) / (N - n), (N·U - k) / (N - n)]``, clipped to
   ``[0, 1]``. This is wider than the interval for ``P`` by ``N / (N - n)``: once a large share is
   audited, the few unreviewed tasks carry their own binomial noise, and the interval says so.
   Without ``N`` the population is taken as infinite and the rest's interval is the Wilson one.

The point estimate is ``k / n``, unbiased for ``R`` under uniform sampling.

Per class (per LLM-predicted class ``c``, i.e. the LLM's precision on ``c``): the audited tasks
the LLM put in ``c`` are a uniform sample of the ``N_c`` population tasks it put in ``c``, so the
same method applies with ``population_counts[c]`` as ``N_c``. Without class counts, per-class
intervals use no correction (slightly wide for small classes, never narrow). A class with no
audited task gets accuracy NaN and the uninformative interval ``[0, 1]``.

Pairs where either label is missing are dropped, i.e. treated as not audited. When nothing is
left unreviewed (``N == n``) the interval is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from statistics import NormalDist
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike

from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.matrix import IntArray
from labelloop.agreement.reference import as_class_indices
from labelloop.errors import InvalidInput


class AccuracyEstimate(TypedDict):
    n: int  # audited tasks
    correct: int
    accuracy: float  # k / n: the estimate for the unreviewed tasks
    low: float
    high: float
    population: int | None  # N (or N_c), when given
    unreviewed: int | None  # N - n, when N is given


class AuditEstimate(TypedDict):
    confidence: float
    overall: AccuracyEstimate
    per_class: dict[str, AccuracyEstimate]


def draw_audit_sample(n_candidates: int, *, fraction: float, rng: np.random.Generator) -> IntArray:
    """Sorted positions of ``ceil(fraction * n_candidates)`` candidates drawn uniformly."""
    if not isinstance(n_candidates, (int, np.integer)) or n_candidates < 0:
        raise InvalidInput(f"n_candidates must be an integer >= 0; got {n_candidates!r}")
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise InvalidInput(f"fraction must lie in (0, 1]; got {fraction!r}")
    if not isinstance(rng, np.random.Generator):
        raise InvalidInput("rng must be an np.random.Generator")
    size = min(int(n_candidates), math.ceil(fraction * n_candidates - 1e-9))
    return np.sort(rng.choice(int(n_candidates), size=size, replace=False)).astype(np.int64)


def wilson_interval(
    successes: int, n: int, *, confidence: float = 0.95, population_size: int | None = None
) -> tuple[float, float]:
    """Wilson score interval for a proportion; finite-population corrected when N is given."""
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must lie in (0, 1); got {confidence!r}")
    if n < 1 or not 0 <= successes <= n:
        raise InvalidInput(f"need 0 <= successes <= n and n >= 1; got {successes}, {n}")
    share = successes / n
    if population_size is not None:
        if population_size < n:
            raise InvalidInput(f"population_size {population_size} is smaller than the sample {n}")
        if population_size == n:
            return share, share
        n_eff = n * (population_size - 1) / (population_size - n)
    else:
        n_eff = float(n)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (share + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * math.sqrt(share * (1 - share) / n_eff + z * z / (4 * n_eff * n_eff)) / (
        1 + z * z / n_eff)
    return max(0.0, centre - half), min(1.0, centre + half)


def _estimate(k: int, n: int, population: int | None, confidence: float) -> AccuracyEstimate:
    unreviewed = None if population is None else population - n
    if n == 0:
        nan = float("nan")
        return {
            "n": 0,
            "correct": 0,
            "accuracy": nan,
            "low": 0.0,
            "high": 1.0,
            "population": population,
            "unreviewed": unreviewed,
        }
    low, high = wilson_interval(k, n, confidence=confidence, population_size=population)
    if population is not None:
        if population == n:
            low = high = float("nan")
        else:
            low = min(1.0, max(0.0, (population * low - k) / (population - n)))
            high = min(1.0, max(0.0, (population * high - k) / (population - n)))
    return {
        "n": n,
        "correct": k,
        "accuracy": k / n,
        "low": low,
        "high": high,
        "population": population,
        "unreviewed": unreviewed,
    }


def estimate_audit_accuracy(
    llm: ArrayLike,
    human: ArrayLike,
    labels: Sequence[Hashable],
    *,
    population_size: int | None = None,
    population_counts: ArrayLike | None = None,
    confidence: float = 0.95,
) -> AuditEstimate:
    """Accuracy of ``llm`` on the unreviewed tasks, from the audit pairs ``(llm, human)``.

    ``llm`` and ``human`` are the audited tasks' labels (class indices or values of ``labels``).
    ``population_size`` is ``N``, audited tasks included; ``population_counts[c]`` is how many
    population tasks the LLM labelled ``c`` (audited included; they sum to ``N``).
    """
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must lie in (0, 1); got {confidence!r}")
    pred = as_class_indices(llm, labels, what="llm")
    ref = as_class_indices(human, labels, what="human")
    if pred.shape != ref.shape:
        raise InvalidInput(f"llm and human differ in length: {pred.shape[0]} vs {ref.shape[0]}")
    both = ~np.isnan(pred) & ~np.isnan(ref)
    if not np.any(both):
        raise InsufficientData("the audit holds no task with both an LLM and a human label")
    p = pred[both].astype(np.int64)
    hit = p == ref[both].astype(np.int64)
    k_labels = len(labels)
    counts: list[int] | None = None
    if population_counts is not None:
        arr = np.asarray(population_counts)
        if arr.shape != (k_labels,) or arr.dtype.kind not in "iu" or np.any(arr < 0):
            raise InvalidInput(f"population_counts must be {k_labels} non-negative integers")
        counts = [int(c) for c in arr]
        if population_size is not None and sum(counts) != population_size:
            raise InvalidInput(
                f"population_counts sum to {sum(counts)}, not population_size {population_size}"
            )
        population_size = sum(counts) if population_size is None else population_size
    n_audit = int(both.sum())
    if population_size is not None and population_size < n_audit:
        raise InvalidInput(f"population_size {population_size} is below the audit size {n_audit}")
    per_class: dict[str, AccuracyEstimate] = {}
    for c, label in enumerate(labels):
        in_c = p == c
        n_c = int(in_c.sum())
        if counts is not None and counts[c] < n_c:
            raise InvalidInput(
                f"population_counts[{c}] = {counts[c]} is below the {n_c} audited tasks in {label!r}"
            )
        pop_c = None if counts is None else counts[c]
        per_class[str(label)] = _estimate(int(hit[in_c].sum()), n_c, pop_c, confidence)
    return {
        "confidence": confidence,
        "overall": _estimate(int(hit.sum()), n_audit, population_size, confidence),
        "per_class": per_class,
    }
