"""Drift (labelloop.quality.drift): MMD² against a direct double sum and its invariants, the
permutation test's level on i.i.d. splits and its power on a shifted mix, and label shift on
hand-made counts."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.quality.drift import DriftTest, label_shift, mmd2, mmd_test

DIM = 8


def naive_mmd2(x, y, bw):
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * bw * bw))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def samples(seed, *, n=200, mix=0.0, shift=3.0):
    """A reference and a recent sample; ``mix`` of the recent one from a second cluster."""
    g = np.random.default_rng(seed)
    ref, rec = g.normal(size=(n, DIM)), g.normal(size=(n, DIM))
    k = int(mix * n)
    rec[:k] = g.normal(size=(k, DIM)) + shift * np.eye(DIM)[0]
    return ref, rec


def test_mmd2_equals_the_double_sum():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(12, 3)), g.normal(size=(9, 3)) + 0.5
    assert mmd2(x, y, bandwidth=1.3) == pytest.approx(naive_mmd2(x, y, 1.3), rel=1e-10)
    pooled = np.vstack([x, y])
    d2 = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)[np.triu_indices(21, 1)]
    assert mmd2(x, y) == pytest.approx(naive_mmd2(x, y, np.sqrt(np.median(d2))), rel=1e-10)


def test_mmd2_invariants():
    g = np.random.default_rng(1)
    x, y = g.normal(size=(60, DIM)), g.normal(size=(50, DIM)) + 0.3
    assert mmd2(x, y) == pytest.approx(mmd2(y, x), rel=1e-12)  # symmetric
    # unbiased: about 0 on average over samples of one distribution
    same = [mmd2(*samples(s, n=50)) for s in range(200)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))
    # grows with the shift (fixed bandwidth, so that only the samples change)
    base = g.normal(size=(100, DIM))
    noise = g.normal(size=(100, DIM))
    values = [mmd2(base, noise + s * np.eye(DIM)[0], bandwidth=3.0) for s in (0, 0.5, 1, 2, 4)]
    assert values == sorted(values) and values[0] < 0.01 < values[-1]


def test_no_alarm_on_iid_splits_at_about_the_nominal_rate():
    alarms = [mmd_test(*samples(s), permutations=200, alpha=0.05,
                       rng=np.random.default_rng(s)).drifting for s in range(100)]
    assert np.mean(alarms) <= 0.10


def test_alarm_on_a_shifted_mix():
    alarms = [mmd_test(*samples(s, mix=0.3, shift=2.0), permutations=200, alpha=0.05,
                       rng=np.random.default_rng(s)).drifting for s in range(100)]
    assert np.mean(alarms) >= 0.95


def test_mmd_test_result_and_subsampling():
    ref, rec = samples(3, n=300, mix=0.3)
    t = mmd_test(ref, rec, permutations=99, alpha=0.05, rng=np.random.default_rng(0))
    assert isinstance(t, DriftTest) and t.drifting and t.p_value == pytest.approx(0.01)
    assert t.statistic == pytest.approx(mmd2(ref, rec)) and t.statistic > t.threshold
    assert t.bandwidth > 0
    a = mmd_test(ref, rec, permutations=50, alpha=0.05, rng=np.random.default_rng(1),
                 max_items=40)
    b = mmd_test(ref, rec, permutations=50, alpha=0.05, rng=np.random.default_rng(1),
                 max_items=40)
    assert a == b and a.statistic != t.statistic  # subsampled, deterministic with the seed
    same = mmd_test(*samples(4), permutations=50, alpha=0.05, rng=np.random.default_rng(0))
    assert 0 < same.p_value <= 1 and same.drifting == (same.p_value < 0.05)


@pytest.mark.parametrize("x, y", [
    (np.zeros((5, 3)), np.zeros((5, 4))),
    (np.zeros((1, 3)), np.zeros((5, 3))),
    (np.zeros(5), np.zeros(5)),
    (np.full((5, 3), np.nan), np.zeros((5, 3))),
])
def test_mmd_rejects_bad_samples(x, y):
    with pytest.raises(InvalidInput):
        mmd2(x, y)
    with pytest.raises(InvalidInput):
        mmd_test(x, y, permutations=10, alpha=0.05, rng=np.random.default_rng(0))


def test_mmd_test_rejects_bad_options():
    x = np.zeros((5, 2))
    for kw in ({"permutations": 0, "alpha": 0.05}, {"permutations": 10, "alpha": 1.0},
               {"permutations": 10, "alpha": 0.05, "max_items": 1}):
        with pytest.raises(InvalidInput):
            mmd_test(x, x, rng=np.random.default_rng(0), **kw)
    with pytest.raises(InvalidInput):
        mmd2(x, x, bandwidth=0.0)


def test_label_shift_on_hand_made_counts():
    tv, p = label_shift(np.array([50, 50]), np.array([50, 50]))
    assert tv == 0.0 and p == pytest.approx(1.0)
    tv, p = label_shift(np.array([100, 0]), np.array([0, 100]))
    assert tv == 1.0 and p is not None and p < 1e-10
    tv, p = label_shift(np.array([30, 70]), np.array([70, 30]))
    assert tv == pytest.approx(0.4) and p is not None and p < 1e-6
    tv, p = label_shift(np.array([25, 25, 50]), np.array([50, 25, 25]))
    assert tv == pytest.approx(0.25) and p is not None and 0 < p < 0.05
    tv, p = label_shift(np.array([20, 20, 0]), np.array([10, 10, 0]))  # an unused class
    assert tv == 0.0 and p == pytest.approx(1.0)
    assert label_shift(np.array([40, 0]), np.array([30, 0])) == (0.0, 1.0)  # one class only
    tv, p = label_shift(np.array([5, 5]), np.array([50, 50]))  # too few on one side
    assert tv == 0.0 and p is None
    assert label_shift(np.array([19, 0]), np.array([0, 100])) == (1.0, None)


@pytest.mark.parametrize("ref, rec", [
    (np.array([1, 2]), np.array([1, 2, 3])),
    (np.array([-1, 2]), np.array([1, 2])),
    (np.array([0, 0]), np.array([1, 2])),
    (np.array([[1, 2]]), np.array([[1, 2]])),
])
def test_label_shift_rejects_bad_counts(ref, rec):
    with pytest.raises(InvalidInput):
        label_shift(ref, rec)
