"""A project's tasks and human labels as arrays: the boundary between storage and the models.

Task ids appear here and nowhere below: the models and strategies see positions in arrays.
A task's human label is the one consensus rule of :mod:`labelloop.labelconfig.consensus`
(per annotator their latest vote, ground truth first, plurality, ties to the label voted most
recently), read through the label layer; a skipped task (only cancelled annotations) counts as
reviewed but has no label, so it is neither trained on nor queued again, but the model still
predicts it (``unlabeled``): its dataset label is a machine's.

Every task type keeps its canonical labels (``labels``: a tuple of choices, a tuple of spans);
the task types whose model trains on class rows also get them as ``y`` (one-hot / multi-hot,
NaN rows where unlabeled). For the others (text spans) ``y`` has no columns.

A task's input is what the label layer's :func:`~labelloop.labelconfig.kinds.task_input` gives:
for a text project its text, for an image or audio project its media value (``texts`` and
``has_text`` hold either: the input the task is about and whether it has one), which
:mod:`labelloop.loop.inputs` turns into a vector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from labelloop.labelconfig.consensus import human_label
from labelloop.labelconfig.kinds import Label, label_row, task_input
from labelloop.labelconfig.schema import LabelSchema
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation, Task


@dataclass(frozen=True)
class ProjectData:
    task_ids: np.ndarray  # (n,) Label Studio task ids, ascending
    texts: list[str]  # each task's input: its text or media value ("" when it has none)
    has_text: np.ndarray  # (n,) bool: has an input (that gave a vector); others never ranked
    y: np.ndarray  # (n, k) float: one-hot / multi-hot rows, NaN rows = no label; (n, 0): no rows
    reviewed: np.ndarray  # (n,) bool: a human labeled or skipped it
    annotations: int
    labels: Sequence[Label | None] = ()  # the consensus label of each task (None: none)
    ties: int = 0  # consensus labels that rest on the tie-break (the most recent vote)

    @cached_property
    def labeled(self) -> np.ndarray:
        """(n,) bool: the tasks with a consensus label."""
        if len(self.labels) != len(self.task_ids):  # built from rows alone
            return np.asarray(~np.isnan(self.y).any(axis=1)) if self.y.shape[1] else \
                np.zeros(len(self.task_ids), dtype=bool)
        return np.fromiter((lab is not None for lab in self.labels), dtype=bool,
                           count=len(self.labels))

    @property
    def pool(self) -> np.ndarray:
        """Positions of tasks a human has not reviewed and that have text."""
        return np.flatnonzero(~self.reviewed & self.has_text)

    @property
    def unlabeled(self) -> np.ndarray:
        """Positions of tasks with text and no consensus label: the pool and the skipped tasks.
        Their dataset label is a machine's, so the model predicts them all (a skipped task is
        not queued again, but it is not labelled either)."""
        return np.flatnonzero(~self.labeled & self.has_text)

    def label_index(self) -> np.ndarray:
        """Single choice: the class index of each labeled task (-1 where unlabeled)."""
        out = np.full(len(self.task_ids), -1, dtype=np.int64)
        mask = self.labeled
        out[mask] = np.argmax(self.y[mask], axis=1)
        return out


def build_project_data(schema: LabelSchema, tasks: Iterable[Task],
                       annotations: Iterable[Annotation]) -> ProjectData:
    """The arrays of a project from its task and annotation records (pure)."""
    ordered = sorted(tasks, key=lambda t: t.id)
    by_task: dict[int, list[Annotation]] = {}
    n_anns = 0
    for a in annotations:
        n_anns += 1
        by_task.setdefault(a.task_id, []).append(a)
    n = len(ordered)
    rows: list[np.ndarray | None] = []
    labels: list[Label | None] = []
    reviewed = np.zeros(n, dtype=bool)
    has_text = np.zeros(n, dtype=bool)
    texts: list[str] = []
    ties = 0
    for i, t in enumerate(ordered):
        got = task_input(schema, t.data)
        texts.append(got.value if got is not None else "")
        has_text[i] = bool(got is not None and got.value.strip())
        text = got.value if got is not None and got.is_text else None  # spans read their text
        found, reviewed[i] = human_label(schema, by_task.get(t.id, []), text=text)
        label = found.label if found is not None else None
        ties += int(found is not None and found.tie)
        labels.append(label)
        rows.append(None if label is None else label_row(schema, label))
    k = len(schema.labels) if label_row(schema, ()) is not None else 0  # a kind without rows
    y = np.full((n, k), np.nan)
    if k:
        for i, row in enumerate(rows):
            if row is not None:
                y[i] = row
    return ProjectData(np.array([t.id for t in ordered], dtype=np.int64), texts, has_text, y,
                       reviewed, n_anns, labels, ties)


def load_project_data(tx: Tx, project_id: int, schema: LabelSchema) -> ProjectData:
    return build_project_data(schema, tx.get_tasks(project_id), tx.get_annotations(project_id))
