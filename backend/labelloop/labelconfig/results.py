"""Building and validating prediction results: thin names over the label layer
(:mod:`labelloop.labelconfig.kinds`), kept for the classification call sites.

Nothing leaves labelloop for Label Studio without passing :func:`validate_result`: Label Studio
itself accepts a result with a wrong ``from_name``, label or span offset and silently never shows
it (or shows it wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

from labelloop.labelconfig.kinds import (
    Region,
    build_result,
    is_valid_result,
    task_text,
    validate_result,
)
from labelloop.labelconfig.schema import LabelSchema

__all__ = ["choices_result", "is_valid_result", "task_text", "validate_result"]


def choices_result(schema: LabelSchema, labels: Sequence[str], *,
                   score: float | None = None) -> list[Region]:
    """The validated ``result`` choosing ``labels`` (output values) in a classification schema."""
    order = {c: i for i, c in enumerate(schema.labels)}
    chosen = tuple(sorted(dict.fromkeys(labels), key=lambda c: order.get(c, len(order))))
    return build_result(schema, chosen, score=score)
