"""Label-matrix validation and builders."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.agreement import (
    binary_matrices_from_records,
    check_label_matrix,
    class_counts,
    matrix_from_records,
)
from labelloop.errors import InvalidInput

nan = np.nan


def test_matrix_from_records_orders_by_first_appearance() -> None:
    records = [("t2", "bob", "pos"), ("t1", "ann", "neg"), ("t2", "ann", "neu")]
    lm = matrix_from_records(records, labels=["neg", "neu", "pos"])
    assert lm.items == ("t2", "t1") and lm.annotators == ("bob", "ann")
    np.testing.assert_array_equal(lm.matrix, [[2, 1], [nan, 0]])
    assert lm.labels == ("neg", "neu", "pos")


def test_given_orders_keep_empty_rows_and_columns() -> None:
    lm = matrix_from_records(
        [("t1", "ann", "b")], labels=["a", "b"], items=["t0", "t1"], annotators=["zed", "ann"]
    )
    np.testing.assert_array_equal(lm.matrix, [[nan, nan], [nan, 1]])


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([("t1", "ann", "x")], "not in the vocabulary"),
        ([("t1", "ann", "a"), ("t1", "ann", "b")], "twice"),
        ([("t1", "ann")], "record is"),
    ],
)
def test_bad_records_raise(records: list, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        matrix_from_records(records, labels=["a", "b"])


def test_records_for_unlisted_ids_raise() -> None:
    with pytest.raises(InvalidInput, match="unknown annotator"):
        matrix_from_records([("t1", "bob", "a")], labels=["a"], annotators=["ann"])
    with pytest.raises(InvalidInput, match="duplicates"):
        matrix_from_records([], labels=["a", "a"])


def test_binary_matrices_from_records() -> None:
    records = [("t1", "ann", {"a", "c"}), ("t1", "bob", ["c"]), ("t2", "ann", ())]
    lm = binary_matrices_from_records(records, labels=["a", "b", "c"])
    assert lm.matrix.shape == (3, 2, 2)
    np.testing.assert_array_equal(lm.matrix[0], [[1, 0], [0, nan]])  # "a"
    np.testing.assert_array_equal(lm.matrix[1], [[0, 0], [0, nan]])  # "b"
    np.testing.assert_array_equal(lm.matrix[2], [[1, 1], [0, nan]])  # "c"
    with pytest.raises(InvalidInput, match="collection"):
        binary_matrices_from_records([("t1", "ann", "a")], labels=["a"])
    with pytest.raises(InvalidInput, match="twice"):
        binary_matrices_from_records([("t", "x", ["a"]), ("t", "x", [])], labels=["a"])


def test_check_label_matrix_infers_and_checks_n_classes() -> None:
    arr, k = check_label_matrix([[0, 3], [nan, 1]])
    assert k == 4 and arr.dtype == np.float64
    assert check_label_matrix(np.full((2, 2), nan))[1] == 1
    with pytest.raises(InvalidInput, match="n_classes"):
        check_label_matrix([[0, 1]], n_classes=0)
    with pytest.raises(InvalidInput, match="integers"):
        check_label_matrix([[0, np.inf]])


def test_class_counts() -> None:
    counts = class_counts(np.array([[0, 0, 2], [nan, 1, nan], [nan, nan, nan]]), 3)
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 1, 0], [0, 0, 0]])
