"""The outbox: selected stream items become Label Studio tasks, in batches, nothing lost and
nothing created twice (the ``stream_export`` job, :func:`handle_stream_export`).

An item's way out: ``pending`` (selected at ingest) → ``sending`` (committed before the import
call: from here the outcome may be unknown) → ``created`` (the Label Studio task id stored).
One run of the job, for one project (one run at a time: the job's serial key):

1. **recover** the items left ``sending`` by an earlier attempt whose answer never came (a
   crash, a timeout, a 502 after the work was done): the project's tasks above
   :func:`~labelloop.stream.outbox_plan.recovery_floor` are read from Label Studio and each
   item is ``created`` when a task carries its key, else ``pending`` again;
2. **send** the pending items, ``stream_export_batch`` at a time: their predictions
   (:mod:`labelloop.stream.outbox_predict`), ``sending`` committed, one import call
   (:meth:`~labelloop.labelstudio.gateway.LabelStudioGateway.import_tasks`), then in one write
   transaction the items ``created``, the tasks in labelloop's tasks table (with the key in
   ``meta``), the LLM's answers stored as the tasks' LLM labels (the pre-label job does not
   pay for them again) and the jobs new tasks get (:func:`labelloop.jobs.triggers.
   new_tasks_specs`) queued — so the ordinary loop knows the tasks at once, webhook or not.

Label Studio unreachable or failing: the error propagates and the job retries with its policy
(:data:`labelloop.jobs.types.POLICIES`); the items wait in labelloop, and the periodic timer
(:func:`labelloop.jobs.worker.WorkerPool.enqueue_periodic_resync`) queues the job again for any
project with items still waiting. Without Label Studio credentials the items stay pending and
each run says so in the log.

Label Studio *refusing* a batch (400, 413 or 422: an item's data it will not store, a proxy's
body limit) is not an outage: retrying the same batch would fail forever and hold up every item
behind it. Label Studio's import validates the whole request before it stores anything, so the
batch goes back to ``pending`` and is sent again in halves (:func:`_send`), down to the item it
refuses alone, which is parked as ``failed`` (logged with Label Studio's message, counted in
``/status``); the others go out.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from labelloop.errors import JobError, LabelStudioUnavailable
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import new_tasks_specs
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.storage.base import Tx
from labelloop.storage.records import Project
from labelloop.storage.records_stream import StreamItem
from labelloop.stream.outbox_plan import (
    created_tasks,
    plan_recovery,
    recovery_floor,
    stream_key_of,
    task_body,
)
from labelloop.stream.outbox_predict import Predictions, predict_items
from labelloop.text import clean_task

if TYPE_CHECKING:
    from labelloop.predict.classify import Classifier

log = logging.getLogger(__name__)

# answers that refuse the request itself: sent again in halves, never retried as they are
REFUSED = frozenset({400, 413, 422})


def handle_stream_export(ctx: JobContext) -> None:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        counts = tx.stream_counts(pid)
    if counts.pending + counts.sending == 0:
        return
    if project is None:
        log.warning("project %s: %d stream items wait, but labelloop does not know the project",
                    pid, counts.pending + counts.sending)
        return
    gateway = ctx.gateways.for_project(project)
    if gateway is None:
        log.warning("project %s: %d selected stream items wait in labelloop: %s", pid,
                    counts.pending + counts.sending, ctx.gateways.why_not())
        return
    recovered = recover(ctx, pid, gateway)
    sent = send_pending(ctx, project, gateway)
    if recovered or sent:
        log.info("project %s: %d stream items created as Label Studio tasks (%d found again "
                 "after an attempt with no answer)", pid, sent + recovered, recovered)


def recover(ctx: JobContext, pid: int, gateway: LabelStudioGateway) -> int:
    """Settle the items an earlier attempt left ``sending``; how many turned out created."""
    with ctx.storage.read() as tx:
        sending = tx.get_stream_items(pid, status="sending")
        created = tx.get_stream_items(pid, status="created") if sending else []
    if not sending:
        return 0
    floor = recovery_floor(sending, created)
    keys = {it.key for it in sending}
    found: dict[str, list[int]] = {}
    tasks: dict[int, dict[str, Any]] = {}
    for task in gateway.iter_tasks(pid, after_id=floor):
        key = stream_key_of(task)
        if key in keys:
            found.setdefault(key, []).append(int(task["id"]))
            tasks[int(task["id"])] = clean_task({"id": int(task["id"]), "data": task.get("data"),
                                                 "meta": task.get("meta")})
    plan = plan_recovery(sending, found)
    for key, ids in plan.extra.items():
        log.error("project %s: stream key %r has %d more Label Studio task(s) than one: %s "
                  "(kept; the lowest id is the item's)", pid, key, len(ids), ids)
    with ctx.storage.write() as tx:
        tx.mark_stream_created(pid, plan.created)
        tx.mark_stream_pending(pid, plan.pending)
        if plan.created:
            tx.upsert_tasks(pid, [tasks[tid] for tid in sorted(set(plan.created.values()))])
            for spec in new_tasks_specs(pid, ctx.settings):
                tx.enqueue(spec)
    if plan.created:
        ctx.wake()
    log.info("project %s: %d stream items of an attempt without an answer: %d found in Label "
             "Studio (tasks above %s scanned), %d to send again", pid, len(sending),
             len(plan.created), floor, len(plan.pending))
    return len(plan.created)


def send_pending(ctx: JobContext, project: Project, gateway: LabelStudioGateway) -> int:
    """Create every pending item's task, a batch at a time; how many were created."""
    pid, size = project.id, ctx.settings.stream_export_batch
    schema = schema_of(project)
    classifier = _classifier(ctx)
    labeler = ctx.resources.labeler(ctx.storage)
    done: set[int] = set()
    while True:
        with ctx.storage.read() as tx:
            batch = tx.get_stream_items(pid, status="pending", limit=size)
        if not batch:
            return len(done)
        ids = [it.id for it in batch]
        if done.intersection(ids):  # never: created items are not pending; never send twice
            raise JobError(f"project {pid}: stream items {sorted(done.intersection(ids))} are "
                           "pending again after this run created their tasks")
        preds = predict_items(schema, batch, storage=ctx.storage, classifier=classifier,
                              labeler=labeler)
        bodies = [task_body(it, preds.entries.get(it.id, ())) for it in batch]
        _send(ctx, pid, gateway, batch, bodies, preds)
        done.update(ids)
        ctx.progress(step="stream_export", created=len(done),
                     predictions=sum(len(preds.entries.get(i, ())) for i in ids))


def _send(ctx: JobContext, pid: int, gateway: LabelStudioGateway, batch: list[StreamItem],
          bodies: list[dict[str, Any]], preds: Predictions) -> None:
    """Import one batch; a batch Label Studio refuses is sent again in halves, and an item it
    refuses alone is parked as ``failed`` (module docstring)."""
    ids = [it.id for it in batch]
    with ctx.storage.write() as tx:
        tx.mark_stream_sending(pid, ids, at=time.time())
    try:
        task_ids = gateway.import_tasks(pid, bodies)  # raises: the items stay 'sending'
    except LabelStudioUnavailable as exc:
        status = exc.detail.get("status") if isinstance(exc.detail, dict) else None
        if status not in REFUSED:
            raise
        with ctx.storage.write() as tx:  # validated before anything is stored: none created
            if len(batch) == 1:
                tx.mark_stream_failed(pid, ids)
            else:
                tx.mark_stream_pending(pid, ids)
        if len(batch) == 1:
            log.error("project %s: Label Studio refused stream item %r (%s); parked as "
                      "failed, the others go on", pid, batch[0].key, exc)
            return
        half = len(batch) // 2
        _send(ctx, pid, gateway, batch[:half], bodies[:half], preds)
        _send(ctx, pid, gateway, batch[half:], bodies[half:], preds)
        return
    links, rows = created_tasks(batch, bodies, task_ids)
    with ctx.storage.write() as tx:
        tx.mark_stream_created(pid, links)
        tx.upsert_tasks(pid, rows)
        _keep_llm_labels(tx, pid, preds, links)
        for spec in new_tasks_specs(pid, ctx.settings):
            tx.enqueue(spec)
    ctx.wake()


def _keep_llm_labels(tx: Tx, pid: int, preds: Predictions, links: dict[int, int]) -> None:
    """The LLM's answers for the new tasks, stored as their LLM labels."""
    if not preds.llm or preds.llm_version is None:
        return
    from labelloop.llm.labeler import label_row

    tx.save_llm_labels([label_row(pid, dataclasses.replace(o, task_id=links[item_id]),
                                  preds.llm_version)
                        for item_id, o in sorted(preds.llm.items()) if item_id in links])


def _classifier(ctx: JobContext) -> Classifier:
    """The served model, for this run's predictions (loaded once per run, on first use)."""
    from labelloop.predict.classify import Classifier

    return Classifier(ctx.storage, ctx.resources, ctx.settings)
