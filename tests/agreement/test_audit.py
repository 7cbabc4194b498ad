"""Audit sample and the accuracy estimate for the unreviewed tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelloop.agreement import (
    InsufficientData,
    draw_audit_sample,
    estimate_audit_accuracy,
    wilson_interval,
)
from labelloop.errors import InvalidInput


def _wilson_by_hand(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857-872, table II, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_finite_population_correction_is_wilson_at_the_effective_size() -> None:
    n, big_n = 263, 300
    n_eff = n * (big_n - 1) / (big_n - n)
    expected = _wilson_by_hand(81 / n * n_eff, n_eff)
    assert wilson_interval(81, n, population_size=big_n) == pytest.approx(expected, abs=1e-12)
    assert wilson_interval(81, n, population_size=10**12) == pytest.approx(
        wilson_interval(81, n), abs=1e-6
    )
    assert wilson_interval(81, n, population_size=n) == (81 / n, 81 / n)
    assert wilson_interval(8, 10, confidence=0.99)[0] < wilson_interval(8, 10)[0]


def test_draw_audit_sample() -> None:
    idx = draw_audit_sample(1000, fraction=0.05, rng=np.random.default_rng(3))
    assert idx.size == 50 and np.unique(idx).size == 50
    assert np.all(np.diff(idx) > 0) and idx.min() >= 0 and idx.max() < 1000
    again = draw_audit_sample(1000, fraction=0.05, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(idx, again)
    assert draw_audit_sample(30, fraction=0.1, rng=np.random.default_rng(0)).size == 3
    assert draw_audit_sample(7, fraction=0.1, rng=np.random.default_rng(0)).size == 1
    assert draw_audit_sample(0, fraction=0.5, rng=np.random.default_rng(0)).size == 0
    assert draw_audit_sample(5, fraction=1.0, rng=np.random.default_rng(0)).tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(InvalidInput, match="fraction"):
            draw_audit_sample(10, fraction=bad, rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput, match="Generator"):
        draw_audit_sample(10, fraction=0.5, rng=np.random.RandomState(0))  # type: ignore[arg-type]


def test_estimate_structure_and_per_class() -> None:
    llm = ["a", "a", "a", "b", "b", None]
    human = ["a", "a", "b", "b", "a", "a"]
    est = estimate_audit_accuracy(llm, human, ["a", "b", "c"], population_counts=[60, 30, 10])
    overall = est["overall"]
    assert (overall["n"], overall["correct"], overall["population"], overall["unreviewed"]) == (
        5,
        3,
        100,
        95,
    )
    assert overall["accuracy"] == pytest.approx(0.6)
    assert 0 <= overall["low"] < 0.6 < overall["high"] <= 1
    a = est["per_class"]["a"]
    assert (a["n"], a["correct"], a["population"]) == (3, 2, 60)
    c = est["per_class"]["c"]
    assert c["n"] == 0 and np.isnan(c["accuracy"]) and (c["low"], c["high"]) == (0.0, 1.0)


def test_rest_interval_maps_the_population_interval() -> None:
    llm = np.array([0] * 40)
    human = np.array([0] * 30 + [1] * 10)
    est = estimate_audit_accuracy(llm, human, [0, 1], population_size=100)["overall"]
    low, high = wilson_interval(30, 40, population_size=100)
    assert est["low"] == pytest.approx((100 * low - 30) / 60)
    assert est["high"] == pytest.approx((100 * high - 30) / 60)
    everything = estimate_audit_accuracy(llm, human, [0, 1], population_size=40)["overall"]
    assert everything["unreviewed"] == 0 and np.isnan(everything["low"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"population_size": 3}, "below the audit size"),
        ({"population_counts": [5, 5]}, "3 non-negative integers"),
        ({"population_counts": [1, 5, 5]}, r"population_counts\[0\]"),
        ({"population_counts": [5, 5, 5], "population_size": 16}, "sum to 15"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_population_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        estimate_audit_accuracy([0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 2], **kwargs)


def test_nothing_audited_raises() -> None:
    with pytest.raises(InsufficientData):
        estimate_audit_accuracy([0, None], [None, 1], [0, 1])


def _coverage(n_pop: int, n_audit: int, reps: int, seed: int) -> tuple[float, float, float]:
    """Share of audits whose interval holds the true accuracy on the unreviewed tasks."""
    rng = np.random.default_rng(seed)
    llm = rng.choice(3, size=n_pop, p=[0.5, 0.3, 0.2])
    right = rng.random(n_pop) < np.array([0.9, 0.75, 0.6])[llm]  # accuracy differs by class
    human = np.where(right, llm, (llm + 1) % 3)
    counts = np.bincount(llm, minlength=3)
    hits = {"overall": 0, "class 2": 0, "naive": 0}
    for _ in range(reps):
        idx = draw_audit_sample(n_pop, fraction=n_audit / n_pop, rng=rng)
        rest = np.ones(n_pop, dtype=bool)
        rest[idx] = False
        est = estimate_audit_accuracy(llm[idx], human[idx], [0, 1, 2], population_counts=counts)
        truth = right[rest].mean()
        o = est["overall"]
        hits["overall"] += o["low"] <= truth <= o["high"]
        c2 = est["per_class"]["2"]
        truth_c2 = right[rest & (llm == 2)].mean()
        hits["class 2"] += c2["low"] <= truth_c2 <= c2["high"]
        low, high = wilson_interval(o["correct"], o["n"])  # ignores that the rest is finite
        hits["naive"] += low <= truth <= high
    return hits["overall"] / reps, hits["class 2"] / reps, hits["naive"] / reps


def test_interval_covers_about_95_percent_for_a_small_audit() -> None:
    overall, class_2, naive = _coverage(n_pop=4000, n_audit=200, reps=800, seed=11)
    assert 0.925 <= overall <= 0.975
    assert 0.92 <= class_2 <= 0.98
    assert naive >= 0.92  # with a 5 % audit the finite rest hardly matters


def test_interval_covers_about_95_percent_when_most_tasks_are_audited() -> None:
    overall, class_2, naive = _coverage(n_pop=600, n_audit=450, reps=800, seed=12)
    assert 0.925 <= overall <= 0.975
    assert 0.92 <= class_2 <= 0.98
    assert naive < 0.85  # the plain Wilson interval is far too narrow for the 150 left
