"""Majority vote and its tie rules."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.agreement import consensus_strength, majority_vote
from labelloop.errors import InvalidInput

nan = np.nan
M = np.array(
    [
        [0, 0, 1],  # clear majority
        [2, nan, nan],  # one label is its own majority
        [0, 1, nan],  # tie 0/1
        [2, 1, 0],  # three-way tie
        [nan, nan, nan],  # nobody
    ]
)


def test_ties_missing_by_default() -> None:
    np.testing.assert_array_equal(majority_vote(M), [0, 2, nan, nan, nan])


def test_ties_lowest() -> None:
    np.testing.assert_array_equal(majority_vote(M, ties="lowest"), [0, 2, 0, 0, nan])


def test_ties_random_draws_among_the_tied_classes_only() -> None:
    draws = np.array(
        [majority_vote(M, ties="random", rng=np.random.default_rng(seed)) for seed in range(300)]
    )
    np.testing.assert_array_equal(draws[:, :2], np.tile([0, 2], (300, 1)))
    assert set(draws[:, 2]) == {0.0, 1.0}
    assert set(draws[:, 3]) == {0.0, 1.0, 2.0}
    assert np.all(np.isnan(draws[:, 4]))
    # Roughly uniform: each of three tied classes about a third of the time.
    share = np.bincount(draws[:, 3].astype(int), minlength=3) / 300
    assert np.all(np.abs(share - 1 / 3) < 0.1)
    same_seed = [majority_vote(M, ties="random", rng=np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(*same_seed)


def test_bad_tie_options() -> None:
    with pytest.raises(InvalidInput, match="rng"):
        majority_vote(M, ties="random")
    with pytest.raises(InvalidInput, match="ties must be"):
        majority_vote(M, ties="first")  # type: ignore[arg-type]


def test_consensus_strength() -> None:
    np.testing.assert_allclose(consensus_strength(M), [2 / 3, 1, 0.5, 1 / 3, nan])
