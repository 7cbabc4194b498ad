"""The embed job: encode a project's new task texts into the cache, then re-rank."""

from __future__ import annotations

import logging

from labelloop.embeddings import embed_cached
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.labelconfig.results import task_text

log = logging.getLogger(__name__)


def handle_embed(ctx: JobContext) -> None:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported:
            return
        texts = [t for t in (task_text(schema, task.data) for task in tx.get_tasks(pid)) if t]
    if not texts:
        return
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(step="embed", encoded=done, tasks=len(texts))

    embed_cached(texts, embedder=ctx.resources.embedder, store=ctx.storage, progress=progress)
    log.info("project %s: %d texts embedded (%d new)", pid, len(texts), done)
    # new tasks need a place in the queue
    ctx.enqueue(retrain_spec(pid, ctx.settings))
