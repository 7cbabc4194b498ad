"""The labelled dataset, the product: one row per live task with its best label, where that label
came from and how likely it is to be right.

:func:`prepare_export` reads a project in two steps. First, in one read transaction, the arrays
the labels need, task by task in pages of ids (never the task data): the human label by the one
consensus rule (:mod:`labelloop.labelconfig.consensus`) and how many usable annotations voted;
the LLM's stored label, confidence and distribution; the local model's newest stored prediction
with its score and probabilities. The best label of every task follows from those arrays
(:func:`labelloop.quality.dataset_labels.class_labels`: the human label as given, else
:func:`labelloop.quality.best_label.best_labels` over both machines; the random generator is
seeded 0 unless given, so the same data exports the same labels). Then :meth:`Export.rows`
yields the rows page by page, each page's task data read in its own short transaction, so a
project of any size streams in constant memory beyond those arrays. Span (NER) projects need
no arrays: each page reads its own annotations, LLM spans and model prediction
(:func:`~labelloop.quality.dataset_spans.span_page`).

A row's ``source``: ``human`` (one annotator's label), ``consensus`` (the rule over two or more
annotators), ``llm``, ``model`` or ``ensemble`` (a fitted combination of both machines), or None
when nothing labelled the task. Human rows have ``p_correct`` 1 (taken as right); a machine row's
``p_correct`` is best_labels' calibrated one (multiple choice: the member's confidence; span
projects: the mean span score). ``accepted``: the machine label is auto-accepted
(``accept_precision`` given, single choice): the rule of
:func:`labelloop.quality.dataset_accept.accept_labels` over the same machine labels the retrain's
queue uses, so a task the queue moved or dropped as accepted is ``accepted`` here; never on a row
with a human label. docs/quality.md, "The dataset export".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.labelconfig.classification import choices_label
from labelloop.labelconfig.consensus import annotation_votes, consensus
from labelloop.labelconfig.kinds import Label, Unusable, read_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.plan_choices import llm_matrix
from labelloop.quality.align import region_score
from labelloop.quality.data import MODEL_SOURCE, served_schema
from labelloop.quality.dataset_accept import LABELS_SEED, Accepted, accept_labels
from labelloop.quality.dataset_labels import (
    ClassArrays,
    ClassLabels,
    Combo,
    IntArray,
    machine_labels,
    with_humans,
)
from labelloop.quality.dataset_rows import SOURCES, DatasetRow, JsonLabel
from labelloop.quality.dataset_spans import by_task, span_page
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Prediction

PAGE = 500


def pages(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for at in range(0, len(ids), size):
        yield list(ids[at:at + size])


def _row_of(probas: object, labels: Sequence[str]) -> list[float] | None:
    if not isinstance(probas, dict) or not probas:
        return None
    return [float(probas.get(c, 0.0)) for c in labels]


USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens", "cost_usd", "cached_responses")


def add_usage(total: dict[str, float], usage: object) -> None:
    """Add one stored LLM label's recorded usage to ``total`` (:data:`USAGE_KEYS`)."""
    for key in USAGE_KEYS:
        v = usage.get(key) if isinstance(usage, dict) else None
        total[key] = total.get(key, 0.0) + (float(v) if isinstance(v, (int, float)) else 0.0)


def read_class_arrays(tx: Tx, project_id: int, schema: LabelSchema, *,
                      page: int = PAGE, usage: dict[str, float] | None = None) -> ClassArrays:
    """The arrays of a classification project (one transaction; ids read in pages).
    ``usage``: when given, the stored LLM labels' recorded usage is summed into it on the
    way (the dataset card's, so that it does not read them again)."""
    ids = tx.task_ids(project_id)
    n, k = len(ids), len(schema.labels)
    index: dict[Combo, int] = {} if schema.multiple else {(c,): i for i, c in
                                                          enumerate(schema.labels)}

    def cls(label: Label | Unusable) -> int:
        if isinstance(label, Unusable):
            return -1
        return index.setdefault(tuple(str(c) for c in label), len(index))

    human, voters, n_ann = (np.full(n, -1, np.int64), np.zeros(n, np.int64),
                            np.zeros(n, np.int64))
    llm, model = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    llm_conf, model_conf = np.full(n, np.nan), np.full(n, np.nan)
    llm_p, model_p = np.full((n, k), np.nan), np.full((n, k), np.nan)
    at = 0
    for chunk in pages(ids, page):
        anns = by_task(tx.get_annotations(project_id, task_ids=chunk))
        llm_rows = tx.get_llm_labels(project_id, task_ids=chunk)
        preds: dict[int, Prediction] = tx.latest_predictions(project_id, chunk,
                                                             source=MODEL_SOURCE)
        dist = llm_matrix(schema, np.asarray(chunk), llm_rows)
        if usage is not None:
            for stored in llm_rows.values():
                add_usage(usage, stored.usage)
        for j, tid in enumerate(chunk):
            i = at + j
            tv = annotation_votes(schema, anns.get(tid, ()), text=None)
            decided = consensus(tv.votes)
            n_ann[i] = len(tv.votes)
            if decided is not None:
                human[i], voters[i] = cls(decided.label), decided.voters
            lab = llm_rows.get(tid)
            if lab is not None and lab.labels and not lab.failure:
                llm[i] = cls(choices_label(schema, lab.labels))
                llm_conf[i] = np.nan if lab.confidence is None else float(lab.confidence)
            if dist is not None:
                llm_p[i] = dist[j]
            pred = preds.get(tid)
            if pred is not None:
                model[i] = cls(read_label(schema, pred.result, text=None))
                model_conf[i] = region_score(pred.result, schema.from_name)
                row = _row_of((pred.extra or {}).get("probas"), schema.labels)
                if row is not None:
                    model_p[i] = row
        at += len(chunk)
    audit_ids = tx.audit_task_ids(project_id)
    return ClassArrays(
        task_ids=np.asarray(ids, dtype=np.int64), classes=tuple(index), multiple=schema.multiple,
        human=human, voters=voters, n_annotations=n_ann,
        audit=np.fromiter((t in audit_ids for t in ids), dtype=np.bool_, count=n),
        llm=llm, llm_conf=llm_conf, llm_probas=llm_p,
        model=model, model_conf=model_conf, model_probas=model_p)


def _float(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True, eq=False)
class Export:
    """A project's dataset, ready to stream (:meth:`rows`)."""

    storage: Storage
    project_id: int
    schema: LabelSchema
    task_ids: IntArray
    arrays: ClassArrays | None  # classification only
    labels: ClassLabels | None
    page: int = PAGE
    machine: ClassLabels | None = None  # the machines' labels, humans aside (classification)
    accepted: Accepted | None = None  # auto-accept (classification)
    llm_usage: dict[str, float] | None = None  # stored LLM labels' usage, summed (classification)

    def rows(self) -> Iterator[DatasetRow]:
        """The rows in task id order, one short read transaction per page of tasks."""
        for at, chunk in enumerate(pages(self.task_ids.tolist(), self.page)):
            with self.storage.read() as tx:
                if self.arrays is None:
                    out = list(span_page(tx, self.project_id, self.schema, chunk))
                else:
                    out = list(self._class_page(tx, chunk, at * self.page))
            yield from out

    def _class_page(self, tx: Tx, chunk: list[int], offset: int) -> Iterator[DatasetRow]:
        a, lab = self.arrays, self.labels
        assert a is not None and lab is not None
        data = {t.id: t.data for t in tx.get_tasks(self.project_id, chunk)}
        for j, tid in enumerate(chunk):
            if tid not in data:  # deleted since the arrays were read
                continue
            i = offset + j
            src = int(lab.source[i])
            yield DatasetRow(
                task_id=tid, data=data[tid], label=self._json(int(lab.label[i])),
                source=SOURCES[src] if src >= 0 else None, p_correct=_float(lab.p_correct[i]),
                n_annotations=int(a.n_annotations[i]), llm_label=self._json(int(a.llm[i])),
                model_label=self._json(int(a.model[i])),
                accepted=self.accepted is not None and bool(self.accepted.mask[i]))

    def _json(self, cls: int) -> JsonLabel | None:
        assert self.arrays is not None
        if cls < 0:
            return None
        combo = self.arrays.classes[cls]
        return list(combo) if self.schema.multiple else combo[0]


def prepare_export(storage: Storage, project_id: int, *, page: int = PAGE,
                   rng: np.random.Generator | None = None,
                   accept_precision: float | None = None) -> Export:
    """Read what the rows need; raises :class:`UnknownProject`, :class:`UnsupportedConfig`
    (before any row is produced, so an HTTP answer can still be an error).
    ``accept_precision``: the auto-accept target (``LABELLOOP_ACCEPT_PRECISION``; None: off)."""
    with storage.read() as tx:
        schema = served_schema(tx, project_id, what="dataset export")
        if schema.task_type == "text_spans":
            ids = np.asarray(tx.task_ids(project_id), dtype=np.int64)
            return Export(storage, project_id, schema, ids, None, None, page)
        usage = dict.fromkeys(USAGE_KEYS, 0.0)
        arrays = read_class_arrays(tx, project_id, schema, page=page, usage=usage)
    machine = machine_labels(arrays, rng=rng if rng is not None
                             else np.random.default_rng(LABELS_SEED))
    return Export(storage, project_id, schema, arrays.task_ids, arrays,
                  with_humans(arrays, machine), page, machine,
                  accept_labels(arrays, machine, target=accept_precision), usage)
