"""The token view of spans: tokens, offset units, the text of a task, token label matrices."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labelloop.agreement.metrics import krippendorff_alpha, pairwise_cohen_kappa
from labelloop.agreement.span_tokens import (
    find_text,
    offset_unit,
    to_code_points,
    token_matrices,
    tokenize,
)
from labelloop.labelconfig.spans import Span

nan = np.nan
EMOJI_TEXT = "café 😀 Paris."  # "Paris" at code points 7-12, UTF-16 units 8-13


def _region(start: int, end: int, text: str | None = None) -> dict[str, object]:
    value: dict[str, object] = {"start": start, "end": end, "labels": ["LOC"]}
    if text is not None:
        value["text"] = text
    return {"from_name": "label", "to_name": "text", "type": "labels", "value": value}


def test_tokens_are_words_and_single_punctuation() -> None:
    text = "Hi @paul, it's 5pm!"
    assert [text[s:e] for s, e in tokenize(text)] == [
        "Hi", "@", "paul", ",", "it", "'", "s", "5pm", "!",
    ]  # fmt: skip
    assert tokenize("") == []


def test_offsets_past_an_emoji_in_either_unit() -> None:
    assert EMOJI_TEXT[7:12] == "Paris"
    assert to_code_points(EMOJI_TEXT, 7, 12, said="Paris") == (7, 12)
    assert to_code_points(EMOJI_TEXT, 8, 13, unit="utf16", said="Paris") == (7, 12)
    assert to_code_points(EMOJI_TEXT, 6, 13, unit="utf16") is None  # inside the surrogate pair
    assert to_code_points(EMOJI_TEXT, 8, 13, said="Paris") is None  # wrong unit: wrong text
    assert to_code_points(EMOJI_TEXT, 7, 99) is None
    assert to_code_points(EMOJI_TEXT, 3, 3) is None


def test_offset_unit_follows_the_regions_that_carry_their_text() -> None:
    utf16 = [(EMOJI_TEXT, [_region(8, 13, "Paris")]), ("plain", [_region(0, 5, "plain")])]
    assert offset_unit(utf16) == "utf16"
    assert offset_unit([(EMOJI_TEXT, [_region(7, 12, "Paris")])]) == "code_points"
    assert offset_unit([(EMOJI_TEXT, [_region(7, 12)])]) == "code_points"  # no text: default
    assert offset_unit([]) == "code_points"


def test_find_text_picks_the_field_the_spans_are_on() -> None:
    data = {"title": "Paris", "text": "I love Paris", "n": 3}
    assert find_text(data, [[_region(7, 12, "Paris")]]) == "I love Paris"
    assert find_text({"text": "a", "other": "b"}, [[_region(0, 1)]]) == "a"  # to_name
    assert find_text({"body": "only one"}, [[]]) == "only one"
    assert find_text({"a": "x", "b": "y"}, [[]]) is None
    assert find_text(None, []) is None


def test_token_matrix_by_hand_and_against_the_libraries() -> None:
    # "Ann met Bob in Rome": tokens Ann met Bob in Rome
    text = "Ann met Bob in Rome"
    a = {Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 19, "LOC")}
    b = {Span(0, 3, "PER"), Span(15, 19, "PER")}
    c = {Span(0, 7, "PER")}  # covers "Ann met"
    matrix, labels, binary = token_matrices(
        [text, None], [{0: a, 1: b, 2: c}, {0: {Span(0, 2, "LOC")}, 2: set()}],
        n_annotators=3, span_labels=["LOC", "PER"],
    )  # fmt: skip
    assert labels == ["LOC", "O", "PER"]
    # second task: text unknown, characters 0..2
    expected = [
        [2, 2, 2], [1, 1, 2], [2, 1, 1], [1, 1, 1], [0, 2, 1],
        [0, nan, 1], [0, nan, 1],
    ]  # fmt: skip
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(binary[0][:, 0], [0, 0, 0, 0, 1, 1, 1])  # LOC, annotator 0
    np.testing.assert_array_equal(binary[1][:, 1], [1, 0, 0, 0, 1, nan, nan])  # PER, annotator 1
    kappa = pairwise_cohen_kappa(matrix, n_classes=3, min_overlap=1)[0]
    assert kappa["n"] == 5
    assert kappa["kappa"] == pytest.approx(cohen_kappa_score(matrix[:5, 0], matrix[:5, 1]))
    alpha = krippendorff.alpha(matrix.T, level_of_measurement="nominal")
    assert krippendorff_alpha(matrix, n_classes=3) == pytest.approx(alpha)


def test_overlapping_labels_make_a_combined_unit_label() -> None:
    matrix, labels, _ = token_matrices(
        ["New York"], [{0: {Span(0, 8, "LOC"), Span(4, 8, "ORG")}, 1: {Span(0, 8, "LOC")}}],
        n_annotators=2,
    )  # fmt: skip
    assert labels == ["LOC", "LOC + ORG", "O"]
    np.testing.assert_array_equal(matrix, [[0, 0], [1, 0]])
