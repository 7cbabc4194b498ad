"""The predictor that answers ``/predict``.

Label Studio waits up to 100 s for the answer and stores exactly one entry per task, in request
order; an entry of ``[]`` means "no prediction for this task" (read from Label Studio 1.23.2's
``ml/models.py``: a list entry is iterated, an empty one stores nothing). labelloop answers from
what its jobs already computed; it never trains inside the request.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from labelloop.errors import InvalidInput
from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.storage.base import Storage
from labelloop.storage.records import Project

log = logging.getLogger(__name__)
Entry = dict[str, Any] | list[Any]


class Predictor(Protocol):
    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        """One entry per task id, in order: a prediction dict, or ``[]`` for none."""


class StoredPredictor:
    """Answers from predictions stored by labelloop's jobs (the newest per task)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def lookup(self, project: Project, schema: LabelSchema | None,
               task_ids: list[int]) -> list[Entry]:
        if schema is None or not schema.supported:
            return [[] for _ in task_ids]
        with self.storage.read() as tx:
            stored = tx.latest_predictions(project.id, task_ids)
        out: list[Entry] = []
        for tid in task_ids:
            p = stored.get(tid)
            if p is None:
                out.append([])
                continue
            try:
                validate_result(schema, p.result)
            except InvalidInput as exc:  # config changed since it was computed, say
                log.warning("task %s: stored prediction %s is invalid now (%s); not sent",
                            tid, p.model_version, exc.message)
                out.append([])
                continue
            out.append({"result": p.result, "score": p.score, "model_version": p.model_version})
        return out

    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.lookup, project, schema, task_ids)
