"""The dataset queue objective: expected errors, the error-first ranking and the auto rule."""

from __future__ import annotations

import numpy as np
import pytest
from tests.selection.helpers import blobs

from labelloop.errors import InvalidInput
from labelloop.selection import (
    ObjectiveChoice,
    choose_objective,
    expected_errors,
    rank_for_errors,
)


def _pool(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, _ = blobs(n, seed=seed)
    p = np.random.default_rng(seed).uniform(0.3, 1.0, size=n)
    return x, p


def test_expected_errors_clips_and_fills_nan() -> None:
    p = np.array([0.9, np.nan, 1.2, -0.1, 0.25])
    np.testing.assert_allclose(expected_errors(p), [0.1, 1.0, 0.0, 1.0, 0.75])


def test_expected_errors_rejects_2d() -> None:
    with pytest.raises(InvalidInput):
        expected_errors(np.zeros((3, 2)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_is_a_permutation_of_the_candidates(seed: int) -> None:
    x, p = _pool(seed=seed)
    cand = np.random.default_rng(seed).choice(200, size=120, replace=False)
    order = rank_for_errors(x, cand, p, batch_size=15, rng=np.random.default_rng(seed))
    assert order.size == cand.size
    assert np.array_equal(np.sort(order), np.sort(cand))  # every candidate exactly once


def test_rest_is_by_errors_descending_ties_by_position() -> None:
    x, p = _pool()
    p[::7] = 0.5  # many ties
    cand = np.arange(200)
    order = rank_for_errors(x, cand, p, batch_size=10, rng=np.random.default_rng(0))
    rest = order[10:]
    err = expected_errors(p)[rest]
    assert np.all(np.diff(err) <= 0)
    for value in np.unique(err):
        same = rest[err == value]
        assert np.all(np.diff(same) > 0)


def test_without_diversity_the_batch_is_the_highest_errors() -> None:
    x, p = _pool()
    cand = np.arange(200)
    order = rank_for_errors(x, cand, p, batch_size=12, rng=np.random.default_rng(0), shortlist=1)
    top = np.argsort(-expected_errors(p), kind="stable")[:12]
    assert set(order[:12].tolist()) == set(top.tolist())


def test_identical_points_give_the_highest_errors() -> None:
    _, p = _pool()
    x = np.ones((200, 8), dtype=np.float32)
    order = rank_for_errors(x, np.arange(200), p, batch_size=12, rng=np.random.default_rng(0))
    assert set(order[:12].tolist()) == set(np.argsort(p, kind="stable")[:12].tolist())


def test_batch_is_diverse_and_drawn_from_high_errors() -> None:
    # two far clusters; the 30 highest errors all sit in cluster A, cluster B a bit lower
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 0.01, size=(100, 4)) + np.array([1, 0, 0, 0])
    b = rng.normal(0.0, 0.01, size=(100, 4)) + np.array([0, 1, 0, 0])
    x = np.vstack([a, b]).astype(np.float32)
    p = np.concatenate([rng.uniform(0.0, 0.1, 100), rng.uniform(0.15, 0.2, 100)])
    order = rank_for_errors(x, np.arange(200), p, batch_size=10, rng=np.random.default_rng(0),
                            shortlist=30)
    batch = order[:10]
    assert (batch >= 100).any() and (batch < 100).any()  # both clusters
    plain = rank_for_errors(x, np.arange(200), p, batch_size=10, rng=np.random.default_rng(0),
                            shortlist=1)[:10]
    assert (plain < 100).all()
    # the batch comes first, ordered by errors too
    assert np.all(np.diff(expected_errors(p)[batch]) <= 0)


def test_deterministic_under_the_same_rng() -> None:
    x, p = _pool()
    cand = np.arange(5, 180)
    one = rank_for_errors(x, cand, p, batch_size=20, rng=np.random.default_rng(7))
    two = rank_for_errors(x, cand, p, batch_size=20, rng=np.random.default_rng(7))
    assert np.array_equal(one, two)


def test_nan_p_correct_comes_first() -> None:
    x, p = _pool()
    p[[3, 50, 99]] = np.nan
    order = rank_for_errors(x, np.arange(200), p, batch_size=3, rng=np.random.default_rng(0),
                            shortlist=1)
    assert set(order[:3].tolist()) == {3, 50, 99}
    diverse = rank_for_errors(x, np.arange(200), p, batch_size=10, rng=np.random.default_rng(0))
    left_out = sorted({3, 50, 99} - set(diverse[:10].tolist()))
    assert diverse[10:10 + len(left_out)].tolist() == left_out  # they head the rest


def test_small_and_empty_candidate_sets() -> None:
    x, p = _pool()
    assert rank_for_errors(x, np.zeros(0, dtype=np.int64), p, batch_size=5,
                           rng=np.random.default_rng(0)).size == 0
    few = np.array([10, 4, 7])
    out = rank_for_errors(x, few, p, batch_size=20, rng=np.random.default_rng(0))
    assert np.array_equal(out, few[np.argsort(p[few], kind="stable")])


def test_bad_inputs_raise() -> None:
    x, p = _pool()
    with pytest.raises(InvalidInput):
        rank_for_errors(x, np.arange(10), p[:50], batch_size=5, rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        rank_for_errors(x, np.array([1, 1]), p, batch_size=5, rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        rank_for_errors(x, np.arange(10), p, batch_size=0, rng=np.random.default_rng(0))


def test_fixed_settings_are_kept() -> None:
    errs = np.array([0.5, 0.5])
    for setting in ("model", "dataset"):
        choice = choose_objective(setting, slope=10.0, n_machine=1000,  # type: ignore[arg-type]
                                  batch_errors=errs)
        assert isinstance(choice, ObjectiveChoice)
        assert choice.objective == setting
        assert choice.error_gain == pytest.approx(0.5)


def test_auto_before_the_slope_is_measured() -> None:
    choice = choose_objective("auto", slope=None, n_machine=1000, batch_errors=np.full(5, 0.3))
    assert choice.objective == "dataset" and choice.model_gain is None
    assert "not measured" in choice.reason
    none_by_model = choose_objective("auto", slope=None, n_machine=0,
                                     batch_errors=np.full(5, 0.3))
    assert none_by_model.objective == "dataset"
    cold = choose_objective("auto", slope=None, n_machine=0, batch_errors=np.ones(5))
    assert cold.objective == "model" and "no machine label" in cold.reason
    assert choose_objective("auto", slope=None, n_machine=10,
                            batch_errors=np.zeros(0)).objective == "model"


def test_auto_rule_both_ways() -> None:
    errs = np.full(20, 0.4)  # 0.4 wrong labels removed per reviewed task
    # steep curve: +2 points per 100 labels over 5,000 machine labels = 1 label per label
    steep = choose_objective("auto", slope=0.02, n_machine=5000, batch_errors=errs)
    assert steep.objective == "model"
    assert steep.model_gain == pytest.approx(1.0)
    # flat curve: +0.2 points per 100 labels = 0.1 per label < 0.4
    flat = choose_objective("auto", slope=0.002, n_machine=5000, batch_errors=errs)
    assert flat.objective == "dataset"
    assert flat.model_gain == pytest.approx(0.1) and flat.error_gain == pytest.approx(0.4)
    falling = choose_objective("auto", slope=-0.05, n_machine=5000, batch_errors=errs)
    assert falling.objective == "dataset" and falling.model_gain == 0.0


def test_unknown_objective_raises() -> None:
    with pytest.raises(InvalidInput):
        choose_objective("best", slope=None, n_machine=0,  # type: ignore[arg-type]
                         batch_errors=np.zeros(1))
