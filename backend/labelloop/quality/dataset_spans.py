"""The machines' spans of one task for the dataset export (:mod:`labelloop.quality.dataset`).

The LLM's stored spans (:func:`labelloop.llm.span_store.stored_spans`) count only when every one
is valid in the task's text (the check the quality report makes); their score is the stored
label's confidence (the mean span score), else the mean of the stored span scores. The local
model's newest prediction is read through the label layer against the text; its score is the
mean of its regions' scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from labelloop.errors import InvalidInput
from labelloop.labelconfig.consensus import annotation_votes, consensus
from labelloop.labelconfig.kinds import Unusable, read_label, task_text
from labelloop.labelconfig.prelabel import from_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.llm.span_store import stored_span_scores, stored_spans
from labelloop.quality.data import MODEL_SOURCE
from labelloop.quality.dataset_rows import DatasetRow, Source
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation, Prediction
from labelloop.storage.records_llm import LlmLabel


@dataclass(frozen=True)
class SpanMachines:
    llm: list[Span] | None
    llm_score: float | None
    model: list[Span] | None
    model_score: float | None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def span_machines(schema: LabelSchema, text: str | None, llm: LlmLabel | None,
                  model: Prediction | None) -> SpanMachines:
    """The LLM's and the model's spans of one task (None: none, or not valid in the text)."""
    llm_spans = stored_spans(llm) if llm is not None else None
    llm_score: float | None = None
    if llm is not None and llm_spans is not None:
        try:
            validate_spans(text or "", llm_spans, labels=schema.labels)
            llm_score = llm.confidence if llm.confidence is not None else \
                _mean(list(stored_span_scores(llm).values()))
        except InvalidInput:
            llm_spans = None
    model_spans: list[Span] | None = None
    model_score: float | None = None
    if model is not None:
        label = read_label(schema, model.result, text=text)
        if not isinstance(label, Unusable):
            model_spans = sorted(s for s in label if isinstance(s, Span))
            got = from_result(schema, model.result, source="model", text=text)
            scores = list(got.region_scores.values()) if got is not None and \
                got.region_scores else []
            model_score = _mean(scores)
    return SpanMachines(llm_spans, llm_score, model_spans, model_score)


def span_label_json(spans: list[Span] | None) -> list[dict[str, int | str]] | None:
    """Spans as ``[{start, end, label}]`` (None stays None: no label)."""
    if spans is None:
        return None
    return [{"start": s.start, "end": s.end, "label": s.label} for s in spans]


def by_task(annotations: Iterable[Annotation]) -> dict[int, list[Annotation]]:
    out: dict[int, list[Annotation]] = {}
    for a in annotations:
        out.setdefault(a.task_id, []).append(a)
    return out


def span_page(tx: Tx, project_id: int, schema: LabelSchema,
              chunk: list[int]) -> Iterator[DatasetRow]:
    """The rows of one page of a span project: human spans where reviewed, else the LLM's
    stored spans (valid in the text), else the model's; p_correct = their mean span score."""
    tasks = {t.id: t for t in tx.get_tasks(project_id, chunk)}
    anns = by_task(tx.get_annotations(project_id, task_ids=chunk))
    llm_rows = tx.get_llm_labels(project_id, task_ids=chunk)
    preds = tx.latest_predictions(project_id, chunk, source=MODEL_SOURCE)
    for tid in chunk:
        task = tasks.get(tid)
        if task is None:
            continue
        text = task_text(schema, task.data)
        tv = annotation_votes(schema, anns.get(tid, ()), text=text)
        decided = consensus(tv.votes)
        m = span_machines(schema, text, llm_rows.get(tid), preds.get(tid))
        if decided is not None:
            label: list[Span] | None = sorted(s for s in decided.label if isinstance(s, Span))
            source: Source | None = "consensus" if decided.voters >= 2 else "human"
            p: float | None = 1.0
        elif m.llm is not None:
            label, source, p = m.llm, "llm", m.llm_score
        elif m.model is not None:
            label, source, p = m.model, "model", m.model_score
        else:
            label, source, p = None, None, None
        yield DatasetRow(task_id=tid, data=task.data, label=span_label_json(label),
                         source=source, p_correct=p, n_annotations=len(tv.votes),
                         llm_label=span_label_json(m.llm), model_label=span_label_json(m.model))
