"""A project's tasks and human labels as arrays: the boundary between storage and the models.

Task ids appear here and nowhere below: the models and strategies see positions in arrays.
A task's human label is the majority of its non-cancelled annotations for the schema's control
(ties: the most recent annotation wins); a skipped task (only cancelled annotations) counts as
reviewed but has no label, so it is neither trained on nor queued again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from labelloop.labelconfig.results import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation


@dataclass(frozen=True)
class ProjectData:
    task_ids: np.ndarray  # (n,) Label Studio task ids, ascending
    texts: list[str]  # the text each task is about ("" when it has none)
    has_text: np.ndarray  # (n,) bool: tasks without text are never ranked
    y: np.ndarray  # (n, k) float: one-hot / multi-hot human label; NaN rows = no label
    reviewed: np.ndarray  # (n,) bool: a human labeled or skipped it
    annotations: int

    @property
    def labeled(self) -> np.ndarray:
        return ~np.isnan(self.y).any(axis=1)

    @property
    def pool(self) -> np.ndarray:
        """Positions of tasks a human has not reviewed and that have text."""
        return np.flatnonzero(~self.reviewed & self.has_text)

    def label_index(self) -> np.ndarray:
        """Single choice: the class index of each labeled task (-1 where unlabeled)."""
        out = np.full(len(self.task_ids), -1, dtype=np.int64)
        mask = self.labeled
        out[mask] = np.argmax(self.y[mask], axis=1)
        return out


def choices_of(schema: LabelSchema, ann: Annotation) -> list[str] | None:
    """The labels an annotation chose for the schema's control (None: it has none)."""
    for region in ann.result or []:
        if not isinstance(region, dict) or region.get("from_name") != schema.from_name:
            continue
        value = region.get("value")
        chosen = value.get("choices") if isinstance(value, dict) else None
        if isinstance(chosen, list):
            known = [c for c in chosen if c in schema.labels]
            return known or None
    return None


def human_label(schema: LabelSchema, anns: list[Annotation]) -> tuple[np.ndarray | None, bool]:
    """(label vector or None, reviewed) from one task's annotations."""
    k = len(schema.labels)
    index = {lab: i for i, lab in enumerate(schema.labels)}
    votes: list[tuple[str, ...]] = []
    reviewed = False
    for a in sorted(anns, key=lambda a: (a.ls_updated_at or "", a.id)):
        reviewed = True
        if a.was_cancelled:
            continue
        chosen = choices_of(schema, a)
        if chosen:
            votes.append(tuple(sorted(chosen)))
    if not votes:
        return None, reviewed
    counts = Counter(votes)
    best = max(counts.values())
    winner = next(v for v in reversed(votes) if counts[v] == best)  # ties: most recent
    vec = np.zeros(k)
    for lab in winner:
        vec[index[lab]] = 1.0
    return vec, reviewed


def load_project_data(tx: Tx, project_id: int, schema: LabelSchema) -> ProjectData:
    tasks = sorted(tx.get_tasks(project_id), key=lambda t: t.id)
    by_task: dict[int, list[Annotation]] = {}
    anns = tx.get_annotations(project_id)
    for a in anns:
        by_task.setdefault(a.task_id, []).append(a)
    k = len(schema.labels)
    y = np.full((len(tasks), k), np.nan)
    reviewed = np.zeros(len(tasks), dtype=bool)
    texts: list[str] = []
    has_text = np.zeros(len(tasks), dtype=bool)
    for i, t in enumerate(tasks):
        text = task_text(schema, t.data)
        texts.append(text or "")
        has_text[i] = bool(text and text.strip())
        vec, rev = human_label(schema, by_task.get(t.id, []))
        reviewed[i] = rev
        if vec is not None:
            y[i] = vec
    return ProjectData(np.array([t.id for t in tasks], dtype=np.int64), texts, has_text, y,
                       reviewed, len(anns))
