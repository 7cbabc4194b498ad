"""Reading a stored project for the LLM: the few-shot pool, and the LLM's distributions.

:func:`example_pool` builds the :class:`~labelloop.llm.fewshot.ExamplePool` of a project.

Candidates are the project's tasks with a human label: the one consensus rule of
:mod:`labelloop.labelconfig.consensus` (the label training uses: each annotator's latest vote,
ground truth first, plurality, a tie to the latest), read through the label layer. A candidate counts as one the LLM got wrong when the LLM's stored label for the task
differs from the human one, or the LLM failed on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from labelloop.labelconfig.consensus import human_label
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.fewshot import ExamplePool
from labelloop.llm.span_pool import span_example_pool
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation


def example_pool(tx: Tx, project_id: int, schema: LabelSchema, *,
                 model_version: str | None = None,
                 embeddings: Mapping[int, np.ndarray] | None = None) -> ExamplePool:
    """The human-labeled candidates of a project. ``embeddings`` (task id -> vector) are used
    only when every candidate has one. Text spans: :func:`~labelloop.llm.span_pool.
    span_example_pool`."""
    if schema.task_type == "text_spans":
        return span_example_pool(tx, project_id, schema, model_version=model_version,
                                 embeddings=embeddings)
    by_task: dict[int, list[Annotation]] = defaultdict(list)
    for a in tx.get_annotations(project_id):
        by_task[a.task_id].append(a)
    ids = sorted(by_task)
    tasks = {t.id: t for t in tx.get_tasks(project_id, ids)}
    llm = tx.get_llm_labels(project_id, task_ids=ids, model_version=model_version)
    texts, labels, wrong, kept = [], [], [], []
    for tid in ids:
        task = tasks.get(tid)
        text = task_text(schema, task.data) if task else None
        if not text:
            continue
        agreed, _ = human_label(schema, by_task[tid], text=text)
        if agreed is None:
            continue
        human = [str(c) for c in agreed.label]
        answer = llm.get(tid)
        texts.append(text)
        labels.append(human)
        wrong.append(answer is not None and (answer.labels is None
                                             or set(answer.labels) != set(human)))
        kept.append(tid)
    vectors = None
    if embeddings is not None and kept and all(tid in embeddings for tid in kept):
        vectors = np.stack([np.asarray(embeddings[tid], dtype=np.float32) for tid in kept])
    return ExamplePool(texts, labels, schema.labels, embeddings=vectors,
                       llm_wrong=np.asarray(wrong, dtype=bool))


def stored_probas(tx: Tx, project_id: int, task_ids: list[int], classes: list[str], *,
                  model_version: str | None = None) -> np.ndarray:
    """The LLM's stored distributions as an ``(n_tasks, n_classes)`` array in ``classes``
    order (the committee's input): one-hot where the confidence is unknown, NaN rows where the
    LLM failed or has no label for the task."""
    stored = tx.get_llm_labels(project_id, task_ids=task_ids, model_version=model_version)
    out = np.full((len(task_ids), len(classes)), np.nan)
    pos = {c: j for j, c in enumerate(classes)}
    for i, tid in enumerate(task_ids):
        row = stored.get(tid)
        if row is None or row.labels is None:
            continue
        if row.distribution:
            out[i] = [float(row.distribution.get(c, 0.0)) for c in classes]
        else:
            out[i] = 0.0
            out[i, [pos[x] for x in row.labels if x in pos]] = 1.0
    return out
