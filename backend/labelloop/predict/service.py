"""The predictor the service uses: stored LLM labels, then the local model, then the LLM live.

For each task, in order of preference:
1. the newest stored LLM label (its region carries the LLM's confidence as ``score``);
2. the newest stored local-model prediction (from the last retrain);
3. when an LLM is configured, a live call for the tasks that have neither, all at once under the
   labeler's concurrency limit, within ``predict_llm_budget_s`` (Label Studio waits 100 s): what
   is answered in time is sent (and stored, so the next request is instant), the rest get "no
   prediction" and are labeled by the background pre-label job.
Every result is validated against the labeling config before it leaves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from labelloop.errors import InvalidInput
from labelloop.labelconfig.results import choices_result, task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm import LabelOutcome, LabelRequest
from labelloop.llm.pool import example_pool
from labelloop.loop.resources import Resources
from labelloop.predict.base import Entry, StoredPredictor
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records import Project

log = logging.getLogger(__name__)


def llm_entry(schema: LabelSchema, labels: list[str] | None, confidence: float | None,
              version: str) -> dict[str, Any] | None:
    if not labels:
        return None
    try:
        result = choices_result(schema, labels, score=confidence)
    except InvalidInput:  # a label no longer in the config
        return None
    return {"result": result, "score": confidence, "model_version": version}


class ServicePredictor:
    def __init__(self, storage: Storage, resources: Resources, settings: Settings) -> None:
        self.storage = storage
        self.resources = resources
        self.settings = settings
        self.stored = StoredPredictor(storage)

    def _lookup(self, project: Project, schema: LabelSchema, task_ids: list[int],
                live: bool) -> tuple[list[Entry], list[LabelRequest], Any]:
        """Stored answers; with ``live``, also the requests (and few-shot pool) for the LLM."""
        entries = self.stored.lookup(project, schema, task_ids)
        with self.storage.read() as tx:
            llm = tx.get_llm_labels(project.id, task_ids=task_ids)
            for i, tid in enumerate(task_ids):
                lab = llm.get(tid)
                entry = llm_entry(schema, lab.labels, lab.confidence, lab.model_version) \
                    if lab else None
                if entry:
                    entries[i] = entry
            if not live:
                return entries, [], None
            missing_ids = [tid for tid, e in zip(task_ids, entries) if not e]
            if not missing_ids:
                return entries, [], None
            tasks = {t.id: t for t in tx.get_tasks(project.id, ids=missing_ids)}
            examples = example_pool(tx, project.id, schema)
        missing = [LabelRequest(tid, text) for tid in missing_ids
                   if tid in tasks and (text := task_text(schema, tasks[tid].data))]
        return entries, missing, examples

    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        if schema is None or not schema.supported:
            return [[] for _ in task_ids]
        labeler = self.resources.labeler(self.storage)
        live = labeler is not None and labeler.status().state == "ok"
        entries, missing, examples = await run_in_threadpool(self._lookup, project, schema,
                                                             task_ids, live)
        if not missing or labeler is None:
            return entries
        got: dict[int, LabelOutcome] = {}
        call = asyncio.ensure_future(labeler.label_many(
            schema, missing, examples=examples, project_id=project.id,
            on_outcome=lambda o: got.__setitem__(o.task_id, o)))
        done, _ = await asyncio.wait({call}, timeout=self.settings.predict_llm_budget_s)
        if not done:
            call.cancel()
            log.warning("predict: the LLM answered %d of %d tasks within %.0f s; the rest are "
                        "left to the pre-label job", len(got), len(missing),
                        self.settings.predict_llm_budget_s)
        elif call.exception() is not None:
            log.warning("predict: LLM call failed: %s", call.exception())
        position = {tid: i for i, tid in enumerate(task_ids)}
        for tid, outcome in got.items():
            entry = llm_entry(schema, outcome.labels, outcome.confidence, labeler.model_version)
            if entry:
                entries[position[tid]] = entry
        return entries
