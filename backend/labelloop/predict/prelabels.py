"""The pre-label of a stored task, for every task type: what ``/predict`` answers and what the
publish and publish-tail jobs send with the queue.

The machines' stored answers are read back as canonical machine labels
(:class:`~labelloop.labelconfig.prelabel.MachineLabel`): the LLM's stored label (for a span
project its stored spans, :func:`labelloop.llm.span_store.stored_spans`, with their scores), then
the newest stored prediction (the local model's). :func:`resolve` hands them to the one
pre-label resolver (:func:`labelloop.labelconfig.prelabel.resolve_prelabel`) with the task's
text, which builds and validates the result: a label outside the config, or a span the text does
not hold, is never sent. Each such drop is logged with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import build_result, task_text
from labelloop.labelconfig.prelabel import (
    MachineLabel,
    Prelabel,
    Source,
    from_labels,
    from_result,
    resolve_prelabel,
)
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.span_store import stored_span_scores, stored_spans
from labelloop.llm.types import LabelOutcome
from labelloop.storage.base import Tx
from labelloop.storage.records import Prediction
from labelloop.storage.records_llm import LlmLabel

log = logging.getLogger(__name__)


def llm_label(schema: LabelSchema, row: LlmLabel | None) -> MachineLabel | None:
    """The LLM's stored label of one task (None: none, or the LLM failed on the task)."""
    if row is None or row.labels is None:
        return None
    if schema.task_type == "text_spans":
        spans = stored_spans(row)
        if spans is None:
            return None
        return MachineLabel(tuple(spans), "llm", row.model_version, row.confidence,
                            stored_span_scores(row))
    return from_labels(schema, row.labels, source="llm", version=row.model_version,
                       score=row.confidence)


def outcome_label(schema: LabelSchema, outcome: LabelOutcome, *,
                  version: str) -> MachineLabel | None:
    """A live LLM answer as a machine label (None when the LLM failed on the task)."""
    if outcome.labels is None:
        return None
    if schema.task_type == "text_spans":
        if outcome.spans is None:
            return None
        return MachineLabel(tuple(outcome.span_list), "llm", version, outcome.confidence,
                            outcome.span_scores)
    return from_labels(schema, outcome.labels, source="llm", version=version,
                       score=outcome.confidence)


def prediction_label(schema: LabelSchema, pred: Prediction | None, *,
                     text: str | None) -> MachineLabel | None:
    """A stored prediction read back through the label layer (None when it is unreadable for
    the config and text now, which is logged)."""
    if pred is None:
        return None
    source: Source = "llm" if pred.source == "llm" else "model"
    got = from_result(schema, pred.result, source=source, text=text, version=pred.model_version,
                      score=pred.score)
    if got is None:
        log.warning("task %s: stored prediction %s does not read as a label of this config and "
                    "text; not sent", pred.task_id, pred.model_version)
    return got


def _problem(schema: LabelSchema, machine: MachineLabel, text: str | None) -> str:
    try:
        build_result(schema, machine.label, text=text, score=None,
                     region_scores=machine.region_scores)
    except InvalidInput as exc:
        return exc.message
    return "a score outside [0, 1]"


def resolve(schema: LabelSchema, candidates: Sequence[MachineLabel | None], *,
            text: str | None, task_id: int) -> Prelabel | None:
    """:func:`resolve_prelabel`, logging every candidate passed over as invalid (and why)."""
    got = resolve_prelabel(schema, candidates, text=text)
    for machine in candidates:
        if machine is None:
            continue
        if got is not None and (machine.source, machine.version) == (got.source, got.version):
            break
        log.warning("task %s: the %s's label (%s) is not valid here; not sent: %s", task_id,
                    machine.source, machine.version, _problem(schema, machine, text))
    return got


def task_texts(tx: Tx, project_id: int, schema: LabelSchema,
               task_ids: Sequence[int]) -> dict[int, str | None]:
    """The text of each stored task (its ``$field``; None when it has none)."""
    tasks = tx.get_tasks(project_id, list(task_ids)) if task_ids else []
    return {t.id: task_text(schema, t.data) for t in tasks}


def stored_prelabels(tx: Tx, project_id: int, schema: LabelSchema, task_ids: Sequence[int], *,
                     texts: Mapping[int, str | None] | None = None) -> dict[int, Prelabel]:
    """The validated pre-label of each task that has one: the LLM's stored label, else the
    newest stored prediction. ``texts`` (read from storage when not given) are the tasks'."""
    if not schema.supported or not task_ids:
        return {}
    ids = list(task_ids)
    if texts is None:
        texts = task_texts(tx, project_id, schema, ids)
    llm = tx.get_llm_labels(project_id, task_ids=ids)
    model = tx.latest_predictions(project_id, ids)
    out: dict[int, Prelabel] = {}
    for tid in ids:
        text = texts.get(tid)
        got = resolve(schema, [llm_label(schema, llm.get(tid)),
                               prediction_label(schema, model.get(tid), text=text)],
                      text=text, task_id=tid)
        if got is not None:
            out[tid] = got
    return out


def prelabel_entry(prelabel: Prelabel) -> dict[str, Any]:
    """A ``/predict`` entry: the result, its score and the version it comes from."""
    return {"result": prelabel.result, "score": prelabel.score,
            "model_version": prelabel.version or ""}
