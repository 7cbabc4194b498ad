"""The predictions a stream item's task carries into Label Studio: the served model's label
(:class:`labelloop.predict.classify.Classifier`, ``model_version`` = the served version) and,
when an LLM is configured, the LLM's pre-label (the labeler the pre-label job uses, with the
same few-shot pool), in that order.

Nothing invalid leaves: each one is built by the label layer
(:func:`labelloop.labelconfig.prelabel.to_prelabel`) and checked again against the config and
the item's text (:func:`labelloop.labelconfig.kinds.is_valid_result`) right before it goes; one
that does not pass is dropped with a log line. A machine that fails (no model yet, the LLM
unreachable or paused, an answer outside the label set) costs the task its prediction, never
its way out: the task goes without it, and the pre-label job asks the LLM again later for a
task it did not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelloop.labelconfig.kinds import is_valid_result, task_text
from labelloop.labelconfig.prelabel import MachineLabel, from_labels, to_prelabel
from labelloop.labelconfig.schema import LabelSchema
from labelloop.predict.prelabels import outcome_label
from labelloop.storage.base import Storage
from labelloop.storage.records_stream import StreamItem

if TYPE_CHECKING:
    from labelloop.llm import LabelOutcome, LLMLabeler
    from labelloop.predict.classify import Classifier

log = logging.getLogger(__name__)
Entry = dict[str, Any]


@dataclass(frozen=True)
class Predictions:
    """Per item id its prediction entries (``{"result", "score", "model_version"}``, valid),
    and the LLM's outcomes worth storing as the LLM labels of the tasks once they exist."""

    entries: dict[int, list[Entry]] = field(default_factory=dict)
    llm: dict[int, LabelOutcome] = field(default_factory=dict)
    llm_version: str | None = None


def prediction_entry(schema: LabelSchema, machine: MachineLabel | None, *,
                     text: str | None) -> Entry | None:
    """A machine label as a Label Studio prediction, or None when it is not valid for the
    config and the text (or there is none)."""
    if machine is None:
        return None
    pre = to_prelabel(schema, machine, text=text)
    if pre is None or not is_valid_result(schema, pre.result, text=text):
        return None
    return {"result": pre.result, "score": pre.score, "model_version": pre.version or ""}


def entries_for(schema: LabelSchema, item: StreamItem,
                machines: Sequence[MachineLabel | None]) -> list[Entry]:
    """The valid entries of one item's machine labels, logging each one dropped."""
    text = task_text(schema, item.data)
    out: list[Entry] = []
    for machine in machines:
        entry = prediction_entry(schema, machine, text=text)
        if entry is not None:
            out.append(entry)
        elif machine is not None:
            log.warning("project %s: stream item %r: the %s's label (%s) is not valid for the "
                        "config and text; not sent", item.project_id, item.key, machine.source,
                        machine.version)
    return out


def model_labels(classifier: Classifier | None, schema: LabelSchema,
                 items: Sequence[StreamItem]) -> dict[int, MachineLabel]:
    """The served model's label of each item with text (none before a model exists)."""
    texts = {it.id: t for it in items if (t := task_text(schema, it.data))}
    if classifier is None or not texts or schema.task_type != "text_classification":
        return {}
    with_text = [it for it in items if it.id in texts]
    try:
        answer = classifier.classify(with_text[0].project_id, [it.data for it in with_text])
    except Exception as exc:  # noqa: BLE001 - no model yet, or its embedder failing: no prediction
        log.info("project %s: stream tasks go without the model's prediction: %s",
                 with_text[0].project_id, exc)
        return {}
    out: dict[int, MachineLabel] = {}
    for it, r in zip(with_text, answer.results):
        got = from_labels(schema, list(r.labels), source="model", version=answer.version,
                          score=r.probability)
        if got is not None:
            out[it.id] = got
    return out


def llm_outcomes(labeler: LLMLabeler | None, storage: Storage, schema: LabelSchema,
                 items: Sequence[StreamItem]) -> dict[int, LabelOutcome]:
    """The LLM's answer per item id (item ids stand for task ids: the tasks do not exist yet;
    nothing is stored here). A failed run is a logged skip: an empty answer."""
    from labelloop.llm import LabelRequest
    from labelloop.llm.pool import example_pool

    if labeler is None or not schema.supported or \
            schema.task_type not in ("text_classification", "text_spans"):
        return {}
    pid = items[0].project_id if items else 0
    requests = [LabelRequest(it.id, text) for it in items
                if (text := task_text(schema, it.data)) and _encodable(text)]
    if not requests:
        return {}
    try:
        with storage.read() as tx:
            examples = example_pool(tx, pid, schema, model_version=labeler.version_for(schema))
        outcomes = labeler.label_many_sync(schema, requests, examples=examples)
    except Exception as exc:  # noqa: BLE001 - the tasks go without the LLM's pre-label
        log.warning("project %s: the LLM pre-label of %d stream items failed; they go to "
                    "Label Studio without it: %s: %s", pid, len(requests),
                    type(exc).__name__, exc)
        return {}
    return {o.task_id: o for o in outcomes}


def predict_items(schema: LabelSchema | None, items: Sequence[StreamItem], *,
                  storage: Storage, classifier: Classifier | None,
                  labeler: LLMLabeler | None) -> Predictions:
    """Every item's predictions: the model's, then the LLM's; each validated."""
    from labelloop.llm.labeler import NOT_STORED

    if schema is None or not schema.supported or not items:
        return Predictions()
    model = model_labels(classifier, schema, items)
    outcomes = llm_outcomes(labeler, storage, schema, items)
    version = labeler.version_for(schema) if labeler is not None and outcomes else None
    entries: dict[int, list[Entry]] = {}
    for it in items:
        o = outcomes.get(it.id)
        llm = outcome_label(schema, o, version=version) if o is not None and version else None
        got = entries_for(schema, it, [model.get(it.id), llm])
        if got:
            entries[it.id] = got
    keep = {i: o for i, o in outcomes.items() if o.failure_kind not in NOT_STORED}
    return Predictions(entries, keep, version)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
