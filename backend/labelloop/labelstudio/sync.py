"""Resync: pull a project's tasks and annotations from Label Studio into storage.

Label Studio never re-sends a webhook, so this is how events missed while labelloop was down (or
while a webhook timed out) are recovered. Tasks come in id order, a page after the last task
stored (keyset pages), and each page streams into storage in one transaction together with what
it proves gone: the stored tasks whose ids fall between the previous page's last id and this
page's last id but which the page does not hold. Tasks above the last page are gone once the walk
ends. So memory does not grow with the project, and an interrupted resync resumes after the last
stored page (the job keeps a checkpoint: the cursor, the start time, the counts so far) instead
of starting over. Annotations found are stored through the same idempotent upsert the webhooks
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
from itertools import islice
from typing import Any

from labelloop.errors import InvalidInput, LabelStudioUnavailable, PermanentJobError
from labelloop.events.parse import parse_annotation, parse_task
from labelloop.events.projects import record_project
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import check_version_spec, new_tasks_specs, retrain_spec
from labelloop.labelstudio.drift import needs_check
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.labelstudio.webhook_auth import ensure_webhook_auth
from labelloop.skips import is_item_error, reason_of, record_skips
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Annotation
from labelloop.storage.sql_skips import MAX_TASK_ID

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    tasks_seen: int = 0
    tasks_new: int = 0
    tasks_deleted: int = 0
    annotations: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.time)  # rows written since may be newer than pages
    after_id: int | None = None  # every task up to this id is stored (the walk's cursor)
    pages: int = 0

    @property
    def labels_changed(self) -> bool:
        return any(self.annotations.values())

    def checkpoint(self) -> dict[str, Any]:
        """What a retried job needs to resume this walk (kept in the job's progress)."""
        return {"tasks_seen": self.tasks_seen, "tasks_new": self.tasks_new,
                "tasks_deleted": self.tasks_deleted, "annotations": dict(self.annotations),
                "began": self.began, "after_id": self.after_id, "pages": self.pages}

    @classmethod
    def resume(cls, checkpoint: dict[str, Any] | None) -> SyncReport:
        """A report that continues ``checkpoint``'s walk; a fresh one without a usable cursor."""
        cp = checkpoint or {}
        if not isinstance(cp.get("after_id"), int) or not isinstance(cp.get("began"), float):
            return cls()
        return cls(tasks_seen=int(cp.get("tasks_seen", 0)), tasks_new=int(cp.get("tasks_new", 0)),
                   tasks_deleted=int(cp.get("tasks_deleted", 0)),
                   annotations={str(k): int(v) for k, v in (cp.get("annotations") or {}).items()},
                   began=cp["began"], after_id=cp["after_id"], pages=int(cp.get("pages", 0)))


def resync_project(storage: Storage, gateway: LabelStudioGateway, project_id: int, *,
                   page_size: int = 500, on_page: Any = None,
                   resume: SyncReport | None = None) -> SyncReport:
    report = resume or SyncReport()
    remote = gateway.get_project(project_id)
    with storage.write() as tx:
        record_project(tx, project_id, label_config=remote.get("label_config") or None,
                       instructions=remote.get("expert_instruction") or None,
                       title=remote.get("title") or None)
        if "model_version" in remote:  # what Label Studio shows: a drift is checked after
            tx.save_project(project_id, model_version=remote.get("model_version") or None)
    while True:
        try:
            _walk(storage, gateway, project_id, page_size, report, on_page)
            break
        except LabelStudioUnavailable as exc:  # a task Label Studio cannot serve: skipped
            if not _is_500(exc) or not _past_unservable(storage, gateway, project_id,
                                                        page_size, report, on_page):
                raise
    with storage.write() as tx:
        # Label Studio holds nothing above the last task of the walk
        _delete_gone(tx, project_id, tx.task_ids(project_id, above=report.after_id), report)
        tx.save_project(project_id, last_synced_at=time.time(), sync_error=None)
    return report


def _walk(storage: Storage, gateway: LabelStudioGateway, project_id: int, page_size: int,
          report: SyncReport, on_page: Any) -> None:
    page: list[dict[str, Any]] = []
    for raw in gateway.iter_tasks(project_id, page_size=page_size, after_id=report.after_id):
        page.append(raw)
        if len(page) >= page_size:
            _store_page(storage, project_id, page, report)
            page = []
            if on_page:
                on_page(report)
    if page:
        _store_page(storage, project_id, page, report)
        if on_page:
            on_page(report)


def _is_500(exc: LabelStudioUnavailable) -> bool:
    return isinstance(exc.detail, dict) and exc.detail.get("status") == 500


def _page(gateway: LabelStudioGateway, project_id: int, size: int, after: int | None,
          upto: int | None = None) -> list[dict[str, Any]] | None:
    """One page of at most ``size`` tasks; None when Label Studio answers 500 for it."""
    bound = {} if upto is None else {"upto": upto}
    try:
        return list(islice(gateway.iter_tasks(project_id, page_size=size, after_id=after,
                                              **bound), size))
    except LabelStudioUnavailable as exc:
        if not _is_500(exc):
            raise
        return None


def _past_unservable(storage: Storage, gateway: LabelStudioGateway, project_id: int,
                     page_size: int, report: SyncReport, on_page: Any) -> bool:
    """After a page Label Studio answered 500 for (Label Studio 1.23.2 does for a task whose
    text holds a lone surrogate: it stores it, then cannot encode it): store the readable tasks
    ahead in smaller and smaller pages, find the id of the first one it cannot serve (pages
    bounded by ``upto``), record it as skipped and move the cursor past it. False when no
    single task is to blame and nothing was stored (the caller raises the error)."""
    start, size = report.after_id, page_size
    while True:
        size = max(1, size // 2)
        got = _page(gateway, project_id, size, report.after_id)
        while got:  # readable: store it and go on at this size until the bad task is ahead
            _store_page(storage, project_id, got, report)
            if on_page:
                on_page(report)
            got = _page(gateway, project_id, size, report.after_id) if len(got) == size else []
        if got is not None:  # the end of the tasks: the walk resumes (and finishes)
            return report.after_id != start
        if size == 1:
            break
    after = report.after_id or 0
    lo, hi, step = after, None, 1  # no task in (after, lo]; the first one is at most hi
    while hi is None and lo < MAX_TASK_ID:
        upto = min(lo + step, MAX_TASK_ID)
        got = _page(gateway, project_id, 1, report.after_id, upto)
        if got:  # the first task can be served alone now: the walk resumes
            return report.after_id != start
        lo, hi, step = (upto, None, step * 2) if got == [] else (lo, upto, step)
    if hi is None:
        return report.after_id != start
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = _page(gateway, project_id, 1, report.after_id, mid)
        if got:
            return report.after_id != start
        lo, hi = (mid, hi) if got == [] else (lo, mid)
    record_skips(storage, project_id, "resync", {hi: "Label Studio answers 500 for this task "
                 "(its task API cannot serve it, e.g. a text that is not valid Unicode)"})
    with storage.write() as tx:  # stored tasks below it are gone from Label Studio
        _delete_gone(tx, project_id, tx.task_ids(project_id, above=report.after_id,
                                                 upto=hi - 1), report)
    report.after_id = hi
    report.skipped.append(f"task {hi}: Label Studio cannot serve it")
    if on_page:
        on_page(report)
    return True


def _delete_gone(tx: Tx, project_id: int, gone: list[int], report: SyncReport) -> None:
    if not gone:
        return
    gone = tx.mark_tasks_deleted(gone, unchanged_since=report.began)
    report.tasks_deleted += len(gone)
    gone_anns = [a.id for a in tx.get_annotations(project_id, task_ids=gone)]
    n = tx.delete_annotations(gone_anns, source="resync", unchanged_since=report.began)
    if n:
        report.annotations["deleted"] = report.annotations.get("deleted", 0) + n


def _store_page(storage: Storage, project_id: int, raws: list[dict[str, Any]],
                report: SyncReport) -> None:
    items: list[tuple[dict[str, Any], list[Annotation]]] = []
    skipped: dict[int, str] = {}  # tasks that cannot be read or stored: recorded, not fatal
    for raw in raws:
        try:
            task = parse_task(raw, project_id)
            items.append((task, [parse_annotation(a, project_id=project_id, task_id=task["id"])
                                 for a in raw.get("annotations") or []]))
        except InvalidInput as exc:
            raw_id = raw.get("id")
            skipped[raw_id if isinstance(raw_id, int) else 0] = exc.message
    # the page covers the ids after the cursor up to its last task (a skipped one included)
    last = max((r["id"] for r in raws if isinstance(r.get("id"), int)
                and r["id"] <= MAX_TASK_ID), default=None)
    counts = (report.tasks_new, report.tasks_deleted, dict(report.annotations))
    try:
        with storage.write() as tx:
            _store_items(tx, project_id, items, raws, last, report)
    except Exception as exc:  # only a value the database refuses is isolated
        if not is_item_error(exc):
            raise
        report.tasks_new, report.tasks_deleted, report.annotations = counts  # rolled back
        good = []  # task by task, so that only the task the database refuses is left out
        for item in items:
            try:
                with storage.write() as tx:
                    new = tx.upsert_tasks(project_id, [item[0]])
                    kinds = tx.upsert_annotations(item[1], source="resync")
            except Exception as item_exc:
                if not is_item_error(item_exc):
                    raise
                skipped[item[0]["id"]] = reason_of(item_exc)
                continue
            good.append(item)
            report.tasks_new += new
            for kind in kinds:
                report.annotations[kind] = report.annotations.get(kind, 0) + 1
        with storage.write() as tx:
            _store_items(tx, project_id, good, raws, last, report)
        items = good
    report.skipped.extend(skipped.values())
    record_skips(storage, project_id, "resync", skipped, processed=[t["id"] for t, _ in items])
    report.tasks_seen += len(items)
    report.pages += 1


def _store_items(tx: Tx, project_id: int, items: list[tuple[dict[str, Any], list[Annotation]]],
                 raws: list[dict[str, Any]], last: int | None, report: SyncReport) -> None:
    """Store a page's tasks and annotations and what the page proves gone; move the cursor."""
    tasks = [t for t, _ in items]
    anns = [a for _, task_anns in items for a in task_anns]
    report.tasks_new += tx.upsert_tasks(project_id, tasks)
    for kind in tx.upsert_annotations(anns, source="resync"):
        report.annotations[kind] = report.annotations.get(kind, 0) + 1
    task_ids = [t["id"] for t in tasks]
    live = {a.id for a in anns}
    stale = [a.id for a in tx.get_annotations(project_id, task_ids=task_ids) if a.id not in live]
    n = tx.delete_annotations(stale, source="resync", unchanged_since=report.began)
    if n:
        report.annotations["deleted"] = report.annotations.get("deleted", 0) + n
    if last is not None:
        listed = {r.get("id") for r in raws}
        between = tx.task_ids(project_id, above=report.after_id, upto=last)
        _delete_gone(tx, project_id, [i for i in between if i not in listed], report)
        report.after_id = last


def handle_resync(ctx: JobContext) -> None:
    """Job handler: resync one project, then retrain if labels changed (or when the resync was
    Label Studio's "train": ``then_retrain`` in its payload)."""
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
    gateway = ctx.gateways.for_project(project)
    if gateway is None:
        raise PermanentJobError(ctx.gateways.why_not())
    ensure_webhook_auth(gateway, pid, ctx.settings)
    try:
        # a retried job (Label Studio went away, the worker died) resumes after its checkpoint
        resumed = SyncReport.resume((ctx.job.progress or {}).get("resync"))
        if resumed.after_id is not None:
            log.info("resync of project %s: resuming after task %d (%d tasks stored)", pid,
                     resumed.after_id, resumed.tasks_seen)
        report = resync_project(
            ctx.storage, gateway, pid, page_size=ctx.settings.page_size, resume=resumed,
            on_page=lambda r: ctx.progress(tasks_seen=r.tasks_seen, resync=r.checkpoint()))
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
    if (report.labels_changed or report.tasks_new or report.tasks_deleted
            or ctx.job.payload.get("then_retrain")):
        specs.append(retrain_spec(pid, ctx.settings, delay_s=0.0))
    with ctx.storage.read() as tx:
        now = tx.get_project(pid)
    if needs_check(now, now.model_version if now else None):
        specs.append(check_version_spec(pid))  # the project moved off the published version
    if specs:
        ctx.enqueue(*specs)
