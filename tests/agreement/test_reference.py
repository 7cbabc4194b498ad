"""Model vs reference labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from labelloop.agreement import InsufficientData, compare_to_reference
from labelloop.errors import InvalidInput

LABELS = ["neg", "neu", "pos"]


def test_scores_on_a_hand_checked_example() -> None:
    ref = ["neg", "neg", "neu", "pos", "pos", "pos"]
    pred = ["neg", "pos", "neu", "pos", "pos", "neg"]
    out = compare_to_reference(pred, ref, LABELS)
    assert out["n"] == 6
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["kappa"] == pytest.approx(cohen_kappa_score(ref, pred))
    assert out["confusion"] == [[1, 0, 1], [0, 1, 0], [1, 0, 2]]  # rows = reference
    assert out["per_class"]["neg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert out["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert out["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert out["per_class"]["neu"]["f1"] == 1.0
    macro = np.mean([c["f1"] for c in out["per_class"].values()])
    assert macro == pytest.approx(f1_score(ref, pred, average="macro"))


def test_indices_and_values_give_the_same_answer_and_missing_pairs_drop() -> None:
    by_index = compare_to_reference([0, 2, np.nan, 1], [0, 2, 1, np.nan], LABELS)
    by_value = compare_to_reference(
        ["neg", "pos", None, "neu"], ["neg", "pos", "neu", None], LABELS
    )
    np.testing.assert_equal(by_index, by_value)  # NaN-aware
    assert by_index["n"] == 2 and by_index["accuracy"] == 1.0


def test_undefined_per_class_numbers_are_nan() -> None:
    out = compare_to_reference([0, 0, 1], [0, 1, 1], LABELS)
    pos = out["per_class"]["pos"]
    assert np.isnan(pos["precision"]) and np.isnan(pos["recall"]) and pos["support"] == 0
    neu = out["per_class"]["neu"]
    assert neu["precision"] == 1.0 and neu["recall"] == 0.5


@pytest.mark.parametrize(
    ("pred", "ref", "error", "message"),
    [
        ([0, 1], [0], InvalidInput, "differ in length"),
        (["neg", "bad"], ["neg", "neg"], InvalidInput, "not one of the labels"),
        ([0, 5], [0, 0], InvalidInput, "class indices"),
        ([[0]], [[0]], InvalidInput, "1-D"),
        ([np.nan, 0], [1, np.nan], InsufficientData, "both"),
    ],
)
def test_bad_input(pred: list, ref: list, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        compare_to_reference(pred, ref, LABELS)
