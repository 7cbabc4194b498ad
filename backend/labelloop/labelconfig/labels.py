"""The types of the label layer: canonical labels and the :class:`TaskKind` contract.

See :mod:`labelloop.labelconfig.kinds` for what the contract means and the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.control_tags import ControlTag

from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import LabelSchema, TaskType
from labelloop.labelconfig.spans import Span

Region = dict[str, Any]
ChoiceLabel = tuple[str, ...]
SpanLabel = tuple[Span, ...]
Label = ChoiceLabel | SpanLabel


@dataclass(frozen=True)
class Unusable:
    """Why a result gives no label for the schema's control (``without_label``,
    ``label_not_in_config``, ``several_choices_in_single_choice``, ``ambiguous_regions``,
    ``invalid_span`` …): counted and skipped by the caller."""

    reason: str


class TaskKind(Protocol):
    name: TaskType
    agreement: str  # the agreement measure its quality report leads with

    def parse(self, li: LabelInterface, control: ControlTag, *,
              instructions: str | None) -> LabelSchema | str:
        """The schema served for ``control``, or why it is not served."""

    def read(self, schema: LabelSchema, result: object, *,
             text: str | None) -> Label | Unusable:
        """The canonical label of a result for the schema's control(s)."""

    def build(self, schema: LabelSchema, label: Label, *, text: str | None,
              score: float | None = None,
              region_scores: Mapping[Span, float] | None = None) -> list[Region]:
        """The validated result for ``label`` (raises :class:`InvalidInput` if it is not)."""

    def validate(self, schema: LabelSchema, result: object, *, text: str | None) -> None:
        """Raise :class:`InvalidInput` unless ``result`` may be sent to Label Studio."""

    def row(self, schema: LabelSchema, label: Label) -> np.ndarray | None:
        """The label as a one-hot / multi-hot row over ``schema.labels`` (None: no rows)."""


def check_score(i: int, score: object) -> None:
    """A region's or prediction's ``score`` is a number in [0, 1] when present."""
    if score is None:
        return
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
        raise InvalidInput(f"region {i} has a score outside [0, 1]: {score!r}")
