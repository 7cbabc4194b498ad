"""Building and validating prediction results for a :class:`LabelSchema`.

Nothing leaves labelloop for Label Studio without passing :func:`validate_result`: Label Studio
itself accepts a result with a wrong ``from_name`` or label and silently never shows it.
"""

from __future__ import annotations

from typing import Any

from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import LabelSchema


def choices_result(
    schema: LabelSchema, labels: list[str], *, score: float | None = None
) -> list[dict[str, Any]]:
    """The ``result`` list for choosing ``labels`` (output values) in a classification schema."""
    region: dict[str, Any] = {
        "from_name": schema.from_name,
        "to_name": schema.to_name,
        "type": "choices",
        "value": {"choices": list(labels)},
    }
    if score is not None:
        region["score"] = float(score)
    result = [region]
    validate_result(schema, result)
    return result


def validate_result(schema: LabelSchema, result: Any) -> None:
    """Raise :class:`InvalidInput` unless ``result`` is a valid prediction for ``schema``.

    An empty list is valid (a prediction that only carries a score, used to order the queue).
    """
    if not schema.supported:
        raise InvalidInput(f"the project's config is not supported: {schema.reason}")
    if not isinstance(result, list):
        raise InvalidInput("a prediction result must be a list of regions")
    allowed = set(schema.labels)
    for i, region in enumerate(result):
        if not isinstance(region, dict):
            raise InvalidInput(f"region {i} is not an object")
        if region.get("from_name") != schema.from_name or region.get("to_name") != schema.to_name:
            raise InvalidInput(
                f"region {i} targets {region.get('from_name')!r}->{region.get('to_name')!r}, "
                f"expected {schema.from_name!r}->{schema.to_name!r}"
            )
        if region.get("type") != "choices":
            raise InvalidInput(f"region {i} has type {region.get('type')!r}, expected 'choices'")
        value = region.get("value")
        chosen = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(chosen, list) or not chosen:
            raise InvalidInput(f"region {i} has no choices")
        bad = [c for c in chosen if c not in allowed]
        if bad:
            raise InvalidInput(f"region {i} uses labels outside the config: {bad}")
        if len(set(chosen)) != len(chosen):
            raise InvalidInput(f"region {i} repeats a label")
        if not schema.multiple and len(chosen) != 1:
            raise InvalidInput(f"region {i} has {len(chosen)} choices in a single-choice config")
        score = region.get("score")
        if score is not None and not (isinstance(score, (int, float)) and 0.0 <= score <= 1.0):
            raise InvalidInput(f"region {i} has a score outside [0, 1]: {score!r}")


def is_valid_result(schema: LabelSchema, result: Any) -> bool:
    try:
        validate_result(schema, result)
    except InvalidInput:
        return False
    return True


def task_text(schema: LabelSchema, data: dict[str, Any] | None) -> str | None:
    """The text a classification task is about, or None when the task lacks it."""
    if not data or schema.data_key is None:
        return None
    value = data.get(schema.data_key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
