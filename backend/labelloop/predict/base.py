"""The predictor that answers ``/predict``.

Label Studio waits up to 100 s for the answer and stores exactly one entry per task, in request
order; an entry of ``[]`` means "no prediction for this task" (read from Label Studio 1.23.2's
``ml/models.py``: a list entry is iterated, an empty one stores nothing). labelloop answers from
what its jobs already computed; it never trains inside the request.
"""

from __future__ import annotations

from typing import Any, Protocol

from labelloop.labelconfig.schema import LabelSchema
from labelloop.predict.prelabels import prelabel_entry, stored_prelabels
from labelloop.storage.base import Storage
from labelloop.storage.records import Project

Entry = dict[str, Any] | list[Any]


class Predictor(Protocol):
    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        """One entry per task id, in order: a prediction dict, or ``[]`` for none."""


class StoredPredictor:
    """Answers from what labelloop's jobs stored: per task the one pre-label rule
    (:mod:`labelloop.predict.prelabels`: the LLM's stored label, else the newest stored
    prediction), built and validated against the config and the task's text."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def lookup(self, project: Project, schema: LabelSchema | None,
               task_ids: list[int]) -> list[Entry]:
        if schema is None or not schema.supported:
            return [[] for _ in task_ids]
        with self.storage.read() as tx:
            found = stored_prelabels(tx, project.id, schema, task_ids)
        return [prelabel_entry(found[tid]) if tid in found else [] for tid in task_ids]

    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.lookup, project, schema, task_ids)
