"""Targeted double annotation inside the retrain job.

When a task's only human label disagrees with the LLM and with the local model (as it stood
*before* that label: the previous version's stored prediction), a second annotator's opinion is
worth more than a new task. Any task type but multiple choice: labels are the label layer's
canonical ones, compared whole (a NER task's whole span set). In projects with at least two annotators, up to
``second_annotation_budget`` such tasks per retrain are sent back to Label Studio (served to a
different user; see docs/quality.md) and put at the head of the published queue, reason
``second_opinion``. Requests are recorded, so a task is asked for once.

A task Label Studio refuses to reopen (a bad value in its answer) is skipped and recorded
(``skipped_items``, job kind ``second_opinion``); a stored prediction of unexpected shape counts
as no prediction. Neither stops the retrain.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from labelloop.labelconfig.kinds import Label, Unusable, read_label
from labelloop.labelconfig.prelabel import MachineLabel
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.loop.dataset import ProjectData
from labelloop.quality.double import second_annotation_positions
from labelloop.settings import Settings
from labelloop.skips import is_item_error, reason_of, record_skips
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation

log = logging.getLogger(__name__)


def reopen_for_second_opinion(storage: Storage, gateway: LabelStudioGateway, pid: int,
                              schema: LabelSchema, data: ProjectData,
                              llm: Sequence[MachineLabel | None], settings: Settings,
                              rng: np.random.Generator) -> list[int]:
    """Ask Label Studio for second annotations; return every task id still waiting for one.

    Labels are compared whole, as the consensus rule compares them (a single choice; a whole
    span set, so spans that differ in one boundary differ); ``llm``: the LLM's canonical label
    of each position (empty: none), with its confidence."""
    if settings.second_annotation_budget == 0 or (
            schema.task_type == "text_classification" and schema.multiple):
        return []
    ids = data.task_ids.tolist()
    position = {t: i for i, t in enumerate(ids)}
    with storage.read() as tx:
        anns = tx.get_annotations(pid)
        asked = tx.second_annotation_requests(pid)
        before = tx.latest_predictions(pid, ids, source="model")
    annotators = {a.completed_by for a in anns if not a.was_cancelled}
    code = _Codes()
    texts = dict(zip(ids, data.texts))
    per_task: dict[int, list[tuple[Annotation, float]]] = {}  # usable votes, oldest first
    for a in sorted(anns, key=lambda a: (a.ls_updated_at or "", a.id)):
        if a.was_cancelled or a.deleted:
            continue
        first_label = code(read_label(schema, a.result, text=texts.get(a.task_id)))
        if not np.isnan(first_label):
            per_task.setdefault(a.task_id, []).append((a, first_label))
    n_ann = np.array([len({a.completed_by for a, _ in per_task.get(t, [])}) for t in ids])
    waiting = [t for t in asked if t in position and n_ann[position[t]] < 2]
    if len(annotators) < 2:
        return waiting
    first = np.array([per_task[t][0][1] if t in per_task else np.nan for t in ids],
                     dtype=np.float64)
    model = np.array([code(read_label(schema, before[t].result, text=texts[t]))
                      if t in before else np.nan for t in ids], dtype=np.float64)
    llm_code = np.full(len(ids), np.nan)
    conf = np.zeros(len(ids))
    for i, machine in enumerate(llm):
        if machine is not None:
            llm_code[i] = code(machine.label)
            conf[i] = machine.score or 0.0
    chosen = second_annotation_positions(
        first, n_ann, llm_code, model, llm_confidence=conf,
        requested=np.array([t in asked for t in ids]), budget=settings.second_annotation_budget,
        rng=rng)
    made: list[tuple[int, str]] = []
    skipped: dict[int, str] = {}
    for c in chosen:
        tid = ids[c.position]
        try:
            if gateway.request_annotations(tid, total=2):
                made.append((tid, c.reason))
        except Exception as exc:
            if not is_item_error(exc):
                raise
            skipped[tid] = reason_of(exc)
    record_skips(storage, pid, "second_opinion", skipped, processed=[t for t, _ in made])
    if made:
        with storage.write() as tx:
            tx.add_second_annotation_requests(pid, made)
        log.info("project %s: asked Label Studio for a second annotation of %d task(s)", pid,
                 len(made))
    return waiting + [t for t, _ in made]


class _Codes:
    """Canonical labels as numbers for :func:`second_annotation_positions`, which compares
    labels for equality only: equal labels, equal codes (NaN: no usable label)."""

    def __init__(self) -> None:
        self._codes: dict[Label, int] = {}

    def __call__(self, label: Label | Unusable) -> float:
        if isinstance(label, Unusable):
            return np.nan
        return float(self._codes.setdefault(label, len(self._codes)))
