"""Property tests of spans.py: whatever the text and whatever the LLM answers, no invalid span
comes out, and every region labelloop builds reads back as the span it was built from."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import (
    Span,
    from_ls_offsets,
    is_valid_span,
    locate_all,
    read_region,
    read_region_spans,
    span_region,
    span_regions,
    to_ls_offsets,
    validate_spans,
)

LABELS = ("PER", "ORG", "LOC")
# emoji (non-BMP, a ZWJ family, a flag), combining marks, CJK, letters with case, whitespace of
# every kind, word joiners and punctuation
PIECES = ["Paris", "paris", "New York", "Ünïcode", "café", "cafe\u0301", "😀", "👨\u200d👩\u200d👧",
          "\U0001F1EB\U0001F1F7", "北京", "上海", "ß", "İ", "a", "b", " ", "  ", "\n", "\r\n", "\t",
          "\u00a0", ",", ".", "-", "_", "'", "\u0301"]
texts = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)
labels = st.sampled_from([*LABELS, "CITY", "", "per"])
settings_ = settings(max_examples=300, deadline=None)


@st.composite
def answers(draw: st.DrawFn, text: str) -> list[tuple[str, str]]:
    """An LLM's entities: substrings of the text (maybe case/space-mangled), strings not in it,
    repeats of earlier ones, empties; labels in and out of the set."""
    out: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["substring", "mangled", "other", "repeat", "empty"]))
        if kind in ("substring", "mangled") and text:
            i = draw(st.integers(0, len(text) - 1))
            surface = text[i:draw(st.integers(i + 1, len(text)))]
            if kind == "mangled":
                surface = " ".join(surface.upper().split()).replace(" ", draw(
                    st.sampled_from([" ", "  ", "\n"])))
        elif kind == "repeat" and out:
            surface = draw(st.sampled_from(out))[0]
        elif kind == "empty":
            surface = draw(st.sampled_from(["", " ", "\n"]))
        else:
            surface = draw(texts)
        out.append((surface, draw(labels)))
    return out


@st.composite
def text_and_answer(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    text = draw(texts)
    return text, draw(answers(text))


@settings_
@given(text_and_answer())
def test_locate_never_yields_an_invalid_span(case: tuple[str, list[tuple[str, str]]]) -> None:
    text, entities = case
    found = locate_all(text, entities, labels=LABELS)
    validate_spans(text, found.spans, labels=LABELS)  # raises on any invalid or repeated span
    assert found.spans == sorted(set(found.spans))
    assert len(found.spans) + len(found.dropped) == len(entities)
    assert set(found.tolerant) <= set(found.spans)
    for span in set(found.spans) - set(found.tolerant):  # exact matches cover the LLM's words
        assert (text[span.start:span.end], span.label) in {(s.strip(), x) for s, x in entities}
    for span in found.tolerant:  # tolerant ones: the same words, spaced or cased differently
        covered = text[span.start:span.end]
        assert any(re.fullmatch(r"\s+".join(map(re.escape, s.split())), covered, re.IGNORECASE)
                   for s, x in entities if x == span.label and s.strip())
    for dropped in found.dropped:
        if dropped.reason == "not_found":  # a substring with a valid label is always found
            assert dropped.text not in text


@settings_
@given(text_and_answer())
def test_every_region_built_reads_back_as_its_spans(
        case: tuple[str, list[tuple[str, str]]]) -> None:
    text, entities = case
    spans = locate_all(text, entities, labels=LABELS).spans
    for span in spans:
        region = span_region(text, span, from_name="label", to_name="text", score=0.5)
        assert read_region(text, region, from_name="label") == span
        value = region["value"]
        assert isinstance(value, dict) and value["text"] == text[span.start:span.end]
        assert from_ls_offsets(text, *to_ls_offsets(text, span.start, span.end)) == (
            span.start, span.end)
    regions = span_regions(text, spans, from_name="label", to_name="text")
    back = [s for r in regions for s in read_region_spans(text, r, from_name="label") or []]
    assert back == spans
    assert len({(r["value"]["start"], r["value"]["end"]) for r in regions}) == len(regions)  # type: ignore[index]


junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 60), st.floats(allow_nan=True),
                 st.text(max_size=5), st.lists(st.sampled_from([*LABELS, "X", 1]), max_size=3))


@settings_
@given(texts, junk, junk, junk, junk, st.sampled_from(["label", "other"]))
def test_a_region_read_back_is_valid_or_none(text: str, start: object, end: object,
                                             said: object, labs: object, name: str) -> None:
    region = {"from_name": name, "to_name": "text", "type": "labels",
              "value": {"start": start, "end": end, "text": said, "labels": labs}}
    spans = read_region_spans(text, region, from_name="label")
    if spans is not None:
        assert spans and all(0 <= s.start < s.end <= len(text) for s in spans)
        assert said is None or said == text[spans[0].start:spans[0].end]
    offsets = from_ls_offsets(text, start, end)
    assert offsets is None or 0 <= offsets[0] <= offsets[1] <= len(text)


@settings_
@given(texts, st.lists(st.builds(Span, st.integers(-3, 40), st.integers(-3, 40), labels),
                       max_size=6))
def test_validate_spans_raises_exactly_when_a_span_is_invalid_or_repeated(
        text: str, spans: list[Span]) -> None:
    bad = any(not is_valid_span(text, s, labels=LABELS) for s in spans) \
        or len(set(spans)) < len(spans)
    if bad:
        with pytest.raises(InvalidInput):
            validate_spans(text, spans, labels=LABELS)
    else:
        validate_spans(text, spans, labels=LABELS)
