"""Resync: pull a project's tasks and annotations from Label Studio into storage.

Label Studio never re-sends a webhook, so this is how events missed while labelloop was down (or
while a webhook timed out) are recovered. Pages stream into storage one transaction each; the
final step (tasks that vanished) runs only after the last page, so an interrupted resync never
deletes anything. Annotations found are stored through the same idempotent upsert the webhooks
use, with ``source="resync"`` in their history.

A page is a snapshot older than the webhooks that arrive while the resync runs: what the resync
deletes (annotations missing from a page, tasks missing from every page) is limited to rows not
written since the resync began. An annotation created while a page was in flight is therefore
never deleted by it; a deletion the resync cannot be sure of waits for the next resync.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from labelloop.errors import InvalidInput, PermanentJobError
from labelloop.events.parse import parse_annotation, parse_task
from labelloop.events.projects import record_project
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import new_tasks_specs, retrain_spec
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.labelstudio.webhook_auth import ensure_webhook_auth
from labelloop.storage.base import Storage

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    tasks_seen: int = 0
    tasks_new: int = 0
    tasks_deleted: int = 0
    annotations: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def labels_changed(self) -> bool:
        return any(self.annotations.values())


def resync_project(storage: Storage, gateway: LabelStudioGateway, project_id: int, *,
                   page_size: int = 500, on_page: Any = None) -> SyncReport:
    report = SyncReport()
    began = time.time()  # rows written from now on may be newer than any page fetched
    remote = gateway.get_project(project_id)
    with storage.write() as tx:
        record_project(tx, project_id, label_config=remote.get("label_config") or None,
                       instructions=remote.get("expert_instruction") or None,
                       title=remote.get("title") or None)
    seen: set[int] = set()
    page: list[dict[str, Any]] = []
    for raw in gateway.iter_tasks(project_id, page_size=page_size):
        page.append(raw)
        if len(page) >= page_size:
            _store_page(storage, project_id, page, seen, report, began)
            page = []
            if on_page:
                on_page(report)
    if page:
        _store_page(storage, project_id, page, seen, report, began)
    with storage.write() as tx:
        stored = {t.id for t in tx.get_tasks(project_id)}
        gone = sorted(stored - seen)
        if gone:
            gone = tx.mark_tasks_deleted(gone, unchanged_since=began)
            report.tasks_deleted = len(gone)
            gone_anns = [a.id for a in tx.get_annotations(project_id, task_ids=gone)]
            n = tx.delete_annotations(gone_anns, source="resync", unchanged_since=began)
            if n:
                report.annotations["deleted"] = report.annotations.get("deleted", 0) + n
        tx.save_project(project_id, last_synced_at=time.time(), sync_error=None)
    return report


def _store_page(storage: Storage, project_id: int, raws: list[dict[str, Any]], seen: set[int],
                report: SyncReport, began: float) -> None:
    tasks, anns = [], []
    for raw in raws:
        try:
            task = parse_task(raw, project_id)
            task_anns = [parse_annotation(a, project_id=project_id, task_id=task["id"])
                         for a in raw.get("annotations") or []]
        except InvalidInput as exc:
            report.skipped.append(exc.message)
            log.warning("resync of project %s: skipped a task: %s", project_id, exc.message)
            continue
        tasks.append(task)
        anns.extend(task_anns)
    with storage.write() as tx:
        report.tasks_new += tx.upsert_tasks(project_id, tasks)
        for kind in tx.upsert_annotations(anns, source="resync"):
            report.annotations[kind] = report.annotations.get(kind, 0) + 1
        task_ids = [t["id"] for t in tasks]
        live = {a.id for a in anns}
        stale = [a.id for a in tx.get_annotations(project_id, task_ids=task_ids) if a.id not in live]
        n = tx.delete_annotations(stale, source="resync", unchanged_since=began)
        if n:
            report.annotations["deleted"] = report.annotations.get("deleted", 0) + n
    seen.update(t["id"] for t in tasks)
    report.tasks_seen = len(seen)


def handle_resync(ctx: JobContext) -> None:
    """Job handler: resync one project, then retrain if labels changed."""
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
    gateway = ctx.gateways.for_project(project)
    if gateway is None:
        raise PermanentJobError(ctx.gateways.why_not())
    ensure_webhook_auth(gateway, pid, ctx.settings)
    try:
        report = resync_project(ctx.storage, gateway, pid, page_size=ctx.settings.page_size,
                                on_page=lambda r: ctx.progress(tasks_seen=r.tasks_seen))
    except Exception as exc:
        with ctx.storage.write() as tx:
            tx.save_project(pid, sync_error=f"{type(exc).__name__}: {exc}"[:1000])
        raise
    log.info("resync of project %s: %d tasks (%d new, %d deleted), annotations %s", pid,
             report.tasks_seen, report.tasks_new, report.tasks_deleted, report.annotations or "-")
    specs = []
    if report.tasks_new:
        # tasks the webhooks never announced (those imported before labelloop was connected):
        # a pre-label job queued at set-up may already have run and found none of them
        specs.extend(new_tasks_specs(pid, ctx.settings))
    if report.labels_changed or report.tasks_new or report.tasks_deleted:
        specs.append(retrain_spec(pid, ctx.settings, delay_s=0.0))
    if specs:
        ctx.enqueue(*specs)
