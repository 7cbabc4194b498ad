"""LLM outcomes as Label Studio prediction results."""

from __future__ import annotations

from typing import Any

from labelloop.labelconfig.results import choices_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.types import LabelOutcome


def to_prediction_result(schema: LabelSchema, outcome: LabelOutcome) -> list[dict[str, Any]]:
    """The validated ``result`` list for ``outcome``: one choices region whose ``score`` is the
    outcome's confidence (no score when it is unknown). A failed outcome gives ``[]``."""
    if outcome.labels is None:
        return []
    score = None if outcome.confidence is None else min(1.0, max(0.0, outcome.confidence))
    return choices_result(schema, list(outcome.labels), score=score)
