"""Similarity judgements (issue 16 part 4): an anchor and two candidates, "which is closer?".

A config is a triplet config when it has three ``<Text>`` objects reading ``$anchor``,
``$first`` and ``$second`` (any names, any layout) and a ``<Choices>`` control (single choice)
on one of them whose output values (the alias where set, else the value) are exactly
``first`` and ``second``, or ``first``, ``second`` and ``tie``::

    <View>
      <Text name="anchor" value="$anchor"/>
      <Text name="first" value="$first"/>
      <Text name="second" value="$second"/>
      <Choices name="closer" toName="anchor" choice="single" required="true">
        <Choice value="The first is closer" alias="first"/>
        <Choice value="The second is closer" alias="second"/>
        <Choice value="Equally close" alias="tie"/>
      </Choices>
    </View>

A ``<Choices>`` config without those three fields is ordinary classification, unchanged
(:func:`is_triplet_config` decides, :mod:`labelloop.labelconfig.kinds` dispatches). A config
with the fields but other choices is reported as not served, with the reason.

The canonical label is the :data:`Judgement` as a one-element tuple (``("first",)``): labels
of every task type are tuples, so consensus, history and export treat it like a choice;
:func:`judgement_of` turns it back into the judgement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.control_tags import ControlTag

from labelloop.errors import InvalidInput
from labelloop.labelconfig.classification import CLASSIFICATION
from labelloop.labelconfig.labels import Label, Region, Unusable
from labelloop.labelconfig.schema import Choice, LabelSchema, TaskType
from labelloop.labelconfig.spans import Span

Judgement = Literal["first", "second", "tie"]
JUDGEMENTS: tuple[Judgement, ...] = ("first", "second", "tie")
# the task data keys of a triplet task (and the config's $fields)
FIELDS = ("anchor", "first", "second")
ANCHOR, FIRST, SECOND = FIELDS
TRIPLETS_TYPE: TaskType = "text_triplets"


def is_triplet_config(li: LabelInterface) -> bool:
    """Whether the config shows a triplet: three ``<Text>`` objects reading ``$anchor``,
    ``$first`` and ``$second``."""
    values = {o.value for o in li.objects if o.tag == "Text"}
    return all(f"${f}" in values for f in FIELDS)


def judgement_of(label: Label) -> Judgement | None:
    """The judgement a canonical triplet label holds (None: not a triplet label)."""
    if len(label) == 1 and label[0] in JUDGEMENTS:
        return label[0]
    return None


class TripletKind:
    name: TaskType = TRIPLETS_TYPE
    agreement = "krippendorff_alpha"

    def parse(self, li: LabelInterface, control: ControlTag, *,
              instructions: str | None) -> LabelSchema | str:
        where = f"Choices '{control.name}'"
        if not is_triplet_config(li):
            return f"{where}: a triplet config needs <Text> objects on $anchor, $first, $second"
        objects = [o for o in (control.objects or []) if o.tag == "Text"]
        if not objects:
            return f"{where} is not on a <Text> of the triplet"
        if (control.attr or {}).get("choice") == "multiple":
            return f"{where}: a similarity judgement is one choice, not multiple"
        choices = tuple(
            Choice(value=str(tag.attr.get("value", key)), output=key,
                   hint=tag.attr.get("hint") or None)
            for key, tag in (control.labels_attrs or {}).items())
        outputs = [c.output for c in choices]
        if sorted(outputs) not in (["first", "second"], ["first", "second", "tie"]):
            return (f"{where}: a triplet config's choices are first, second and optionally tie "
                    f"(their value or alias), got {outputs}")
        return LabelSchema(
            supported=True, task_type=self.name, from_name=control.name,
            to_name=objects[0].name, data_key=ANCHOR, choices=choices, modality="text",
            multiple=False, instructions=instructions or None)

    def read(self, schema: LabelSchema, result: object, *, text: str | None) -> Label | Unusable:
        return CLASSIFICATION.read(schema, result, text=text)

    def build(self, schema: LabelSchema, label: Label, *, text: str | None,
              score: float | None = None,
              region_scores: Mapping[Span, float] | None = None) -> list[Region]:
        if judgement_of(label) is None:
            raise InvalidInput(f"a triplet label is one of {list(JUDGEMENTS)}, got {label!r}")
        return CLASSIFICATION.build(schema, label, text=text, score=score)

    def validate(self, schema: LabelSchema, result: object, *, text: str | None) -> None:
        CLASSIFICATION.validate(schema, result, text=text)

    def row(self, schema: LabelSchema, label: Label) -> np.ndarray | None:
        return None  # no class rows: judgements train the encoder (labelloop.triplets)


TRIPLETS = TripletKind()
