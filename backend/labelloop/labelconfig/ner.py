"""Text spans (NER): one or more ``<Labels>`` on one ``<Text>``.

The canonical label is the sorted tuple of :class:`~labelloop.labelconfig.spans.Span` (code-point
offsets, the output value as label); a region with several labels (``choice="multiple"``) is one
span per label. An annotation with no span for the served controls is the empty tuple: "this text
has no entities" is a label. A region whose offsets fall outside the text or whose ``text`` does not
match the task's text makes the whole result :class:`Unusable` (``invalid_span``): Label Studio
stores such regions unchecked, and a half-read annotation would teach the model wrong negatives.

Several ``<Labels>`` on the same ``<Text>`` are served together when their label values do not
collide (a collision leaves the later control out, reported); the schema's ``from_name`` is the
first, and each :class:`~labelloop.labelconfig.schema.Choice` names its control.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.control_tags import ControlTag

from labelloop.errors import InvalidInput
from labelloop.labelconfig.labels import Label, Region, Unusable, check_score
from labelloop.labelconfig.schema import Choice, LabelSchema, TaskType
from labelloop.labelconfig.spans import Span, from_ls_offsets, to_ls_offsets, validate_spans


class SpansKind:
    name: TaskType = "text_spans"
    agreement = "span_f1"

    def parse(self, li: LabelInterface, control: ControlTag, *,
              instructions: str | None) -> LabelSchema | str:
        objects = control.objects or []
        texts = [o for o in objects if o.tag in ("Text", "HyperText")]
        if not texts or texts[0].tag != "Text":
            kinds = ", ".join(sorted({o.tag for o in objects})) or "nothing known"
            return f"Labels '{control.name}' on {kinds}"
        obj = texts[0]
        value = obj.value or ""
        if not value.startswith("$") or len(value) < 2:
            return f"Labels '{control.name}' on a Text without a $field value"
        siblings = [c for c in li.controls if c.tag == "Labels"
                    and any(o.name == obj.name for o in c.objects or [])]
        choices: list[Choice] = []
        for c in siblings:
            mine = [Choice(value=str(tag.attr.get("value", key)), output=key,
                           hint=tag.attr.get("hint") or None, control=c.name)
                    for key, tag in c.labels_attrs.items()]
            if {m.output for m in mine} & {x.output for x in choices}:
                continue  # colliding label values: which control a span belongs to is unknowable
            choices.extend(mine)
        if not choices:
            return f"Labels '{control.name}' with no label"
        multiple = any(str(c.attr.get("choice", "")).lower() == "multiple" for c in siblings)
        granularity = (control.attr or {}).get("granularity")
        return LabelSchema(
            supported=True, task_type=self.name, from_name=control.name, to_name=obj.name,
            data_key=value[1:], choices=tuple(choices), multiple=multiple,
            instructions=instructions or None,
            granularity=str(granularity) if granularity else None)

    def read(self, schema: LabelSchema, result: object, *, text: str | None) -> Label | Unusable:
        if not isinstance(result, list):
            return Unusable("without_label")
        if text is None:
            return Unusable("task_without_text")
        controls = set(schema.controls)
        allowed = set(schema.labels)
        out: set[Span] = set()
        for region in result:
            if not isinstance(region, dict) or region.get("from_name") not in controls:
                continue
            if region.get("type") != "labels":
                return Unusable("invalid_span")
            value = region.get("value")
            if not isinstance(value, dict):
                return Unusable("invalid_span")
            start, end, labels = value.get("start"), value.get("end"), value.get("labels")
            if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) \
                    or isinstance(end, bool) or not isinstance(labels, list) or not labels:
                return Unusable("invalid_span")
            offsets = from_ls_offsets(text, start, end)
            if offsets is None or offsets[0] >= offsets[1]:
                return Unusable("invalid_span")
            s, e = offsets
            said = value.get("text")
            if said is not None and said != text[s:e]:
                return Unusable("invalid_span")
            for label in labels:
                if not isinstance(label, str) or label not in allowed:
                    return Unusable("label_not_in_config")
                out.add(Span(s, e, label))
        return tuple(sorted(out))

    def build(self, schema: LabelSchema, label: Label, *, text: str | None,
              score: float | None = None,
              region_scores: Mapping[Span, float] | None = None) -> list[Region]:
        if text is None:
            raise InvalidInput("a span prediction needs the task's text")
        spans = [s for s in label if isinstance(s, Span)]
        if len(spans) != len(label):
            raise InvalidInput("a span label holds something that is not a span")
        validate_spans(text, spans, labels=schema.labels)
        grouped: dict[tuple[int, int, str | None], list[Span]] = {}
        for s in sorted(set(spans)):
            control = schema.control_of(s.label)
            key = (s.start, s.end, control) if schema.multiple else (s.start, s.end, s.label)
            grouped.setdefault(key, []).append(s)
        result: list[Region] = []
        for group in grouped.values():
            first = group[0]
            ls_start, ls_end = to_ls_offsets(text, first.start, first.end)
            region: Region = {
                "from_name": schema.control_of(first.label), "to_name": schema.to_name,
                "type": "labels",
                "value": {"start": ls_start, "end": ls_end, "text": text[first.start:first.end],
                          "labels": [s.label for s in group]},
            }
            scores = [region_scores[s] for s in group if region_scores and s in region_scores]
            if scores:
                region["score"] = float(min(1.0, max(0.0, min(scores))))
            result.append(region)
        self.validate(schema, result, text=text)
        return result

    def validate(self, schema: LabelSchema, result: object, *, text: str | None) -> None:
        """Every region targets a served control, its offsets (in Label Studio's unit) fall on
        the text with ``value.text`` equal to what they cover, its labels are the control's,
        and no span repeats. An empty list is valid (a score-only prediction)."""
        if not isinstance(result, list):
            raise InvalidInput("a prediction result must be a list of regions")
        if result and text is None:
            raise InvalidInput("a span prediction needs the task's text to be checked")
        seen: set[Span] = set()
        for i, region in enumerate(result):
            if not isinstance(region, dict):
                raise InvalidInput(f"region {i} is not an object")
            control = region.get("from_name")
            if control not in schema.controls or region.get("to_name") != schema.to_name:
                raise InvalidInput(f"region {i} targets {control!r}->{region.get('to_name')!r}, "
                                   f"expected one of {schema.controls}->{schema.to_name!r}")
            if region.get("type") != "labels":
                raise InvalidInput(f"region {i} has type {region.get('type')!r}, expected 'labels'")
            value = region.get("value")
            if not isinstance(value, dict):
                raise InvalidInput(f"region {i} has no value")
            start, end, labels = value.get("start"), value.get("end"), value.get("labels")
            if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) \
                    or isinstance(end, bool):
                raise InvalidInput(f"region {i} has non-integer offsets")
            assert text is not None
            offsets = from_ls_offsets(text, start, end)
            if offsets is None or offsets[0] >= offsets[1]:
                raise InvalidInput(f"region {i} has offsets {start}..{end} outside the text")
            s, e = offsets
            if value.get("text") != text[s:e]:
                raise InvalidInput(f"region {i}: value.text {value.get('text')!r} is not the "
                                   f"text at {start}..{end} ({text[s:e]!r})")
            if not isinstance(labels, list) or not labels:
                raise InvalidInput(f"region {i} has no labels")
            if len(labels) > 1 and not schema.multiple:
                raise InvalidInput(f"region {i} has {len(labels)} labels in a single-label config")
            for label in labels:
                if not isinstance(label, str) or schema.control_of(label) != control:
                    raise InvalidInput(f"region {i} uses a label outside {control!r}: {label!r}")
                span = Span(s, e, label)
                if span in seen:
                    raise InvalidInput(f"region {i} repeats the span {span}")
                seen.add(span)
            check_score(i, region.get("score"))

    def row(self, schema: LabelSchema, label: Label) -> np.ndarray | None:
        return None


SPANS = SpansKind()
