"""LLM spans as stored, and read back.

A span outcome is stored as an LLM label (``llm_labels``, under ``LLMLabeler.version_for``)
whose ``spans`` column (migration 13) holds::

    {"spans": [{"start": 0, "end": 5, "label": "PER", "score": 0.93}, ...],
     "dropped": [{"text": "Paris", "label": "LOC", "reason": "not_in_text"}, ...]}

Offsets are code points into the task's text (:class:`~labelloop.labelconfig.spans.Span`);
``labels`` holds the distinct span labels, ``confidence`` the mean span score. The pre-label
resolver and the quality report read them back with :func:`stored_spans` and
:func:`stored_span_scores`; a row whose spans cannot be read gives none (never an exception).
"""

from __future__ import annotations

from typing import Any

from labelloop.labelconfig.spans import Span
from labelloop.llm.types import DroppedEntity, LabelOutcome
from labelloop.storage.records_llm import LlmLabel


def spans_json(outcome: LabelOutcome) -> dict[str, Any] | None:
    """The ``spans`` column of an outcome (None for classification and failures)."""
    if outcome.spans is None:
        return None
    return {"spans": [{"start": s.span.start, "end": s.span.end, "label": s.span.label,
                       "score": s.score} for s in outcome.spans],
            "dropped": [d.to_json() for d in outcome.dropped]}


def _rows(row: LlmLabel) -> list[dict[str, Any]]:
    data = row.spans if isinstance(row.spans, dict) else None
    items = data.get("spans") if data else None
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def _span(x: dict[str, Any]) -> Span | None:
    start, end, label = x.get("start"), x.get("end"), x.get("label")
    if type(start) is not int or type(end) is not int or not isinstance(label, str):
        return None
    return Span(start, end, label)


def stored_spans(row: LlmLabel) -> list[Span] | None:
    """The LLM's spans of one stored label, sorted; None when the LLM failed on the task or
    the row holds no spans (a classification label). Validate them against the task's text
    before use (the label layer's ``build_result`` does)."""
    if row.labels is None or row.spans is None:
        return None
    return sorted({s for s in map(_span, _rows(row)) if s is not None})


def stored_span_scores(row: LlmLabel) -> dict[Span, float]:
    """Each stored span's score, where known."""
    out: dict[Span, float] = {}
    for x in _rows(row):
        span, score = _span(x), x.get("score")
        if span is not None and isinstance(score, (int, float)) and not isinstance(score, bool):
            out[span] = float(score)
    return out


def stored_dropped(row: LlmLabel) -> list[DroppedEntity]:
    """What the LLM named that gave no span, and why."""
    data = row.spans if isinstance(row.spans, dict) else None
    items = data.get("dropped") if data else None
    return [DroppedEntity(str(d.get("text", "")), str(d.get("label", "")),
                          str(d.get("reason", "")))
            for d in (items if isinstance(items, list) else []) if isinstance(d, dict)]
