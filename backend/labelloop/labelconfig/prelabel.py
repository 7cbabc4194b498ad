"""The one pre-label resolver: what a task shows in Label Studio, for every path that sends one
(the retrain's published queue, the publish job reading the stored queue back, ``/predict``).

The rule: the LLM's label when it has one that is valid for the project's config (and, for
spans, the task's text); else the local model's newest prediction; else nothing. Either way the
result is built and validated by the task type (:mod:`labelloop.labelconfig.kinds`): a label no
longer in the config, or a span the text does not hold, is never sent. The pre-label's ``score``
is its confidence (the LLM's, the model's), None when unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import Label, Region, Unusable, build_result, read_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span

Source = Literal["llm", "model"]


@dataclass(frozen=True)
class MachineLabel:
    """A machine's canonical label for one task, with its confidence."""

    label: Label
    source: Source
    version: str | None = None
    score: float | None = None
    region_scores: Mapping[Span, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Prelabel:
    result: list[Region]
    score: float | None
    source: Source
    version: str | None


def to_prelabel(schema: LabelSchema, machine: MachineLabel, *, text: str | None) -> Prelabel | None:
    """The validated pre-label of one machine label; None when it is not valid here."""
    score = None if machine.score is None else min(1.0, max(0.0, float(machine.score)))
    try:
        result = build_result(schema, machine.label, text=text, score=score,
                              region_scores=machine.region_scores)
    except InvalidInput:
        return None
    return Prelabel(result, score, machine.source, machine.version)


def resolve_prelabel(schema: LabelSchema, candidates: Sequence[MachineLabel | None], *,
                     text: str | None) -> Prelabel | None:
    """The first valid pre-label among ``candidates`` (in order of preference: LLM, model)."""
    for machine in candidates:
        if machine is None:
            continue
        got = to_prelabel(schema, machine, text=text)
        if got is not None:
            return got
    return None


def from_labels(schema: LabelSchema, labels: Sequence[str] | None, *, source: Source,
                version: str | None = None, score: float | None = None) -> MachineLabel | None:
    """A classification machine label from a list of output values (None when empty)."""
    if not labels or schema.task_type != "text_classification":
        return None
    order = {c: i for i, c in enumerate(schema.labels)}
    chosen = tuple(sorted(set(labels), key=lambda c: order.get(c, len(order))))
    return MachineLabel(chosen, source, version, score)


def from_result(schema: LabelSchema, result: object, *, source: Source, text: str | None,
                version: str | None = None,
                score: float | None = None) -> MachineLabel | None:
    """A machine label read back from a stored prediction ``result`` (None when unusable);
    per-region scores are kept (the pre-label shows them again)."""
    label = read_label(schema, result, text=text)
    if isinstance(label, Unusable):
        return None
    region_scores: dict[Span, float] = {}
    if schema.task_type == "text_spans" and isinstance(result, list):
        for region in result:
            one = read_label(schema, [region], text=text)
            s = region.get("score") if isinstance(region, dict) else None
            if not isinstance(one, Unusable) and isinstance(s, (int, float)):
                region_scores.update({span: float(s) for span in one if isinstance(span, Span)})
    elif score is None and isinstance(result, list) and result and isinstance(result[0], dict):
        s = result[0].get("score")
        score = float(s) if isinstance(s, (int, float)) and not isinstance(s, bool) else None
    return MachineLabel(label, source, version, score, region_scores)
