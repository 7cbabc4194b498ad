"""The rest of a published queue: the ``publish_tail`` job.

A publish (:mod:`labelloop.labelstudio.publish`) imports the head of the queue and switches Label
Studio to it; this job imports the remaining ranked tasks of the same version in queue order, in
requests of ``publish_tail_batch_size``, resuming after what it (or the publish) already
imported (:func:`tail_start`), and giving way as soon as a newer queue is on its way (a retrain or
publish queued, or another version published): its work would be thrown away.
"""

from __future__ import annotations

import logging

from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.labelstudio.publish import (
    job_gateway,
    older_than_published,
    predictions_for,
    publish_texts,
    queue_order,
    stored_prelabels,
)
from labelloop.storage.base import Tx

log = logging.getLogger(__name__)


def queue_work_waiting(tx: Tx, project_id: int) -> str | None:
    """Why background publishing work should give way now: a retrain or publish is queued (not
    a handed-over publish of a version older than the published one: it will publish nothing)."""
    counts = tx.job_counts(project_id)
    for kind in (JobKind.RETRAIN, JobKind.PUBLISH):
        if not counts.get(kind.value, {}).get(JobStatus.QUEUED.value):
            continue
        if kind is JobKind.PUBLISH and all(
                j.payload.get("stored") and older_than_published(tx, project_id,
                                                                  str(j.payload.get("version")))
                for j in tx.list_jobs(project_id=project_id, status=JobStatus.QUEUED, limit=1000)
                if j.kind is JobKind.PUBLISH):
            continue
        return f"a {kind.value} is queued"
    return None


def _newer_on_the_way(tx: Tx, project_id: int, version: str) -> str | None:
    project = tx.get_project(project_id)
    if project is None or project.published_version != version:
        return "another version was published"
    return queue_work_waiting(tx, project_id)


def tail_start(*, head: int | None, checkpoint: int | None, held: int, batch: int,
               total: int) -> int:
    """Where the rest of a published queue resumes (an index into its order).

    ``head``: the tasks the publish imported (its record; None for a version published before
    it was recorded); ``checkpoint``: the tasks this job had imported before an earlier attempt
    failed, None on a first attempt (or after the version was published again); ``held``:
    Label Studio's count of the version's predictions; ``total``: the tasks in the order.
    That count alone is not a position:
    ``/predict`` answers under the published version, and Label Studio stores each answer (a
    quick view of a task the tail has not reached yet), so it can run ahead of the order and a
    resume from it would skip tasks, which Label Studio would then never serve. It only tells
    whether the request in flight when the attempt failed had landed all the same (a timeout
    after Label Studio stored it): then ``held`` is at least the checkpoint plus that request.
    A task imported twice is harmless (one more prediction of the same score); one skipped is
    lost to the queue."""
    if head is None:
        return held
    start = max(head, checkpoint or 0)
    in_flight = min(batch, max(0, total - start))
    if checkpoint is not None and in_flight and held >= start + in_flight:
        start += in_flight
    return start


def handle_publish_tail(ctx: JobContext) -> None:
    """Job handler: import the published version's ranked tasks beyond the head, in order,
    resuming after what this job (or the publish) already imported (:func:`tail_start`)."""
    pid, gateway = job_gateway(ctx)
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        version = project.published_version if project else None
        entries = tx.get_queue(pid, version) if version else []
        scores = {e.task_id: e.score for e in entries}
        order, _ = queue_order(tx, pid, scores)
        record = tx.get_model_version(pid, version) if version else None
    if project is None or not version or not order:
        return
    # the publish that made the version current: a later publish of it imports its head anew
    published_at = record.published_at if record else None
    head = (record.lineage or {}).get("published_tasks") if record else None
    earlier = ctx.job.progress or {}
    checkpoint = earlier.get("published") if earlier.get("version") == version and \
        earlier.get("published_at") == published_at else None
    batch = ctx.settings.publish_tail_batch_size
    done = tail_start(head=head if isinstance(head, int) else None,
                      checkpoint=checkpoint if isinstance(checkpoint, int) else None,
                      held=gateway.list_model_versions(pid).get(version, 0), batch=batch,
                      total=len(order))
    ctx.progress(step="publish_tail", version=version, published_at=published_at,
                 published=done, tasks=len(order))  # a request in flight is then told apart
    for i in range(done, len(order), batch):
        with ctx.storage.read() as tx:
            why = _newer_on_the_way(tx, pid, version)
            chunk = order[i:i + batch]
            results = stored_prelabels(tx, project, chunk)
            texts = publish_texts(tx, project, chunk)
        if why:
            log.info("project %s: rest of %s left at %d of %d tasks: %s", pid, version, i,
                     len(order), why)
            return
        preds = predictions_for(project, chunk, scores, version, results, texts=texts)
        gateway.import_predictions(pid, preds)
        ctx.progress(step="publish_tail", version=version, published_at=published_at,
                     published=i + len(chunk), tasks=len(order))
    log.info("project %s: all %d ranked tasks of %s in Label Studio", pid, len(order), version)

