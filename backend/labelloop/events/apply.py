"""Storing and applying webhook events: a batch per transaction, then the jobs they trigger.

Every body is recorded first, so no event is ever lost: an applied one verbatim, any other
(malformed, too large, ignored, a duplicate) as a bounded stub (size, sha256, first KiB and the
reason: :func:`labelloop.events.parse.stub`), so no client can fill the disk; applying is
idempotent (upserts keyed by Label Studio ids, history only on real change), and a body identical
to one already applied is recorded as a duplicate and changes nothing. :func:`apply_batch` takes
several events at once (the group commit of :mod:`labelloop.events.ingestor`) and applies them
in arrival order with set-based statements: the cost of a transaction is shared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from labelloop.errors import InvalidInput, LabelloopError
from labelloop.events.parse import (
    ANNOTATION_ACTIONS,
    Body,
    ParsedEvent,
    body_hash,
    read_event,
    stub,
)
from labelloop.events.projects import record_project
from labelloop.jobs.triggers import Trigger, jobs_for
from labelloop.labelstudio.drift import needs_check
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    event_id: int
    status: str  # applied | duplicate | ignored | invalid
    action: str | None
    project_id: int | None
    changes: dict[str, int] = field(default_factory=dict)
    jobs: list[int] = field(default_factory=list)
    error: LabelloopError | None = None


@dataclass
class _Incoming:
    body: Body
    body_hash: str
    event: ParsedEvent | None
    error: LabelloopError | None
    action: str | None

    def recorded(self, status: str) -> str:
        """What the event log keeps: an applied body verbatim (it read as UTF-8 JSON), any
        other a stub."""
        if status == "applied" and isinstance(self.body, bytes):
            return self.body.decode("utf-8")
        return stub(self.body, self.error.message if self.error else status)


def _parse(body: Body) -> _Incoming:
    event, error, action = read_event(body)
    return _Incoming(body, body_hash(body), event, error, action)


def apply_batch(tx: Tx, bodies: list[Body], settings: Settings) -> list[IngestResult]:
    """Store and apply ``bodies`` in order inside ``tx``; one result per body.

    Consecutive annotation and task-created events form a segment applied with set-based
    statements (one per table); any other action is applied on its own, in order, so the result
    is the same as applying every event one after the other.
    """
    items = [_parse(b) for b in bodies]
    seen = tx.seen_hashes([i.body_hash for i in items if i.event and i.event.known])
    rows, results = [], []
    for it in items:
        ev = it.event
        if ev is None:
            status = "invalid"
            log.warning("webhook rejected (%s): %s", it.error.code if it.error else "?",
                        it.error.message if it.error else "")
        elif not ev.known:
            status = "ignored"
            log.info("webhook action %s stored and ignored (not one labelloop uses)", ev.action)
        elif it.body_hash in seen:
            status = "duplicate"
        else:
            status = "applied"
            seen.add(it.body_hash)
        action = ev.action if ev else it.action
        project_id = ev.project_id if ev else None
        rows.append({"action": action, "body": it.recorded(status),
                     "project_id": project_id, "body_hash": it.body_hash,
                     "status": status, "error": it.error.message if it.error else None})
        results.append(IngestResult(0, status, action, project_id, error=it.error))
    for res, eid in zip(results, tx.add_events(rows)):
        res.event_id = eid
    triggers: dict[int, set[Trigger]] = {}
    segment: list[tuple[ParsedEvent, IngestResult]] = []
    for it, res in zip(items, results):
        if res.status != "applied" or it.event is None:
            continue
        if it.event.action in SEGMENT_ACTIONS:
            segment.append((it.event, res))
            continue
        _apply_segment(tx, segment, triggers)
        segment = []
        res.changes = _apply(tx, it.event, res.event_id,
                             triggers.setdefault(it.event.project_id or -1, set()))
    _apply_segment(tx, segment, triggers)
    for pid, trig in triggers.items():
        changes = 0
        if pid >= 0 and Trigger.LABELS_CHANGED in trig:
            changes = tx.label_changes_since(pid, tx.last_version_at(pid, "retrain") or 0.0)
        ids = [tx.enqueue(spec)[0] for spec in jobs_for(trig, pid if pid >= 0 else None,
                                                        settings, label_changes=changes)]
        for r in results:
            if r.status == "applied" and (r.project_id or -1) == pid:
                r.jobs = ids
    return results


SEGMENT_ACTIONS = ANNOTATION_ACTIONS | {"TASKS_CREATED"}


def _apply_segment(tx: Tx, segment: list[tuple[ParsedEvent, IngestResult]],
                   triggers: dict[int, set[Trigger]]) -> None:
    """Apply annotation/task-created events at once: one statement per table."""
    if not segment:
        return
    projects: dict[int, dict] = {}
    for ev, _ in segment:
        if ev.project_id is not None:
            projects[ev.project_id] = ev.project or projects.get(ev.project_id) or {}
    for pid, p in projects.items():
        _record(tx, pid, p)
        _observe_version(tx, pid, p, triggers.setdefault(pid, set()))
    tasks_by_project: dict[int, dict[int, dict]] = {}
    for ev, _ in segment:
        for task in ev.tasks:
            tasks_by_project.setdefault(ev.project_id, {})[task["id"]] = task  # type: ignore[arg-type]
    all_ids = [tid for tasks in tasks_by_project.values() for tid in tasks]
    known = tx.known_task_ids(all_ids) if all_ids else set()
    for pid, tasks in tasks_by_project.items():
        tx.upsert_tasks(pid, list(tasks.values()))
    anns, owners = [], []
    missing: dict[int, list[int]] = {}
    given = set(all_ids)
    for ev, res in segment:
        new = [t["id"] for t in ev.tasks if t["id"] not in known]
        known.update(new)
        res.changes["tasks_new"] = len(new)
        if new:
            triggers.setdefault(ev.project_id or -1, set()).add(Trigger.TASKS_ADDED)
        for a in ev.annotations:
            anns.append(a)
            owners.append(res)
            if a.task_id not in given:
                missing.setdefault(a.project_id, []).append(a.task_id)
    for pid, task_ids in missing.items():
        tx.ensure_tasks(pid, task_ids)
    kinds = tx.apply_annotations(anns, source="webhook",
                                 event_ids=[r.event_id for r in owners]) if anns else []
    for kind, res in zip(kinds, owners):
        if kind:
            res.changes[f"annotations_{kind}"] = res.changes.get(f"annotations_{kind}", 0) + 1
            triggers.setdefault(res.project_id or -1, set()).add(Trigger.LABELS_CHANGED)


def _record(tx: Tx, pid: int, p: dict) -> bool:
    """Record the project of an event; True when its labeling config changed (a new label set
    makes the current model and queue stale)."""
    before = tx.get_project(pid)
    config = p.get("label_config") or None
    changed = config is not None and before is not None and before.label_config != config
    try:
        record_project(tx, pid, label_config=config,
                       instructions=p.get("expert_instruction") or None,
                       title=p.get("title") or None)
    except InvalidInput as exc:  # a broken config must not lose the annotation
        log.warning("project %s: config in webhook not parseable: %s", pid, exc.message)
        tx.save_project(pid, unsupported_reason=exc.message, supported=False)
    return changed


def _observe_version(tx: Tx, pid: int, p: dict, triggers: set[Trigger]) -> None:
    """Keep the ``model_version`` Label Studio shows; one off the published version (a settings
    save, a user's choice) queues a check (:mod:`labelloop.labelstudio.drift`)."""
    if "model_version" not in p or not (p["model_version"] is None
                                        or isinstance(p["model_version"], str)):
        return
    shown = p["model_version"] or None
    project = tx.get_project(pid)
    if project is not None and project.model_version != shown:
        tx.save_project(pid, model_version=shown)
    if needs_check(project, shown):
        triggers.add(Trigger.VERSION_MOVED)


def ingest_webhook(storage: Storage, body: bytes, settings: Settings) -> IngestResult:
    """Store and apply one event in its own transaction. Raises the 4xx error of a bad body
    (after storing it with status ``invalid``)."""
    with storage.write() as tx:
        (result,) = apply_batch(tx, [body], settings)
    if result.error is not None:
        raise result.error
    return result


def _apply(tx: Tx, ev: ParsedEvent, event_id: int, triggers: set[Trigger]) -> dict[str, int]:
    changes: dict[str, int] = {}
    pid = ev.project_id
    config_changed = False
    if pid is not None and ev.action != "PROJECT_DELETED":
        config_changed = _record(tx, pid, ev.project or {})
        _observe_version(tx, pid, ev.project or {}, triggers)
    if ev.tasks and pid is not None:
        new = tx.upsert_tasks(pid, ev.tasks)
        changes["tasks_new"] = new
        if new:
            triggers.add(Trigger.TASKS_ADDED)
    if ev.annotations:
        given = {t["id"] for t in ev.tasks}
        for project_id in {a.project_id for a in ev.annotations}:
            missing = [a.task_id for a in ev.annotations
                       if a.project_id == project_id and a.task_id not in given]
            if missing:
                tx.ensure_tasks(project_id, missing)
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
        changes["tasks_deleted"] = len(tx.mark_tasks_deleted(ev.deleted_task_ids))
        if changes["tasks_deleted"]:
            triggers.add(Trigger.TASKS_REMOVED)
    if ev.action == "START_TRAINING":
        triggers.add(Trigger.TRAIN_REQUESTED)
    # Only a new labeling config makes a retrain due: labelloop's own publish updates the
    # project (its model_version), and Label Studio answers with PROJECT_UPDATED; retraining on
    # that would publish again, forever, once per retrain_debounce_s.
    if ev.action == "PROJECT_UPDATED" and config_changed:
        triggers.add(Trigger.PROJECT_CHANGED)
    return changes
