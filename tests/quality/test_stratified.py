"""The audit post-stratified by p_correct: it covers the unreviewed tasks' accuracy when review
aims at machine errors, where the plain audit rate does not."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.agreement import wilson_interval
from labelloop.errors import InvalidInput
from labelloop.quality.stratified import stratified_accuracy


def pool(seed: int, *, review: float = 0.2, n: int = 4000, n_audit: int = 150,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """p_correct overconfident (truly right with probability p**1.5), a uniform audit, and
    review of the lowest p_correct: (right, p_audit, p_unreviewed, true accuracy of those)."""
    r = np.random.default_rng(seed)
    p = r.beta(6, 1.2, n)
    right = r.random(n) < p ** 1.5
    audit = r.choice(n, n_audit, replace=False)
    reviewed = np.zeros(n, dtype=bool)
    reviewed[audit] = True
    rest = np.flatnonzero(~reviewed)
    reviewed[rest[np.argsort(p[rest])[:int(review * n)]]] = True
    return right[audit], p[audit], p[~reviewed], float(right[~reviewed].mean())


def test_covers_the_unreviewed_accuracy_under_error_aimed_review() -> None:
    seeds = 300
    strat_in = plain_in = 0
    bias = []
    for s in range(seeds):
        hit, pa, pu, truth = pool(s)
        got = stratified_accuracy(hit, pa, pu)
        assert got is not None and got.bins >= 2
        bias.append(got.accuracy - truth)
        strat_in += got.low <= truth <= got.high
        low, high = wilson_interval(int(hit.sum()), hit.size, confidence=0.95)
        plain_in += low <= truth <= high
    print(f"coverage over {seeds} seeds: stratified {strat_in / seeds:.3f}, "
          f"plain audit {plain_in / seeds:.3f}; mean bias {np.mean(bias):+.4f}")
    assert abs(float(np.mean(bias))) <= 0.01
    assert strat_in / seeds >= 0.90
    assert plain_in / seeds < 0.80  # the bias the stratification removes is real here


def test_random_review_still_covers() -> None:
    seeds = 200
    inside = 0
    for s in range(seeds):
        r = np.random.default_rng(1000 + s)
        p = r.beta(6, 1.2, 3000)
        right = r.random(3000) < p
        audit = r.choice(3000, 150, replace=False)
        rest = np.setdiff1d(np.arange(3000), audit)
        unreviewed = r.choice(rest, 2000, replace=False)
        got = stratified_accuracy(right[audit], p[audit], p[unreviewed])
        assert got is not None
        inside += got.low <= float(right[unreviewed].mean()) <= got.high
    assert inside / seeds >= 0.90


def test_bins_merge_until_each_holds_enough_audited_tasks() -> None:
    r = np.random.default_rng(0)
    pu = r.random(1000)
    # 12 audited tasks in the lowest fifth, 12 in the middle one, 3 in the top one: the middle
    # group takes the second fifth with it, and the short top group joins it
    pa = np.r_[np.full(12, 0.05), np.full(12, 0.5), np.full(3, 0.95)]
    hit = np.r_[np.zeros(12, dtype=bool), np.arange(12) % 2 == 0, np.ones(3, dtype=bool)]
    got = stratified_accuracy(hit, pa, pu, n_bins=5, min_per_bin=10)
    assert got is not None and got.bins == 2
    # weights: the lowest fifth (0 right of 12) and the other four fifths (9 right of 15)
    assert got.accuracy == pytest.approx(0.2 * 0 + 0.8 * 9 / 15, abs=0.01)
    assert got.low < got.accuracy < got.high


def test_too_few_audited_or_bad_input() -> None:
    assert stratified_accuracy(np.ones(15, dtype=bool), np.full(15, 0.9), np.full(50, 0.9)) \
        is None
    assert stratified_accuracy(np.ones(30, dtype=bool), np.full(30, 0.9), np.full(5, np.nan)) \
        is None
    with pytest.raises(InvalidInput):
        stratified_accuracy(np.ones(3, dtype=bool), np.ones(2), np.ones(4))
    with pytest.raises(InvalidInput):
        stratified_accuracy(np.ones(30, dtype=bool), np.ones(30), np.ones(4), confidence=1.0)


def test_unreviewed_without_p_correct_take_the_audit_rate() -> None:
    r = np.random.default_rng(3)
    pa = r.random(60)
    hit = pa > 0.3
    with_nan = stratified_accuracy(hit, pa, np.r_[r.random(100), np.full(100, np.nan)])
    without = stratified_accuracy(hit, pa, r.random(100))
    assert with_nan is not None and without is not None
    assert with_nan.accuracy == pytest.approx(0.5 * without.accuracy + 0.5 * hit.mean(),
                                              abs=0.05)
