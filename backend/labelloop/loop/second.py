"""Targeted double annotation inside the retrain job.

When a task's only human label disagrees with the LLM and with the local model (as it stood
*before* that label: the previous version's stored prediction), a second annotator's opinion is
worth more than a new task. In projects with at least two annotators, up to
``second_annotation_budget`` such tasks per retrain are sent back to Label Studio (served to a
different user; see docs/quality.md) and put at the head of the published queue, reason
``second_opinion``. Requests are recorded, so a task is asked for once.

A task Label Studio refuses to reopen (a bad value in its answer) is skipped and recorded
(``skipped_items``, job kind ``second_opinion``); a stored prediction of unexpected shape counts
as no prediction. Neither stops the retrain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from labelloop.labelconfig.kinds import Unusable, read_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.loop.dataset import ProjectData
from labelloop.quality.double import second_annotation_positions
from labelloop.settings import Settings
from labelloop.skips import is_item_error, reason_of, record_skips
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation
from labelloop.storage.records_llm import LlmLabel

log = logging.getLogger(__name__)


def reopen_for_second_opinion(storage: Storage, gateway: LabelStudioGateway, pid: int,
                              schema: LabelSchema, data: ProjectData, llm: np.ndarray | None,
                              llm_labels: Mapping[int, LlmLabel], settings: Settings,
                              rng: np.random.Generator) -> list[int]:
    """Ask Label Studio for second annotations; return every task id still waiting for one."""
    if settings.second_annotation_budget == 0 or schema.multiple:
        return []
    ids = data.task_ids.tolist()
    with storage.read() as tx:
        anns = tx.get_annotations(pid)
        asked = tx.second_annotation_requests(pid)
        before = tx.latest_predictions(pid, ids, source="model")
    annotators = {a.completed_by for a in anns if not a.was_cancelled}
    index = {c: i for i, c in enumerate(schema.labels)}
    texts = dict(zip(ids, data.texts))
    per_task: dict[int, list[tuple[Annotation, float]]] = {}  # usable votes, oldest first
    for a in sorted(anns, key=lambda a: (a.ls_updated_at or "", a.id)):
        if a.was_cancelled or a.deleted:
            continue
        first_label = _label_index(schema, index, a.result, text=texts.get(a.task_id))
        if not np.isnan(first_label):
            per_task.setdefault(a.task_id, []).append((a, first_label))
    n_ann = np.array([len({a.completed_by for a, _ in per_task.get(t, [])}) for t in ids])
    waiting = [t for t in asked if t in set(ids) and n_ann[ids.index(t)] < 2]
    if len(annotators) < 2:
        return waiting
    first = np.array([per_task[t][0][1] if t in per_task else np.nan for t in ids],
                     dtype=np.float64)
    model = np.array([_label_index(schema, index, before[t].result, text=texts[t])
                      if t in before else np.nan for t in ids], dtype=np.float64)
    llm_idx = np.full(len(ids), np.nan)
    conf = np.zeros(len(ids))
    if llm is not None:
        answered = ~np.isnan(llm).any(axis=1)
        llm_idx[answered] = np.argmax(llm[answered], axis=1)
        conf[:] = [(llm_labels[t].confidence or 0.0) if t in llm_labels else 0.0 for t in ids]
    chosen = second_annotation_positions(
        first, n_ann, llm_idx, model, llm_confidence=conf,
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


def _label_index(schema: LabelSchema, index: Mapping[str, int], result: object, *,
                 text: str | None) -> float:
    """The class index of a result's label for the schema's control, read through the label
    layer (NaN: no usable label, e.g. another control's or an unknown choice)."""
    label = read_label(schema, result, text=text)
    first = label[0] if not isinstance(label, Unusable) and label else None
    return float(index[first]) if isinstance(first, str) and first in index else np.nan
