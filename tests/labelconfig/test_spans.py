"""Span validity, locating an LLM's entities, Label Studio's offsets and regions."""

from __future__ import annotations

import pytest

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import (
    Dropped,
    Span,
    from_ls_offsets,
    is_valid_span,
    locate,
    locate_all,
    read_region,
    read_region_spans,
    span_region,
    span_regions,
    to_ls_offsets,
    validate_spans,
)

LABELS = ("PER", "ORG", "LOC")
EMOJI_TEXT = "Hi 😀 Paris and Ünïcode café Paris"


# --- validate_spans ----------------------------------------------------------------------------


def test_valid_spans_pass_and_overlaps_of_different_labels_are_allowed() -> None:
    text = "Barack Obama visited Microsoft"
    validate_spans(text, [Span(0, 12, "PER"), Span(0, 12, "ORG"), Span(7, 20, "LOC"),
                          Span(21, 30, "ORG")], labels=LABELS)
    validate_spans(text, [], labels=LABELS)


@pytest.mark.parametrize("span", [
    Span(-1, 3, "PER"), Span(3, 3, "PER"), Span(4, 3, "PER"), Span(0, 31, "PER"),
    Span(0, 3, "PERSON"), Span(0, 3, ""), Span(True, 3, "PER"),  # type: ignore[arg-type]
    Span(0.0, 3, "PER"),  # type: ignore[arg-type]
])
def test_invalid_spans_raise_invalid_input(span: Span) -> None:
    text = "Barack Obama visited Microsoft"  # 30 code points
    assert not is_valid_span(text, span, labels=LABELS)
    with pytest.raises(InvalidInput):
        validate_spans(text, [Span(0, 6, "PER"), span], labels=LABELS)


def test_the_end_may_be_the_length_of_the_text_counted_in_code_points() -> None:
    assert len(EMOJI_TEXT) == 33
    validate_spans(EMOJI_TEXT, [Span(28, 33, "LOC"), Span(3, 4, "LOC")], labels=LABELS)
    assert not is_valid_span(EMOJI_TEXT, Span(28, 34, "LOC"), labels=LABELS)


def test_an_exact_duplicate_is_invalid_and_every_problem_is_in_the_detail() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_spans("abc def", [Span(0, 3, "PER"), Span(0, 3, "PER"), Span(0, 9, "PER")],
                       labels=LABELS)
    assert isinstance(err.value.detail, list) and len(err.value.detail) == 2
    assert "repeated" in err.value.detail[0]


def test_something_not_a_span_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        validate_spans("abc", [(0, 1, "PER")], labels=LABELS)  # type: ignore[list-item]


# --- locate -------------------------------------------------------------------------------


def test_locate_finds_offsets_in_code_points_after_an_emoji() -> None:
    spans, dropped = locate(EMOJI_TEXT, [("Paris", "LOC"), ("Ünïcode", "ORG")], labels=LABELS)
    assert spans == [Span(5, 10, "LOC"), Span(15, 22, "ORG")]
    assert dropped == []
    assert [EMOJI_TEXT[s.start:s.end] for s in spans] == ["Paris", "Ünïcode"]


def test_repeated_surface_forms_resolve_in_reading_order() -> None:
    entities = [("Paris", "LOC"), ("Paris", "PER"), ("Paris", "LOC")]
    spans, dropped = locate(EMOJI_TEXT, entities, labels=LABELS)
    # 1st mention -> 1st occurrence; 2nd -> the occurrence after it (whatever its label); the
    # 3rd finds no occurrence after the 2nd and takes the earliest one not yet taken as LOC
    assert spans == [Span(5, 10, "LOC"), Span(28, 33, "LOC"), Span(28, 33, "PER")]
    assert dropped == []
    spans, dropped = locate(EMOJI_TEXT, [*entities, ("Paris", "LOC")], labels=LABELS)
    assert len(spans) == 3 and dropped == [Dropped("Paris", "LOC", "duplicate")]


def test_a_later_mention_listed_first_still_finds_an_earlier_occurrence() -> None:
    text = "Paris, then Lyon, then Paris again"
    spans, dropped = locate(text, [("Paris", "LOC"), ("Lyon", "LOC"), ("Paris", "LOC"),
                                   ("Lyon", "LOC")], labels=LABELS)
    assert spans == [Span(0, 5, "LOC"), Span(12, 16, "LOC"), Span(23, 28, "LOC")]
    assert dropped == [Dropped("Lyon", "LOC", "duplicate")]


def test_word_boundaries_are_preferred_over_matches_inside_a_word() -> None:
    text = "Parisian food in Paris"
    spans, _ = locate(text, [("Paris", "LOC")], labels=LABELS)
    assert spans == [Span(17, 22, "LOC")]
    # a second mention does not fall back inside "Parisian": the surface has a whole-word match
    spans, dropped = locate(text, [("Paris", "LOC"), ("Paris", "LOC")], labels=LABELS)
    assert spans == [Span(17, 22, "LOC")] and dropped[0].reason == "duplicate"
    # a combining accent continues the word: "cafe" is not a whole word of "cafe\u0301"
    accented = "cafe\u0301 and cafe"
    assert locate(accented, [("cafe", "LOC")], labels=LABELS)[0] == [Span(10, 14, "LOC")]


def test_text_without_word_boundaries_still_locates() -> None:
    text = "我住在北京和上海，北京很大"
    spans, dropped = locate(text, [("北京", "LOC"), ("上海", "LOC"), ("北京", "LOC")],
                            labels=LABELS)
    assert spans == [Span(3, 5, "LOC"), Span(6, 8, "LOC"), Span(9, 11, "LOC")]
    assert dropped == []


def test_the_tolerant_match_is_used_only_when_the_exact_one_fails_and_is_reported() -> None:
    text = "He joined New   York\nTimes in 2001 and left new york later"
    found = locate_all(text, [("new york times", "ORG"), ("new york", "LOC"),
                              ("NEW YORK", "LOC")], labels=LABELS)
    times, first, second = Span(10, 26, "ORG"), Span(10, 20, "LOC"), Span(44, 52, "LOC")
    assert text[times.start:times.end] == "New   York\nTimes"
    # "new york" is exact (the 2nd occurrence); "NEW YORK" only tolerant, and in reading order
    # the next occurrence after that one is... none left after it: the earlier "New   York"
    assert found.spans == [first, times, second]
    assert found.tolerant == [first, times]
    assert found.dropped == []


def test_exact_matches_are_not_reported_as_tolerant() -> None:
    found = locate_all("Paris", [("Paris", "LOC")], labels=LABELS)
    assert found.tolerant == [] and found.spans == [Span(0, 5, "LOC")]


def test_what_cannot_be_placed_is_dropped_with_its_reason_never_raised() -> None:
    entities = [("", "LOC"), ("   ", "PER"), ("Paris", "CITY"), ("Lyon", "LOC"),
                ("Paris", "LOC"), ("Paris", "LOC"), ("Paris", "LOC")]
    spans, dropped = locate("Paris Paris", entities, labels=LABELS)
    assert spans == [Span(0, 5, "LOC"), Span(6, 11, "LOC")]
    assert [d.reason for d in dropped] == ["empty", "empty", "unknown_label", "not_found",
                                           "duplicate"]
    assert dropped[2] == Dropped("Paris", "CITY", "unknown_label")


def test_surrounding_whitespace_of_a_surface_is_ignored() -> None:
    spans, _ = locate("in Paris.", [("  Paris ", "LOC")], labels=LABELS)
    assert spans == [Span(3, 8, "LOC")]


def test_overlapping_entities_of_different_labels_both_come_out() -> None:
    text = "Bank of America Tower"
    spans, dropped = locate(text, [("Bank of America", "ORG"), ("Bank of America Tower", "LOC"),
                                   ("America", "LOC")], labels=LABELS)
    assert spans == [Span(0, 15, "ORG"), Span(0, 21, "LOC"), Span(8, 15, "LOC")]
    assert dropped == []
    validate_spans(text, spans, labels=LABELS)


def test_non_string_entities_from_a_sloppy_answer_are_dropped() -> None:
    spans, dropped = locate("Paris", [(None, "LOC"), ("Paris", None)],  # type: ignore[list-item]
                            labels=LABELS)
    assert spans == [] and [d.reason for d in dropped] == ["empty", "unknown_label"]


# --- offsets and regions ------------------------------------------------------------------


def test_label_studio_offsets_are_code_points() -> None:
    # measured in a real browser (docs/label-studio-findings.md, tests/e2e/test_span_offsets_e2e.py)
    assert to_ls_offsets(EMOJI_TEXT, 28, 33) == (28, 33)
    assert from_ls_offsets(EMOJI_TEXT, 28, 33) == (28, 33)
    assert from_ls_offsets(EMOJI_TEXT, 29, 34) is None  # UTF-16 units: past the end
    for bad in [(-1, 3), (3, 2), (0, 34), ("0", 3), (0, 3.0), (True, 3), (None, 3)]:
        assert from_ls_offsets(EMOJI_TEXT, *bad) is None


def test_a_region_holds_label_studio_offsets_and_the_covered_text() -> None:
    region = span_region(EMOJI_TEXT, Span(28, 33, "LOC"), from_name="label", to_name="text",
                         score=0.5)
    assert region == {"from_name": "label", "to_name": "text", "type": "labels", "score": 0.5,
                      "value": {"start": 28, "end": 33, "text": "Paris", "labels": ["LOC"]}}
    assert read_region(EMOJI_TEXT, region, from_name="label") == Span(28, 33, "LOC")
    assert "score" not in span_region(EMOJI_TEXT, Span(0, 2, "PER"), from_name="label",
                                      to_name="text")


def test_regions_group_labels_of_one_range_and_read_back_one_span_per_label() -> None:
    spans = [Span(5, 10, "PER"), Span(5, 10, "LOC"), Span(0, 2, "PER"), Span(0, 2, "PER")]
    regions = span_regions(EMOJI_TEXT, spans, from_name="label", to_name="text",
                           scores={Span(5, 10, "PER"): 0.9, Span(5, 10, "LOC"): 0.4})
    assert [r["value"]["labels"] for r in regions] == [["PER"], ["LOC", "PER"]]  # type: ignore[index]
    assert "score" not in regions[0] and regions[1]["score"] == 0.4
    back = [s for r in regions for s in read_region_spans(EMOJI_TEXT, r, from_name="label") or []]
    assert back == sorted(set(spans))
    assert read_region(EMOJI_TEXT, regions[1], from_name="label") is None  # two labels


def _region(**value: object) -> dict[str, object]:
    base: dict[str, object] = {"start": 5, "end": 10, "text": "Paris", "labels": ["LOC"]}
    base.update(value)
    return {"from_name": "label", "to_name": "text", "type": "labels", "value": base}


@pytest.mark.parametrize("region", [
    _region(start=6, end=11),  # UTF-16 offsets of "Paris": the text does not match
    _region(text="Paris!"), _region(start="5"), _region(end=99), _region(start=10, end=5),
    _region(start=5, end=5, text=""), _region(labels=[]), _region(labels="LOC"),
    _region(labels=[1]), {"from_name": "other", "type": "labels", "value": {}},
    {"from_name": "label", "type": "choices", "value": {"choices": ["x"]}},
    {"from_name": "label", "type": "labels", "value": None}, None, "region",
])
def test_a_malformed_region_reads_as_none(region: object) -> None:
    assert read_region(EMOJI_TEXT, region, from_name="label") is None
    assert read_region_spans(EMOJI_TEXT, region, from_name="label") is None


def test_a_region_without_text_reads_by_its_offsets() -> None:
    region = _region()
    del region["value"]["text"]  # type: ignore[attr-defined]
    assert read_region(EMOJI_TEXT, region, from_name="label") == Span(5, 10, "LOC")
