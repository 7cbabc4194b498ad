"""Storing and applying a webhook event: one transaction, then the jobs it triggers.

The raw body is stored first (even when it is malformed), so no event is ever lost; applying is
idempotent (upserts keyed by Label Studio ids, history only on real change), and a body identical
to one already applied is recorded as a duplicate and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from labelloop.errors import InvalidInput, LabelloopError, MalformedBody
from labelloop.events.parse import ParsedEvent, parse_event
from labelloop.events.projects import record_project
from labelloop.jobs.triggers import Trigger, jobs_for
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    event_id: int
    status: str  # applied | duplicate | ignored
    action: str | None
    project_id: int | None
    changes: dict[str, int] = field(default_factory=dict)
    jobs: list[int] = field(default_factory=list)


def ingest_webhook(storage: Storage, body: bytes, settings: Settings) -> IngestResult:
    """Store the raw event and apply it. Raises a 4xx :class:`LabelloopError` for bad bodies,
    after the event has been stored with status ``invalid``."""
    body_hash = hashlib.sha256(body).hexdigest()
    text = body.decode("utf-8", errors="replace")
    payload = None
    try:
        payload = json.loads(text)
        event = parse_event(payload)
    except (ValueError, LabelloopError) as exc:
        err = exc if isinstance(exc, LabelloopError) else MalformedBody(f"body is not JSON: {exc}")
        action = payload.get("action") if isinstance(payload, dict) else None
        with storage.write() as tx:
            tx.add_event(action=action if isinstance(action, str) else None, project_id=None,
                         body=text, body_hash=body_hash, status="invalid", error=err.message)
        log.warning("webhook rejected (%s): %s", err.code, err.message)
        raise err from None
    with storage.write() as tx:
        if tx.event_seen(body_hash):
            eid = tx.add_event(action=event.action, project_id=event.project_id, body=text,
                               body_hash=body_hash, status="duplicate")
            return IngestResult(eid, "duplicate", event.action, event.project_id)
        if not event.known:
            eid = tx.add_event(action=event.action, project_id=event.project_id, body=text,
                               body_hash=body_hash, status="ignored")
            log.info("webhook action %s stored and ignored (not one labelloop uses)", event.action)
            return IngestResult(eid, "ignored", event.action, event.project_id)
        eid = tx.add_event(action=event.action, project_id=event.project_id, body=text,
                           body_hash=body_hash, status="applied")
        changes, triggers = _apply(tx, event, eid)
        specs = jobs_for(triggers, event.project_id, settings)
        job_ids = [tx.enqueue(s)[0] for s in specs]
    return IngestResult(eid, "applied", event.action, event.project_id, changes, job_ids)


def _apply(tx: Tx, ev: ParsedEvent, event_id: int) -> tuple[dict[str, int], set[Trigger]]:
    changes: dict[str, int] = {}
    triggers: set[Trigger] = set()
    pid = ev.project_id
    if pid is not None and ev.action != "PROJECT_DELETED":
        p = ev.project or {}
        try:
            record_project(tx, pid, label_config=p.get("label_config") or None,
                           instructions=p.get("expert_instruction") or None,
                           title=p.get("title") or None)
        except InvalidInput as exc:  # a broken config must not lose the annotation
            log.warning("project %s: config in webhook not parseable: %s", pid, exc.message)
            tx.save_project(pid, unsupported_reason=exc.message, supported=False)
    if ev.tasks and pid is not None:
        new = tx.upsert_tasks(pid, ev.tasks)
        changes["tasks_new"] = new
        if new:
            triggers.add(Trigger.TASKS_ADDED)
    for a in ev.annotations:
        tx.ensure_task(a.project_id, a.task_id)
    if ev.annotations:
        kinds = tx.upsert_annotations(ev.annotations, source="webhook", event_id=event_id)
        for k in kinds:
            changes[f"annotations_{k}"] = changes.get(f"annotations_{k}", 0) + 1
        if kinds:
            triggers.add(Trigger.LABELS_CHANGED)
    if ev.deleted_annotation_ids:
        n = tx.delete_annotations(ev.deleted_annotation_ids, source="webhook", event_id=event_id)
        changes["annotations_deleted"] = n
        if n:
            triggers.add(Trigger.LABELS_CHANGED)
    if ev.deleted_task_ids:
        changes["tasks_deleted"] = tx.mark_tasks_deleted(ev.deleted_task_ids)
        if changes["tasks_deleted"]:
            triggers.add(Trigger.TASKS_REMOVED)
    if ev.action == "START_TRAINING":
        triggers.add(Trigger.TRAIN_REQUESTED)
    if ev.action == "PROJECT_UPDATED":
        triggers.add(Trigger.PROJECT_CHANGED)
    return changes, triggers
