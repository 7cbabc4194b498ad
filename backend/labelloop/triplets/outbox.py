"""Triplet tasks into Label Studio: in batches, nothing lost, nothing created twice.

The same way out as the stream's items (:mod:`labelloop.stream.outbox`): a triplet is
``pending`` when mined, ``sending`` (committed before the import call: from here the outcome
may be unknown), ``created`` with its Label Studio task id. A run first settles the triplets an
earlier attempt left ``sending`` (the project's tasks above
:func:`~labelloop.triplets.plan.recovery_floor` are read back and matched by key), then sends
the pending ones, ``triplet_import_batch`` per import request, each with the LLM's
pre-judgement as its prediction (validated against the config first). Label Studio down: the
error propagates and the job is retried with its policy, the triplets wait. Label Studio
refusing a batch (400, 413, 422): sent again in halves, down to the triplet it refuses alone,
which is parked as ``failed``. The created tasks are stored in labelloop's tasks table at once,
so their annotations find them whether the webhook came or not.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from labelloop.errors import InvalidInput, LabelStudioUnavailable
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.kinds import build_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.storage.records_triplets import TripletTask
from labelloop.stream.outbox_plan import plan_recovery
from labelloop.text import clean_task
from labelloop.triplets.plan import recovery_floor, task_body, triplet_key_of

log = logging.getLogger(__name__)

REFUSED = frozenset({400, 413, 422})  # answers that refuse the request itself


def recover(ctx: JobContext, pid: int, gateway: LabelStudioGateway) -> int:
    """Settle the triplets an earlier attempt left ``sending``; how many were created."""
    with ctx.storage.read() as tx:
        sending = tx.get_triplet_tasks(pid, status="sending")
        created = tx.get_triplet_tasks(pid, status="created") if sending else []
    if not sending:
        return 0
    keys = {t.key for t in sending}
    found: dict[str, list[int]] = {}
    rows: dict[int, dict[str, Any]] = {}
    for task in gateway.iter_tasks(pid, after_id=recovery_floor(sending, created)):
        key = triplet_key_of(task)
        if key in keys:
            tid = int(task["id"])
            found.setdefault(key, []).append(tid)
            rows[tid] = clean_task({"id": tid, "data": task.get("data"),
                                    "meta": task.get("meta")})
    plan = plan_recovery(sending, found)
    for key, ids in plan.extra.items():
        log.error("project %s: triplet %s has %d more Label Studio task(s) than one: %s "
                  "(kept; the lowest id is the triplet's)", pid, key, len(ids), ids)
    with ctx.storage.write() as tx:
        tx.mark_triplets_created(pid, plan.created)
        tx.mark_triplets_pending(pid, plan.pending)
        if plan.created:
            tx.upsert_tasks(pid, [rows[t] for t in sorted(set(plan.created.values()))])
    return len(plan.created)


def send_pending(ctx: JobContext, pid: int, schema: LabelSchema,
                 gateway: LabelStudioGateway, texts: dict[int, str]) -> int:
    """Create every pending triplet's task, a batch at a time; how many were created."""
    size = ctx.settings.triplet_import_batch
    done = 0
    while True:
        with ctx.storage.read() as tx:
            batch = tx.get_triplet_tasks(pid, status="pending", limit=size)
        if not batch:
            return done
        bodies = [task_body(t, texts, _prediction(schema, t)) for t in batch]
        done += _send(ctx, pid, gateway, batch, bodies)
        ctx.progress(step="create_tasks", created=done)


def _prediction(schema: LabelSchema, task: TripletTask) -> dict[str, Any] | None:
    """The LLM's pre-judgement as a Label Studio prediction (None: none, or not valid for
    the config, e.g. a tie where the config has no tie)."""
    if task.llm_judgement is None:
        return None
    try:
        result = build_result(schema, (task.llm_judgement,), score=task.llm_confidence)
    except InvalidInput as exc:
        log.warning("triplet %s: pre-judgement %r not sent: %s", task.key, task.llm_judgement,
                    exc)
        return None
    out: dict[str, Any] = {"result": result, "model_version": task.llm_version or "llm"}
    if task.llm_confidence is not None:
        out["score"] = float(task.llm_confidence)
    return out


def _send(ctx: JobContext, pid: int, gateway: LabelStudioGateway, batch: list[TripletTask],
          bodies: list[dict[str, Any]]) -> int:
    ids = [t.id for t in batch]
    with ctx.storage.write() as tx:
        tx.mark_triplets_sending(pid, ids, at=time.time())
    try:
        task_ids = gateway.import_tasks(pid, bodies)  # raises: the triplets stay 'sending'
    except LabelStudioUnavailable as exc:
        status = exc.detail.get("status") if isinstance(exc.detail, dict) else None
        if status not in REFUSED:
            raise
        with ctx.storage.write() as tx:  # validated before anything is stored: none created
            (tx.mark_triplets_failed if len(batch) == 1 else tx.mark_triplets_pending)(pid, ids)
        if len(batch) == 1:
            log.error("project %s: Label Studio refused triplet %s (%s); parked as failed",
                      pid, batch[0].key, exc)
            return 0
        half = len(batch) // 2
        return _send(ctx, pid, gateway, batch[:half], bodies[:half]) + \
            _send(ctx, pid, gateway, batch[half:], bodies[half:])
    if len(task_ids) != len(batch):
        raise LabelStudioUnavailable(f"Label Studio answered {len(task_ids)} task ids for "
                                     f"{len(batch)} triplets")
    with ctx.storage.write() as tx:
        tx.mark_triplets_created(pid, {t.id: int(tid) for t, tid in zip(batch, task_ids)})
        tx.upsert_tasks(pid, [{"id": int(tid), "data": b["data"], "meta": b["meta"]}
                              for b, tid in zip(bodies, task_ids)])
    return len(batch)
