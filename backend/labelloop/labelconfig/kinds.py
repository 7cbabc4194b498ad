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

import dataclasses
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
from labelloop.labelconfig.triplets import TRIPLETS, is_triplet_config
from labelloop.modalities import TaskInput, served_object_tags

__all__ = ["KINDS", "Label", "Region", "TaskInput", "TaskKind", "Unusable", "build_result",
           "is_valid_result", "kind_of", "label_row", "parse_config", "read_label", "task_input",
           "task_text", "validate_result"]

KINDS: Mapping[str, TaskKind] = {CLASSIFICATION.name: CLASSIFICATION, SPANS.name: SPANS,
                                 TRIPLETS.name: TRIPLETS}
CONTROL_TAGS: Mapping[str, str] = {"Choices": "text_classification", "Labels": "text_spans"}
# a <Choices> in a config showing $anchor, $first and $second is a similarity judgement
TRIPLET_TAGS: Mapping[str, str] = {"Choices": TRIPLETS.name}
# controls no task type serves yet, with what they draw (the reason /setup and /status give)
NOT_SERVED_YET: Mapping[str, str] = {
    "RectangleLabels": "bounding boxes", "Rectangle": "bounding boxes",
    "PolygonLabels": "polygons", "Polygon": "polygons",
    "KeyPointLabels": "key points", "KeyPoint": "key points",
    "BrushLabels": "brush masks", "Brush": "brush masks", "BitmaskLabels": "masks",
    "Bitmask": "masks", "MagicWand": "masks", "EllipseLabels": "ellipses", "Ellipse": "ellipses",
    "VideoRectangle": "video boxes", "TimelineLabels": "timeline segments",
}


def _not_served(control: Any) -> str:
    """Why ``control`` (a tag no task type parses) is not served."""
    objects = ", ".join(sorted({o.tag for o in (control.objects or [])}))
    where = f"{control.tag} '{control.name}'" + (f" on {objects}" if objects else "")
    what = NOT_SERVED_YET.get(control.tag)
    return f"{where}: {what} are not served yet" if what else f"{where} is not served"


def kind_of(schema: LabelSchema) -> TaskKind:
    """The task type of a supported schema."""
    if not schema.supported or schema.task_type is None:
        raise InvalidInput(f"the project's config is not supported: {schema.reason}")
    return KINDS[schema.task_type]


def parse_config(li: LabelInterface, *, instructions: str | None = None) -> LabelSchema:
    """The schema of the first control a task type serves; the rest listed (``other_controls``)
    with why each is not served (``not_served``), or, when none is served, reported."""
    controls = list(li.controls)
    if not controls:
        return LabelSchema(False, "the config has no control tag (nothing to label)")
    reasons: dict[str, str] = {}  # control name -> why it is not served
    tags = TRIPLET_TAGS if is_triplet_config(li) else CONTROL_TAGS
    for control in controls:
        name = tags.get(control.tag)
        if name is None:
            reasons[control.name] = _not_served(control)
            continue
        got = KINDS[name].parse(li, control, instructions=instructions)
        if isinstance(got, str):
            reasons[control.name] = got
            continue
        served = set(got.controls)
        rest = [c for c in controls if c.name not in served]
        return dataclasses.replace(
            got, other_controls=tuple(f"{c.tag}:{c.name}" for c in rest),
            not_served=tuple(reasons.get(c.name) or _other(li, c, got, instructions)
                             for c in rest))
    objects = ", ".join(f"<{t}>" for t in served_object_tags())
    return LabelSchema(
        False,
        f"labelloop serves <Choices> (single or multiple) on {objects}, and <Labels> on <Text>, "
        "so far; this config has: " + "; ".join(reasons.values()),
        not_served=tuple(reasons.values()),
    )


def _other(li: LabelInterface, control: Any, served: LabelSchema,
           instructions: str | None) -> str:
    """Why a control after the served one is not served: the reason its task type gives, or
    that one control is served per project."""
    name = (TRIPLET_TAGS if is_triplet_config(li) else CONTROL_TAGS).get(control.tag)
    if name is None:
        return _not_served(control)
    got = KINDS[name].parse(li, control, instructions=instructions)
    if isinstance(got, str):
        return got
    return (f"{control.tag} '{control.name}' is not served: labelloop serves one control per "
            f"project, here '{served.from_name}'")


def task_input(schema: LabelSchema, data: Mapping[str, Any] | None) -> TaskInput | None:
    """What a task is about (its ``$field``): its text, or its media value (a string: upload
    path, URL, ``data:`` URL, cloud URI); None when the task lacks it."""
    if not data or schema.data_key is None:
        return None
    value = data.get(schema.data_key)
    if value is None:
        return None
    if schema.modality == "text":
        return TaskInput("text", value if isinstance(value, str) else str(value))
    if not isinstance(value, str) or not value.strip():
        return None  # a media value is a string (a list of images is not served)
    return TaskInput(schema.modality, value.strip())


def task_text(schema: LabelSchema, data: Mapping[str, Any] | None) -> str | None:
    """The text a task is about (its ``$field``), or None when the task lacks it or its input
    is not a text (an image, a recording: see :func:`task_input`), so no text path (the text
    LLM, the screening model, /classify) ever takes a media value for a text."""
    got = task_input(schema, data)
    return got.value if got is not None and got.is_text else None


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
