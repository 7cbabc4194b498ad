"""Classification: ``<Choices>`` on ``<Text>``, ``<Image>`` or ``<Audio>``/``<AudioPlus>``, single or
multiple choice (the object's modality goes into the schema; labels read the same whatever it
is). ``<Choices>`` on a modality not served yet (``<Video>``) says why.

The canonical label is the tuple of chosen output values (aliases where set) in config order:
one value for single choice. A result gives no label (an :class:`Unusable`) when it has no
``choices`` region for the control, several of them (ambiguous), a value outside the config,
or several values in a single-choice control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.control_tags import ControlTag

from labelloop.errors import InvalidInput
from labelloop.labelconfig.labels import Label, Region, Unusable, check_score
from labelloop.labelconfig.schema import Choice, LabelSchema, TaskType
from labelloop.labelconfig.spans import Span
from labelloop.modalities import object_modality, pending_reason


def region_choices(region: Mapping[str, object]) -> tuple[str, ...] | Unusable:
    """The choices one ``choices`` region picks, as stored (first occurrence order, no repeats);
    no choice (or no ``value``) is ``without_label``, a choice that is not a string
    ``label_not_in_config``. Shared with readers that have no config (the agreement export)."""
    value = region.get("value")
    picked = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(picked, list) or not picked:
        return Unusable("without_label")
    if not all(isinstance(c, str) for c in picked):
        return Unusable("label_not_in_config")
    return tuple(dict.fromkeys(picked))


def choices_label(schema: LabelSchema, picked: Sequence[str]) -> Label | Unusable:
    """The canonical label of output values ``picked`` (any order, repeats allowed): in config
    order; Unusable when empty, outside the config, or several in a single-choice control."""
    if not picked:
        return Unusable("without_label")
    order = {label: i for i, label in enumerate(schema.labels)}
    if any(c not in order for c in picked):
        return Unusable("label_not_in_config")
    chosen = sorted(set(picked), key=order.__getitem__)
    if not schema.multiple and len(chosen) != 1:
        return Unusable("several_choices_in_single_choice")
    return tuple(chosen)


class ChoicesKind:
    name: TaskType = "text_classification"
    agreement = "krippendorff_alpha"

    def parse(self, li: LabelInterface, control: ControlTag, *,
              instructions: str | None) -> LabelSchema | str:
        objects = control.objects or []  # the SDK types it Optional
        served = [(o, m) for o in objects if (m := object_modality(o.tag)) is not None]
        if not served:
            kinds = ", ".join(sorted({o.tag for o in objects})) or "nothing known"
            pending = [why for o in objects if (why := pending_reason(o.tag))]
            return f"Choices '{control.name}' on {kinds}" + (f": {pending[0]}" if pending else "")
        obj, modality = served[0]
        value = obj.value or ""
        if not value.startswith("$") or len(value) < 2:
            return f"Choices '{control.name}' on a {obj.tag} without a $field value"
        choices = tuple(
            Choice(value=str(tag.attr.get("value", key)), output=key,
                   hint=tag.attr.get("hint") or None)
            for key, tag in (control.labels_attrs or {}).items()
        )
        if len(choices) < 2:
            return f"Choices '{control.name}' with fewer than 2 choices"
        return LabelSchema(
            supported=True, task_type=self.name, from_name=control.name, to_name=obj.name,
            data_key=value[1:], choices=choices, modality=modality,
            multiple=(control.attr or {}).get("choice") == "multiple",  # ChoicesTag.is_multiple_choice
            instructions=instructions or None)

    def read(self, schema: LabelSchema, result: object, *, text: str | None) -> Label | Unusable:
        if not isinstance(result, list):
            return Unusable("without_label")
        found = None
        for region in result:
            if (isinstance(region, dict) and region.get("from_name") == schema.from_name
                    and region.get("type") == "choices"):
                if found is not None:
                    return Unusable("ambiguous_regions")
                found = region
        picked = region_choices(found) if found is not None else Unusable("without_label")
        return picked if isinstance(picked, Unusable) else choices_label(schema, picked)

    def build(self, schema: LabelSchema, label: Label, *, text: str | None,
              score: float | None = None,
              region_scores: Mapping[Span, float] | None = None) -> list[Region]:
        region: Region = {"from_name": schema.from_name, "to_name": schema.to_name,
                          "type": "choices", "value": {"choices": [str(c) for c in label]}}
        if score is not None:
            region["score"] = float(score)
        result = [region]
        self.validate(schema, result, text=text)
        return result

    def validate(self, schema: LabelSchema, result: object, *, text: str | None) -> None:
        """An empty list is valid (a prediction that only carries a score, for the queue)."""
        if not isinstance(result, list):
            raise InvalidInput("a prediction result must be a list of regions")
        allowed = set(schema.labels)
        for i, region in enumerate(result):
            if not isinstance(region, dict):
                raise InvalidInput(f"region {i} is not an object")
            if region.get("from_name") != schema.from_name or \
                    region.get("to_name") != schema.to_name:
                raise InvalidInput(
                    f"region {i} targets {region.get('from_name')!r}->{region.get('to_name')!r}, "
                    f"expected {schema.from_name!r}->{schema.to_name!r}")
            if region.get("type") != "choices":
                raise InvalidInput(f"region {i} has type {region.get('type')!r}, expected 'choices'")
            value = region.get("value")
            chosen = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(chosen, list) or not chosen:
                raise InvalidInput(f"region {i} has no choices")
            bad = [c for c in chosen if not isinstance(c, str) or c not in allowed]
            if bad:
                raise InvalidInput(f"region {i} uses labels outside the config: {bad}")
            if len(set(chosen)) != len(chosen):
                raise InvalidInput(f"region {i} repeats a label")
            if not schema.multiple and len(chosen) != 1:
                raise InvalidInput(f"region {i} has {len(chosen)} choices in a single-choice config")
            check_score(i, region.get("score"))
        if len(result) > 1:
            raise InvalidInput(f"{len(result)} choices regions for one control")

    def row(self, schema: LabelSchema, label: Label) -> np.ndarray | None:
        out = np.zeros(len(schema.labels))
        index = {c: i for i, c in enumerate(schema.labels)}
        for c in label:
            out[index[str(c)]] = 1.0
        return out


CLASSIFICATION = ChoicesKind()
