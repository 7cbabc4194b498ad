"""Few-shot candidates for text spans: texts annotated by people, with their entities.

A candidate is a task whose consensus label (:mod:`labelloop.labelconfig.consensus`, the rule
training uses) has at least one span; it is shown with its entities as the answer JSON, in
reading order. Candidates are chosen as classification's are (:class:`~labelloop.llm.fewshot.
ExamplePool`: labels take turns, most similar first by embedding when every candidate has one,
ones the LLM got wrong before favoured). The LLM got a candidate wrong when its stored spans
differ from the human ones, or it failed on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from labelloop.labelconfig.consensus import human_label
from labelloop.labelconfig.kinds import Unusable, read_label, task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span
from labelloop.llm.fewshot import ExamplePool
from labelloop.llm.span_store import stored_spans
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation


def entities_of(text: str, spans: Iterable[Span]) -> list[tuple[str, str]]:
    """A text's spans as the (mention, output label) pairs of an answer, in reading order."""
    return [(text[s.start:s.end], s.label) for s in sorted(spans)]


def _pool(texts: list[str], spans: list[tuple[Span, ...]], schema: LabelSchema, *,
          wrong: Sequence[bool] | None = None,
          vectors: np.ndarray | None = None) -> ExamplePool:
    return ExamplePool(
        texts, [sorted({s.label for s in x}) for x in spans], schema.labels,
        embeddings=vectors, llm_wrong=None if wrong is None else np.asarray(wrong, dtype=bool),
        entities=[entities_of(t, x) for t, x in zip(texts, spans)])


def span_example_pool(tx: Tx, project_id: int, schema: LabelSchema, *,
                      model_version: str | None = None,
                      embeddings: Mapping[int, np.ndarray] | None = None) -> ExamplePool:
    """The human-annotated span candidates of a stored project. ``embeddings`` (task id ->
    vector) are used only when every candidate has one."""
    by_task: dict[int, list[Annotation]] = defaultdict(list)
    for a in tx.get_annotations(project_id):
        by_task[a.task_id].append(a)
    ids = sorted(by_task)
    tasks = {t.id: t for t in tx.get_tasks(project_id, ids)}
    llm = tx.get_llm_labels(project_id, task_ids=ids, model_version=model_version)
    texts: list[str] = []
    spans: list[tuple[Span, ...]] = []
    wrong: list[bool] = []
    kept: list[int] = []
    for tid in ids:
        task = tasks.get(tid)
        text = task_text(schema, task.data) if task else None
        if not text:
            continue
        agreed, _ = human_label(schema, by_task[tid], text=text)
        human = tuple(s for s in agreed.label if isinstance(s, Span)) if agreed else ()
        if not human:
            continue
        answer = llm.get(tid)
        said = stored_spans(answer) if answer is not None else None
        texts.append(text)
        spans.append(human)
        wrong.append(answer is not None and (said is None or set(said) != set(human)))
        kept.append(tid)
    vectors = None
    if embeddings is not None and kept and all(tid in embeddings for tid in kept):
        vectors = np.stack([np.asarray(embeddings[tid], dtype=np.float32) for tid in kept])
    return _pool(texts, spans, schema, wrong=wrong, vectors=vectors)


def span_file_pool(tasks: Iterable[Mapping[str, Any]], schema: LabelSchema) -> ExamplePool:
    """Candidates from annotated tasks of a file (a Label Studio export): each task's last
    annotation that is not cancelled."""
    texts: list[str] = []
    spans: list[tuple[Span, ...]] = []
    for task in tasks:
        data = task.get("data")
        text = task_text(schema, data if isinstance(data, Mapping) else None)
        anns = [a for a in task.get("annotations") or []
                if isinstance(a, dict) and not a.get("was_cancelled")]
        if not text or not anns:
            continue
        label = read_label(schema, anns[-1].get("result"), text=text)
        if isinstance(label, Unusable):
            continue
        found = tuple(s for s in label if isinstance(s, Span))
        if found:
            texts.append(text)
            spans.append(found)
    return _pool(texts, spans, schema)
