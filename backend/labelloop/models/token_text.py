"""Tokens with code-point offsets, and spans <-> BIO tags on them.

The token model sees a text as a sequence of :class:`Token` records whose ``start``/``end`` are
Python code points into the text (the unit of :class:`~labelloop.labelconfig.spans.Span`), so a
predicted tag sequence turns back into spans by reading offsets, never by searching the text.

:func:`tokenize` splits on white space, then cuts words (letters, digits, ``_``) from
punctuation. Tweets need four more rules:

* a URL (``http://``, ``https://``, ``www.``) is one token, less trailing punctuation;
* an ``@mention`` or ``#hashtag`` is one token with its sign;
* a combining mark (``e`` + U+0301), a variation selector, a skin-tone modifier, a ZWJ sequence
  (👩‍💻) and a flag (two regional indicators) stay with the character they modify, so a token
  never splits what a reader sees as one character;
* a run of the same punctuation (``...``, ``!!!``) is one token.

No token holds white space, so tokens are at least as fine as any white-space tokenisation
(WNUT-16's spans, on its tokens joined by single spaces, always align).

:func:`spans_to_bio` snaps a span that starts or ends inside a token *outward* to that token's
edges and counts it; spans that overlap one already tagged (BIO has no overlaps) are dropped
and counted. :func:`bio_to_spans` reads tags back (an ``I-x`` that does not continue an ``x``
starts a new span, as conlleval does).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from labelloop.labelconfig.spans import Span

OUTSIDE = "O"
_URL = re.compile(r"(?:https?://|www\.)[^\s]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"…»”’"
_ZWJ = "\u200d"


@dataclass(frozen=True, order=True)
class Token:
    start: int
    end: int


@dataclass(frozen=True)
class BioTags:
    """Tags of one text and what the conversion had to change."""

    tags: tuple[str, ...]
    snapped: int  # spans widened to token edges
    dropped: int  # spans left out: overlapping an earlier span, or covering no token


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_modifier(ch: str) -> bool:
    """Characters that belong to the one before them."""
    return (unicodedata.category(ch).startswith("M")  # combining marks, variation selectors
            or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones
            or "\U000e0020" <= ch <= "\U000e007f")  # emoji tag sequences


def _is_regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _extend(text: str, j: int) -> int:
    """Past the modifiers, ZWJ continuations and flag halves that follow position ``j``."""
    n = len(text)
    while j < n:
        ch = text[j]
        if _is_modifier(ch):
            j += 1
        elif ch == _ZWJ:
            j += 2 if j + 1 < n and not text[j + 1].isspace() else 1
        else:
            break
    return j


def _word_end(text: str, j: int) -> int:
    n = len(text)
    while j < n and (_is_word(text[j]) or _is_modifier(text[j])):
        j += 1
    return j


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` in order (see the module docstring)."""
    tokens: list[Token] = []
    n, i = len(text), 0
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        url = _URL.match(text, i)
        if url:
            j = url.end()
            while j > i + 1 and text[j - 1] in _URL_TRAILING:
                j -= 1
        elif _is_word(ch) or (ch in "@#" and i + 1 < n and _is_word(text[i + 1])):
            j = _word_end(text, i + 1)
        else:
            j = _extend(text, i + 1)
            if _is_regional(ch) and j < n and _is_regional(text[j]):
                j = _extend(text, j + 1)
            elif not unicodedata.category(ch).startswith("S") and ch not in _ZWJ:
                while j < n and text[j] == ch:  # "..." / "!!!"
                    j += 1
        tokens.append(Token(i, j))
        i = j
    return tokens


def token_texts(text: str, tokens: Iterable[Token]) -> list[str]:
    return [text[t.start:t.end] for t in tokens]


def spans_to_bio(tokens: Sequence[Token], spans: Iterable[Span]) -> BioTags:
    """BIO tags of ``tokens`` for ``spans`` (processed in order: start, then longest first)."""
    tags = [OUTSIDE] * len(tokens)
    starts = [t.start for t in tokens]
    snapped = dropped = 0
    for span in sorted(set(spans), key=lambda s: (s.start, -s.end, s.label)):
        # tokens overlapping [start, end): the first whose end is past start, up to the last
        # whose start is before end
        lo = bisect.bisect_right(starts, span.start) - 1
        if lo < 0 or tokens[lo].end <= span.start:
            lo += 1
        hi = bisect.bisect_left(starts, span.end) - 1
        if lo > hi or span.end <= span.start:
            dropped += 1
            continue
        if any(tags[k] != OUTSIDE for k in range(lo, hi + 1)):
            dropped += 1
            continue
        if tokens[lo].start != span.start or tokens[hi].end != span.end:
            snapped += 1
        tags[lo] = f"B-{span.label}"
        for k in range(lo + 1, hi + 1):
            tags[k] = f"I-{span.label}"
    return BioTags(tuple(tags), snapped, dropped)


def bio_to_spans(tokens: Sequence[Token], tags: Sequence[str]) -> list[Span]:
    """The spans the tags mark, in order; offsets are the tokens' edges."""
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    spans: list[Span] = []
    label: str | None = None
    first = 0
    for k, tag in enumerate([*tags, OUTSIDE]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == label
        if label is not None and not continues:
            spans.append(Span(tokens[first].start, tokens[k - 1].end, label))
            label = None
        if prefix in ("B", "I") and not continues:
            label, first = name, k
    return spans


def bio_tag_set(labels: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-a", "I-a", "B-b", ...)`` in label order."""
    return (OUTSIDE, *(f"{p}-{label}" for label in labels for p in ("B", "I")))
