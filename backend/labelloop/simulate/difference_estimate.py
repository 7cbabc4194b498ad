"""A second accuracy estimate for the dataset objective: ``p_correct`` corrected by the audit.

The product's estimate (:func:`labelloop.quality.dataset_card.class_accuracy`) maps the machine
labels' accuracy on the uniform audit to the unreviewed tasks. When review aims at machine
errors the unreviewed tasks are the easy ones, easier than the audit's uniform sample, and that
estimate runs low. The *difference estimator* of model-assisted survey sampling (Särndal,
Swensson & Wretman 1992, "Model Assisted Survey Sampling") keeps what ``p_correct`` says
about the unreviewed tasks themselves and takes from the audit only its average error:

    accuracy of the unreviewed ≈ mean_U(p_correct) + mean_A(right − p_correct)

with a normal 95 % interval from the residuals' variance over the audit plus the Bernoulli
spread of the unreviewed labels. It is unbiased when ``p_correct``'s calibration error is the
same on the audit and the unreviewed tasks on average; :mod:`.dataset_engine` reports it beside
the product's figure so that both can be compared (``bench/bench_dataset_accuracy.py``).
"""

from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054


def difference_estimate(right: np.ndarray, p_audit: np.ndarray, p_unreviewed: np.ndarray, *,
                        n_human: int) -> tuple[float, float, float] | None:
    """(accuracy, low, high) of a dataset of ``n_human`` human labels (taken as right) and the
    unreviewed machine labels of ``p_unreviewed``, from the audited machine labels (``right``:
    matched the human label; ``p_audit``: their p_correct). None with fewer than 2 audited."""
    hit = np.asarray(right, dtype=np.float64)
    pa = np.asarray(p_audit, dtype=np.float64)
    pu = np.asarray(p_unreviewed, dtype=np.float64)
    ok = np.isfinite(pa)
    hit, pa, pu = hit[ok], pa[ok], pu[np.isfinite(pu)]
    n = n_human + pu.size
    if hit.size < 2 or n == 0:
        return None
    if pu.size == 0:
        return 1.0, 1.0, 1.0
    residual = hit - pa
    mean_u = float(np.clip(pu.mean() + residual.mean(), 0.0, 1.0))
    var = residual.var(ddof=1) / hit.size + float(np.sum(pu * (1 - pu))) / pu.size ** 2
    half = Z95 * float(np.sqrt(var))
    lo, hi = max(0.0, mean_u - half), min(1.0, mean_u + half)
    share = pu.size / n
    return (1 - share) + share * mean_u, (1 - share) + share * lo, (1 - share) + share * hi
