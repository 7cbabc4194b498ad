"""The embed job: encode a project's new task inputs into the cache, then re-rank.

Inputs become vectors through the one seam, :mod:`labelloop.loop.inputs` (texts through the text
embedder; images and audio fetched by the media fetcher, then embedded by their modality's
embedder; both through the embedding cache). A task whose input gives no vector (text that is
not valid Unicode or that the embedder refuses, a file that will not fetch or decode) is
skipped: recorded in ``skipped_items`` with its reason, left out of training and of the queue,
and the job succeeds for the rest (:func:`embed_project` does the same for the retrain job).
A media fetch that failed for a reason that may pass (a timeout, Label Studio restarting) makes
the embed job fail retryably once the rest is done, so its retries fetch those files again; a
retrain that meets one queues the embed job.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from labelloop.errors import JobError
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import embed_spec, retrain_spec
from labelloop.labelconfig.kinds import task_input
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import ProjectData
from labelloop.loop.inputs import InputVectors, embed_tasks
from labelloop.skips import record_skips

log = logging.getLogger(__name__)


def embed_project(ctx: JobContext, project_id: int, schema: LabelSchema, data: ProjectData, *,
                  job_kind: str) -> tuple[np.ndarray, ProjectData, InputVectors]:
    """``(x, data, made)``: float32 ``(n, dim)`` vectors of the tasks with an input (zero rows
    for the rest), and ``data`` with the tasks whose input gave no vector taken out of
    ``has_text`` (so out of training and of the pool); those are recorded as skipped by
    ``job_kind``, and the skips of the others forgotten. A transient media failure queues the
    embed job, whose retries fetch it again."""
    pos = np.flatnonzero(data.has_text)
    made = embed_tasks(ctx, project_id, schema, [data.texts[i] for i in pos],
                       data.task_ids[pos].tolist())
    x = np.zeros((len(data.task_ids), made.vectors.shape[1]), dtype=np.float32)
    x[pos] = made.vectors
    bad = pos[list(made.failed)] if made.failed else np.zeros(0, dtype=np.int64)
    skipped = {int(data.task_ids[p]): why for p, why in zip(bad.tolist(), made.failed.values())}
    record_skips(ctx.storage, project_id, job_kind, skipped, whole_project=True)
    if made.transient:
        log.warning("project %s: %d media file(s) could not be fetched for now; the embed job "
                    "fetches them again", project_id, len(made.transient))
        ctx.enqueue(embed_spec(project_id))
    if not skipped:
        return x, data, made
    has_text = data.has_text.copy()
    has_text[bad] = False
    return x, dataclasses.replace(data, has_text=has_text), made


def handle_embed(ctx: JobContext) -> None:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported or schema.task_type == "text_triplets":
            return  # a triplet project's corpus is embedded by its mining (labelloop.triplets)
        items = [(task.id, got.value) for task in tx.get_tasks(pid)
                 if (got := task_input(schema, task.data)) and got.value]
    if not items:
        return
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(step="embed", encoded=done, tasks=len(items))

    made = embed_tasks(ctx, pid, schema, [v for _, v in items], [t for t, _ in items],
                       progress=progress)
    skipped = {items[i][0]: why for i, why in made.failed.items()}
    record_skips(ctx.storage, pid, "embed", skipped, whole_project=True)
    log.info("project %s: %d %s inputs embedded (%d new, %d skipped, %d to fetch again)", pid,
             len(items), schema.modality, made.encoded, len(skipped), len(made.transient))
    if made.encoded or not made.transient:
        ctx.enqueue(retrain_spec(pid, ctx.settings))  # new tasks need a place in the queue
    if made.transient:
        first = items[min(made.transient)][0]
        raise JobError(f"{len(made.transient)} media file(s) could not be fetched for now (task "
                       f"{first}: {made.failed[min(made.transient)]}); fetched again on retry")
