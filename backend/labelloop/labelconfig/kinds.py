"""The label layer: the one contract every task type implements, and the registry of them.

A task type (:class:`TaskKind`) is the only code that knows the shape of its labels. Per type it

- parses a control of the labeling config into a :class:`~labelloop.labelconfig.schema.
  LabelSchema` (:meth:`TaskKind.parse`), or says why it cannot;
- turns a Label Studio ``result`` (an annotation's or a prediction's) into a **canonical label**
  (:meth:`TaskKind.read`): for classification a tuple of output labels in config order (one for
  single choice), for spans a sorted tuple of :class:`~labelloop.labelconfig.spans.Span` (empty:
  "no entities", a label like any other); an unusable result is an :class:`Unusable` with its
  reason, which callers count and skip;
- builds a prediction ``result`` from a canonical label and validates any result before it
  leaves labelloop (:meth:`TaskKind.build`, :meth:`TaskKind.validate`): Label Studio checks
  neither labels nor span offsets on its import paths, so nothing unchecked is ever sent;
- turns canonical labels into the rows the models train on (:meth:`TaskKind.row`; None for
  types whose model does not train on class rows) and names its agreement measure.

Everything else reads labels through :func:`read_label`, :func:`build_result`,
:func:`validate_result`; the one consensus rule is :mod:`labelloop.labelconfig.consensus`, the one
pre-label resolver :mod:`labelloop.labelconfig.prelabel`. A new task type is a new module with a
:class:`TaskKind` (:mod:`labelloop.labelconfig.labels`) and a line in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from label_studio_sdk.label_interface import LabelInterface

from labelloop.errors import InvalidInput
from labelloop.labelconfig.classification import CLASSIFICATION
from labelloop.labelconfig.labels import Label, Region, TaskKind, Unusable
from labelloop.labelconfig.ner import SPANS
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span

__all__ = ["KINDS", "Label", "Region", "TaskKind", "Unusable", "build_result", "is_valid_result",
           "kind_of", "label_row", "parse_config", "read_label", "task_text", "validate_result"]

KINDS: Mapping[str, TaskKind] = {CLASSIFICATION.name: CLASSIFICATION, SPANS.name: SPANS}
CONTROL_TAGS: Mapping[str, str] = {"Choices": "text_classification", "Labels": "text_spans"}


def kind_of(schema: LabelSchema) -> TaskKind:
    """The task type of a supported schema."""
    if not schema.supported or schema.task_type is None:
        raise InvalidInput(f"the project's config is not supported: {schema.reason}")
    return KINDS[schema.task_type]


def parse_config(li: LabelInterface, *, instructions: str | None = None) -> LabelSchema:
    """The schema of the first control a task type serves; the rest listed or reported."""
    controls = list(li.controls)
    if not controls:
        return LabelSchema(False, "the config has no control tag (nothing to label)")
    reasons: list[str] = []
    for control in controls:
        name = CONTROL_TAGS.get(control.tag)
        if name is None:
            reasons.append(f"{control.tag} '{control.name}'")
            continue
        got = KINDS[name].parse(li, control, instructions=instructions)
        if isinstance(got, str):
            reasons.append(got)
            continue
        served = set(got.controls)
        others = tuple(f"{c.tag}:{c.name}" for c in controls if c.name not in served)
        return LabelSchema(**{**got.to_json(), "choices": got.choices, "other_controls": others})
    return LabelSchema(
        False,
        "labelloop serves text classification (<Choices> on <Text>) and text spans (<Labels> "
        "on <Text>) so far; this config has: " + "; ".join(reasons),
    )


def task_text(schema: LabelSchema, data: Mapping[str, Any] | None) -> str | None:
    """The text a task is about (its ``$field``), or None when the task lacks it."""
    if not data or schema.data_key is None:
        return None
    value = data.get(schema.data_key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def read_label(schema: LabelSchema, result: object, *, text: str | None = None) -> Label | Unusable:
    return kind_of(schema).read(schema, result, text=text)


def build_result(schema: LabelSchema, label: Label, *, text: str | None = None,
                 score: float | None = None,
                 region_scores: Mapping[Span, float] | None = None) -> list[Region]:
    return kind_of(schema).build(schema, label, text=text, score=score,
                                 region_scores=region_scores)


def validate_result(schema: LabelSchema, result: object, *, text: str | None = None) -> None:
    kind_of(schema).validate(schema, result, text=text)


def is_valid_result(schema: LabelSchema, result: object, *, text: str | None = None) -> bool:
    try:
        validate_result(schema, result, text=text)
    except InvalidInput:
        return False
    return True


def label_row(schema: LabelSchema, label: Label) -> np.ndarray | None:
    return kind_of(schema).row(schema, label)
