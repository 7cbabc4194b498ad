"""The audit's accuracy of the machine labels, re-weighted to the tasks still unreviewed.

The audit is a uniform sample of the pool, so its hit rate estimates the machine labels'
accuracy over the whole pool. The dataset's machine labels are only on the tasks nobody
reviewed, and when the queue aims at machine errors (or at the LLM's least confident labels)
those are the easy ones: the plain audit rate then runs low, and its interval missed the true
dataset accuracy in about one seed in five in ``simulate --objective dataset``.

:func:`stratified_accuracy` post-stratifies the audit (survey sampling's post-stratification) by
a *key*, a score of how sure the machines are that means the same on audited and unreviewed
tasks: the unreviewed tasks are cut into ``n_bins`` equal-count bins of their key, every audited
task falls in the bin of its own key, adjacent bins are merged until each holds ``min_per_bin``
audited tasks, and the estimate is the bins' audit hit rates weighted by their share of the
unreviewed tasks. Audited tasks whose key lies below every unreviewed task's stand for the
tasks review took away and are left out (kept, they would pull the lowest bin down, which is
the bias this removes). It trusts only the key's ordering, not its calibration: within a bin
the audit measures the accuracy. The 95 % interval is normal, with each bin's variance from its
Agresti–Coull rate (so a bin that is all right still has a spread). Unreviewed tasks without a
key take the audit's overall rate. With too few audited tasks for two bins, it answers None and
the caller keeps the plain audit estimate.

The dataset card (:mod:`labelloop.quality.dataset_card`) keys on the LLM's confidence: the LLM
never sees a human label, so its confidence is the same kind of number on an audited task as on
an unreviewed one. ``p_correct`` is not: an audited task's local-model answer is the one made
before its label arrived (often none, early on), an unreviewed task's is the current model's, so
their ``p_correct`` come from different inputs — keyed on it, the estimate ran 0.11 low on a
simulated pool reviewed at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from labelloop.errors import InvalidInput


@dataclass(frozen=True)
class Stratified:
    accuracy: float
    low: float
    high: float
    bins: int  # strata after merging


def _groups(counts: np.ndarray, min_per_bin: int) -> list[list[int]]:
    """Adjacent bins merged left to right until each group holds ``min_per_bin`` audited tasks
    (a short last group joins the one before it)."""
    groups: list[list[int]] = []
    current: list[int] = []
    held = 0
    for b, c in enumerate(counts.tolist()):
        current.append(b)
        held += c
        if held >= min_per_bin:
            groups.append(current)
            current, held = [], 0
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def stratified_accuracy(right: np.ndarray, p_audit: np.ndarray, p_unreviewed: np.ndarray, *,
                        n_bins: int = 5, min_per_bin: int = 10,
                        confidence: float = 0.95) -> Stratified | None:
    """Accuracy of the unreviewed tasks' machine labels with a ``confidence`` interval, from the
    audited ones (``right``: the machine label matched the human one; ``p_audit``: their
    ``p_correct``); see the module docstring. None: too few audited tasks for two strata."""
    hit = np.asarray(right, dtype=np.float64)
    pa = np.asarray(p_audit, dtype=np.float64)
    pu = np.asarray(p_unreviewed, dtype=np.float64)
    if hit.ndim != 1 or pa.shape != hit.shape or pu.ndim != 1:
        raise InvalidInput("right and p_audit must be (n,) arrays of one length, p_unreviewed 1-d")
    if n_bins < 1 or min_per_bin < 1 or not 0 < confidence < 1:
        raise InvalidInput("n_bins and min_per_bin must be >= 1, confidence in (0, 1)")
    known_a, known_u = np.isfinite(pa), np.isfinite(pu)
    if known_a.sum() < 2 * min_per_bin or not known_u.any():
        return None
    # audited tasks less sure than every unreviewed one stand for tasks review has since taken
    # away: they belong to no stratum of the unreviewed
    known_a &= pa >= pu[known_u].min()
    if known_a.sum() < 2 * min_per_bin:
        return None
    edges = np.quantile(pu[known_u], np.linspace(0, 1, n_bins + 1)[1:-1])
    bin_a = np.searchsorted(edges, pa[known_a], side="right")
    bin_u = np.searchsorted(edges, pu[known_u], side="right")
    groups = _groups(np.bincount(bin_a, minlength=n_bins), min_per_bin)
    if len(groups) < 2:
        return None
    z = float(norm.ppf(0.5 + confidence / 2))
    h_a = hit[known_a]
    n_u = pu.size
    est, var = 0.0, 0.0
    for g in groups:
        in_a, w = np.isin(bin_a, g), np.isin(bin_u, g).sum() / n_u
        n, h = int(in_a.sum()), float(h_a[in_a].sum())
        tilde = (h + z * z / 2) / (n + z * z)
        est += w * h / n
        var += w * w * tilde * (1 - tilde) / n
    unknown = 1.0 - known_u.sum() / n_u  # no p_correct: the audit's overall rate
    if unknown > 0:
        n, h = int(hit.size), float(hit.sum())
        tilde = (h + z * z / 2) / (n + z * z)
        est += unknown * h / n
        var += unknown * unknown * tilde * (1 - tilde) / n
    half = z * float(np.sqrt(var))
    return Stratified(est, max(0.0, est - half), min(1.0, est + half), len(groups))
