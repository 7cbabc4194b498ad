"""The LLM's pre-judgement of a triplet, through the LLM layer like any label.

A triplet is asked as a single-choice classification (:func:`judge_schema`: the project's
choices, ``first``, ``second`` and maybe ``tie``, each with a hint saying what it means) of one
text holding the anchor and the two candidates (:func:`judge_text`). So the answer is
constrained to the choices, carries the layer's confidence, is cached (a job run again asks
nothing twice) and its calls and cost are recorded like every other call. The answers are not
stored as LLM labels of Label Studio tasks (the triplets have none yet when they are asked):
they are stored with the triplet and sent as the task's prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelloop.labelconfig.schema import Choice, LabelSchema
from labelloop.labelconfig.triplets import JUDGEMENTS, Judgement
from labelloop.llm import LLMLabeler
from labelloop.llm.types import LabelRequest

INSTRUCTIONS = ("You are shown an anchor text and two candidate texts. Say which candidate is "
                "closer in meaning to the anchor.")
HINTS = {"first": "the first candidate is closer in meaning to the anchor",
         "second": "the second candidate is closer in meaning to the anchor",
         "tie": "both candidates are equally close to the anchor, or equally far from it"}


def judge_schema(schema: LabelSchema) -> LabelSchema:
    """The classification the LLM answers for a triplet project's ``schema``."""
    choices = tuple(Choice(value=c.output, output=c.output, hint=HINTS.get(c.output))
                    for c in schema.choices)
    return LabelSchema(supported=True, task_type="text_classification", from_name="judgement",
                       to_name="text", data_key="text", choices=choices,
                       instructions=schema.instructions or INSTRUCTIONS)


def judge_text(anchor: str, first: str, second: str) -> str:
    return f"Anchor:\n{anchor}\n\nFirst candidate:\n{first}\n\nSecond candidate:\n{second}"


@dataclass(frozen=True)
class PreJudgement:
    judgement: Judgement
    confidence: float | None  # the layer's confidence in it (None: unknown)


def prejudge(labeler: LLMLabeler, schema: LabelSchema,
             triplets: Sequence[tuple[str, str, str]]) -> tuple[list[PreJudgement | None], str]:
    """The LLM's judgement of each (anchor, first, second) triplet of texts, in order (None
    where it gave none: a failure, a pause, the budget), and the model version they are
    stored under."""
    asked = judge_schema(schema)
    requests = [LabelRequest(i, judge_text(*t)) for i, t in enumerate(triplets)]
    outcomes = labeler.label_many_sync(asked, requests)
    out: list[PreJudgement | None] = [None] * len(triplets)
    for o in outcomes:
        picked = o.labels[0] if o.labels and len(o.labels) == 1 else None
        for j in JUDGEMENTS:
            if picked == j:
                out[o.task_id] = PreJudgement(j, o.confidence)
    return out, labeler.version_for(asked)
