"""LLM outcomes as Label Studio prediction results."""

from __future__ import annotations

from typing import Any

from labelloop.labelconfig.kinds import build_result
from labelloop.labelconfig.results import choices_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.types import LabelOutcome


def to_prediction_result(schema: LabelSchema, outcome: LabelOutcome, *,
                         text: str | None = None) -> list[dict[str, Any]]:
    """The validated ``result`` list for ``outcome``: for classification one choices region
    whose ``score`` is the outcome's confidence (no score when it is unknown); for text spans
    one ``labels`` region per span (``text``, the task's text, is then required), each with its
    span's score where known. A failed outcome gives ``[]``."""
    if outcome.labels is None:
        return []
    score = None if outcome.confidence is None else min(1.0, max(0.0, outcome.confidence))
    if schema.task_type == "text_spans":
        scores = {s: min(1.0, max(0.0, v)) for s, v in outcome.span_scores.items()}
        return build_result(schema, tuple(outcome.span_list), text=text, score=score,
                            region_scores=scores)
    return choices_result(schema, list(outcome.labels), score=score)
