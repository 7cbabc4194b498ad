"""The predictor the service uses: stored LLM labels, then the local model, then the LLM live.

For each task, in order of preference (the one pre-label rule, :mod:`labelloop.predict.prelabels`,
for every task type):
1. the newest stored LLM label (its region carries the LLM's confidence as ``score``; for a span
   project its stored spans, each region with its span's score);
2. the newest stored local-model prediction (from the last retrain);
3. when an LLM is configured, a live call for the tasks that have neither, all at once under the
   labeler's concurrency limit, within ``predict_llm_budget_s`` (Label Studio waits 100 s): what
   is answered in time is sent (and stored, so the next request is instant), the rest get "no
   prediction" and are labeled by the background pre-label job.
Every result is built and validated against the labeling config and the task's text before it
leaves (spans at Label Studio's offsets, :func:`labelloop.labelconfig.spans.to_ls_offsets`); an
invalid one is dropped and logged.

Once labelloop has published a queue for the project, every answer carries the version the
project shows in Label Studio (:func:`published_answer_version`): Label Studio stores each
prediction of a ``/predict`` answer under the answer's own ``model_version``, so answering under
the LLM's or an older model's version (as the quick view makes it ask for a task without
predictions) added a stray version to the pre-label dropdown. The score of such an answer is the
task's score in that version's queue, else its pre-label's confidence (never null: Label Studio
on SQLite would serve a null score first).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.drift import created_by_labelloop
from labelloop.llm import LabelOutcome, LabelRequest
from labelloop.llm.pool import example_pool
from labelloop.loop.llm_inputs import llm_prelabels_off
from labelloop.loop.resources import Resources
from labelloop.predict.base import Entry, StoredPredictor
from labelloop.predict.prelabels import outcome_label, prelabel_entry, resolve, task_texts
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records import Project

log = logging.getLogger(__name__)


def published_answer_version(project: Project, prefix: str) -> str | None:
    """The version ``/predict`` and ``/setup`` answer under once labelloop has published: the
    one Label Studio shows when labelloop created it, else the published one. None before the
    first publish."""
    if not project.published_version:
        return None
    shown = project.model_version
    return shown if shown and created_by_labelloop(shown, prefix) else project.published_version


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
        if not live:
            return entries, [], None
        missing_ids = [tid for tid, e in zip(task_ids, entries) if not e]
        if not missing_ids:
            return entries, [], None
        with self.storage.read() as tx:
            texts = task_texts(tx, project.id, schema, missing_ids)
            examples = example_pool(tx, project.id, schema)
        missing = [LabelRequest(tid, text) for tid in missing_ids if (text := texts.get(tid))]
        return entries, missing, examples

    async def predict(self, project: Project, schema: LabelSchema | None,
                      task_ids: list[int]) -> list[Entry]:
        entries = await self._predict(project, schema, task_ids)
        version = published_answer_version(project, self.settings.model_version_prefix)
        if version is None or not any(entries):
            return entries
        return await run_in_threadpool(self._under_version, project, version, task_ids, entries)

    def _under_version(self, project: Project, version: str, task_ids: list[int],
                       entries: list[Entry]) -> list[Entry]:
        """``entries`` answered under ``version``, scored by its queue (else by confidence)."""
        answered = [tid for tid, e in zip(task_ids, entries) if isinstance(e, dict) and e]
        with self.storage.read() as tx:
            queued = tx.queue_scores(project.id, version, answered)
        out: list[Entry] = []
        for tid, e in zip(task_ids, entries):
            if isinstance(e, dict) and e:
                score = queued.get(tid, e.get("score"))
                e = {**e, "model_version": version,
                     "score": 1.0 if score is None else float(score)}
            out.append(e)
        return out

    async def _predict(self, project: Project, schema: LabelSchema | None,
                       task_ids: list[int]) -> list[Entry]:
        if schema is None or not schema.supported or schema.task_type == "text_triplets":
            return [[] for _ in task_ids]  # triplet tasks carry their pre-judgement already
        labeler = self.resources.labeler(self.storage)
        live = labeler is not None and labeler.status().state == "ok" and \
            llm_prelabels_off(schema, labeler) is None
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
        texts = {r.task_id: r.text for r in missing}
        for tid, outcome in got.items():
            machine = outcome_label(schema, outcome, version=labeler.version_for(schema))
            found = resolve(schema, [machine], text=texts.get(tid), task_id=tid)
            if found is not None:
                entries[position[tid]] = prelabel_entry(found)
        return entries
