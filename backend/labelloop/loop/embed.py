"""The embed job: encode a project's new task texts into the cache, then re-rank.

A task whose text cannot be embedded (not valid Unicode, refused by the embedder) is skipped:
recorded in ``skipped_items`` with its reason, left out of training and of the queue, and the
job succeeds for the rest (:func:`embed_project` does the same for the retrain job).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from labelloop.embeddings import embed_each
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.labelconfig.results import task_text
from labelloop.loop.dataset import ProjectData
from labelloop.skips import record_skips

log = logging.getLogger(__name__)


def embed_project(ctx: JobContext, project_id: int, data: ProjectData, *,
                  job_kind: str) -> tuple[np.ndarray, ProjectData]:
    """``(x, data)``: float32 ``(n, dim)`` vectors of the tasks with text (zero rows for the
    rest), and ``data`` with the tasks whose text could not be embedded taken out of
    ``has_text`` (so out of training and of the pool); those are recorded as skipped by
    ``job_kind``, and the skips of the others forgotten."""
    text_pos = np.flatnonzero(data.has_text)
    result = embed_each([data.texts[i] for i in text_pos], embedder=ctx.resources.embedder,
                        store=ctx.storage)
    x = np.zeros((len(data.task_ids), result.vectors.shape[1]), dtype=np.float32)
    x[text_pos] = result.vectors
    bad = text_pos[list(result.failed)] if result.failed else np.zeros(0, dtype=np.int64)
    skipped = {int(data.task_ids[p]): why for p, why in zip(bad.tolist(),
                                                            result.failed.values())}
    record_skips(ctx.storage, project_id, job_kind, skipped, whole_project=True)
    if not skipped:
        return x, data
    has_text = data.has_text.copy()
    has_text[bad] = False
    return x, dataclasses.replace(data, has_text=has_text)


def handle_embed(ctx: JobContext) -> None:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported:
            return
        items = [(task.id, t) for task in tx.get_tasks(pid) if (t := task_text(schema, task.data))]
    if not items:
        return
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(step="embed", encoded=done, tasks=len(items))

    result = embed_each([t for _, t in items], embedder=ctx.resources.embedder,
                        store=ctx.storage, progress=progress)
    skipped = {items[i][0]: why for i, why in result.failed.items()}
    record_skips(ctx.storage, pid, "embed", skipped, whole_project=True)
    log.info("project %s: %d texts embedded (%d new, %d skipped)", pid, len(items), done,
             len(skipped))
    # new tasks need a place in the queue
    ctx.enqueue(retrain_spec(pid, ctx.settings))
