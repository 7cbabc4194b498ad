"""The difference estimator: p_correct on the unreviewed tasks, corrected by the audit."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.simulate.difference_estimate import difference_estimate


def test_calibrated_p_gives_the_mean_p() -> None:
    # audit residuals average to 0: the estimate is the mean p_correct of the unreviewed
    right = np.array([1, 1, 0, 1, 0, 1, 1, 1], dtype=bool)
    p = np.full(8, 0.75)
    pu = np.array([0.9, 0.8, 0.7])
    acc, lo, hi = difference_estimate(right, p, pu, n_human=0) or (0.0, 0.0, 0.0)
    assert acc == pytest.approx(0.8)
    assert lo < acc < hi


def test_the_audit_shifts_an_overconfident_p() -> None:
    right = np.array([1, 0, 1, 0], dtype=bool)  # right half the time where p says 0.9
    acc, _, _ = difference_estimate(right, np.full(4, 0.9), np.full(10, 0.9),
                                    n_human=10) or (0.0, 0.0, 0.0)
    assert acc == pytest.approx((10 + 10 * 0.5) / 20)


def test_human_rows_count_as_right_and_edges() -> None:
    assert difference_estimate(np.array([True]), np.array([0.5]), np.full(3, 0.5),
                               n_human=1) is None  # fewer than 2 audited
    assert difference_estimate(np.array([True, False]), np.array([0.5, 0.5]),
                               np.zeros(0), n_human=4) == (1.0, 1.0, 1.0)


def test_coverage_when_the_calibration_error_is_shared() -> None:
    """p_correct off by the same amount on the audit and the unreviewed: the 95 % interval
    holds the realised accuracy of the unreviewed in about 95 % of draws."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        pu = rng.uniform(0.7, 1.0, 2000)
        truth = rng.random(2000) < pu - 0.05
        pa = rng.uniform(0.4, 1.0, 60)
        right = rng.random(60) < pa - 0.05
        _, lo, hi = difference_estimate(right, pa, pu, n_human=0) or (0.0, 0.0, 0.0)
        hits += lo <= truth.mean() <= hi
    assert 0.9 <= hits / 400 <= 0.99
