"""Synthetic stand-ins for an LLM: noisy label distributions made from gold labels.

Used by tests and benchmarks when no LLM server is at hand. Each item's "LLM answer" is its
gold class with probability ``accuracy``, else another class chosen uniformly; the answer gets a
confidence drawn uniformly from ``confidence`` and the remaining mass is spread over the other
classes. ``failure_rate`` of the rows are NaN (the LLM gave no usable answer).

For span data, :func:`noisy_llm_spans` does the same with spans: its mistakes (missed spans,
wrong labels, cut spans) fall on the spans :func:`span_hardness` calls hard, as an LLM's do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span
from labelloop.models.token_text import tokenize


def noisy_llm_distributions(y: np.ndarray, n_classes: int, *, accuracy: float,
                            rng: np.random.Generator,
                            confidence: tuple[float, float] = (0.55, 0.95),
                            failure_rate: float = 0.0) -> np.ndarray:
    """``(len(y), n_classes)`` label distributions, right about ``accuracy`` of the time."""
    t = np.asarray(y, dtype=np.int64)
    if not 0.0 <= accuracy <= 1.0 or not 0.0 <= failure_rate <= 1.0:
        raise InvalidInput("accuracy and failure_rate must be in [0, 1]")
    lo, hi = confidence
    if not 0.0 <= lo <= hi <= 1.0 or n_classes < 2:
        raise InvalidInput("confidence must be 0 <= low <= high <= 1, with >= 2 classes")
    n = t.size
    wrong = rng.random(n) >= accuracy
    shift = rng.integers(1, n_classes, size=n)
    answer = np.where(wrong, (t + shift) % n_classes, t)
    conf = rng.uniform(lo, hi, size=n)
    rest = rng.dirichlet(np.ones(n_classes - 1), size=n) * (1.0 - conf)[:, None]
    out = np.empty((n, n_classes))
    for i in range(n):
        others = np.delete(np.arange(n_classes), answer[i])
        out[i, others] = rest[i]
        out[i, answer[i]] = conf[i]
    out[rng.random(n) < failure_rate] = np.nan
    return out


def span_hardness(texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[list[float]]:
    """Per gold span, how hard it is to find, in [0, 1], from the data alone: +0.5 when its
    surface has no capital letter (lower-cased entities in tweets), +0.25 when its label is
    rarer than the median label, +0.25 when its surface occurs once in the whole corpus."""
    surfaces = Counter(t[s.start:s.end].lower() for t, f in zip(texts, spans) for s in f)
    per_label = Counter(s.label for f in spans for s in f)
    median = float(np.median(list(per_label.values()))) if per_label else 0.0
    return [[0.5 * (not any(c.isupper() for c in t[s.start:s.end]))
             + 0.25 * (per_label[s.label] < median)
             + 0.25 * (surfaces[t[s.start:s.end].lower()] == 1) for s in f]
            for t, f in zip(texts, spans)]


def noisy_llm_spans(texts: Sequence[str], spans: Sequence[Sequence[Span]], *,
                    labels: Sequence[str], rng: np.random.Generator,
                    find: tuple[float, float] = (0.95, 0.35),
                    label_right: tuple[float, float] = (0.95, 0.5),
                    cut: float = 0.3, extra: float = 0.15,
                    failure_rate: float = 0.0) -> list[list[Span] | None]:
    """An LLM's spans made from the gold ones, its mistakes falling on hard spans
    (:func:`span_hardness` ``h``): a span is found with probability ``find[0]`` at ``h = 0``
    down to ``find[1]`` at ``h = 1`` (linear), keeps its label likewise with ``label_right``
    (else another label), and with probability ``cut * h`` loses all but its first word. With
    probability ``extra`` per text, a capitalised token outside every gold span becomes a span
    of a random label. ``failure_rate`` of the texts get None (no answer). Every span is valid
    on its text; each text's spans are sorted and distinct."""
    for lo, hi in (find, label_right):
        if not (0.0 <= hi <= 1.0 and 0.0 <= lo <= 1.0):
            raise InvalidInput("find and label_right must hold probabilities")
    if not (0.0 <= cut <= 1.0 and 0.0 <= extra <= 1.0 and 0.0 <= failure_rate <= 1.0):
        raise InvalidInput("cut, extra and failure_rate must be in [0, 1]")
    if len(labels) < 1:
        raise InvalidInput("labels must not be empty")
    hardness = span_hardness(texts, spans)
    out: list[list[Span] | None] = []
    for text, gold, hard in zip(texts, spans, hardness, strict=True):
        if rng.random() < failure_rate:
            out.append(None)
            continue
        found: set[Span] = set()
        for s, h in zip(gold, hard):
            if rng.random() >= find[0] + (find[1] - find[0]) * h:
                continue
            label = s.label
            if len(labels) > 1 and rng.random() >= label_right[0] + (
                    label_right[1] - label_right[0]) * h:
                label = str(rng.choice([x for x in labels if x != s.label]))
            end = s.end
            first = text[s.start:s.end].split(" ", 1)[0]
            if first and rng.random() < cut * h:
                end = s.start + len(first)
            found.add(Span(s.start, end, label))
        if rng.random() < extra:
            free = [t for t in tokenize(text) if text[t.start].isupper()
                    and not any(s.start < t.end and t.start < s.end for s in gold)]
            if free:
                t = free[int(rng.integers(len(free)))]
                found.add(Span(t.start, t.end, str(rng.choice(list(labels)))))
        out.append(sorted(found))
    return out
