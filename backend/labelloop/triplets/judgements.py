"""The human judgements of a project's triplets: the annotations of their Label Studio tasks
(stored like every annotation: webhooks, resyncs), read through the label layer and the one
consensus rule (:mod:`labelloop.labelconfig.consensus`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelloop.labelconfig.consensus import human_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.triplets import Judgement, judgement_of
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation
from labelloop.storage.records_triplets import TripletTask


@dataclass(frozen=True)
class JudgedTriplet:
    task: TripletTask
    judgement: Judgement
    voters: int


def read_judgements(tx: Tx, project_id: int, schema: LabelSchema,
                    tasks: Sequence[TripletTask]) -> list[JudgedTriplet]:
    """The consensus judgement of each created triplet that has one, in ``tasks`` order."""
    created = [t for t in tasks if t.ls_task_id is not None]
    if not created:
        return []
    by_task: dict[int, list[Annotation]] = {}
    for a in tx.get_annotations(project_id, task_ids=[t.ls_task_id for t in created
                                                      if t.ls_task_id is not None]):
        by_task.setdefault(a.task_id, []).append(a)
    out: list[JudgedTriplet] = []
    for t in created:
        found, _ = human_label(schema, by_task.get(t.ls_task_id or 0, ()), text=None)
        judgement = judgement_of(found.label) if found is not None else None
        if found is not None and judgement is not None:
            out.append(JudgedTriplet(t, judgement, found.voters))
    return out
