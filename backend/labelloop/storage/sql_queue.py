"""Queue entries in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labelloop.storage.sql_util import chunks, dialect_insert, now
from labelloop.storage.tables_queue import queue_entries, second_annotations

_Q = queue_entries.c


@dataclass(frozen=True)
class QueueEntry:
    project_id: int
    model_version: str
    task_id: int
    rank: int
    score: float
    reason: str
    audit: bool = False
    detail: dict[str, Any] | None = None


class QueueTx:
    conn: sa.Connection

    def save_queue(self, entries: list[QueueEntry]) -> None:
        """Store queue entries; an entry already stored for the version and task is
        overwritten (a retried job saves its queue again), except that an audit draw stays one
        (:meth:`audit_task_ids` counts every draw)."""
        rows = [{"project_id": e.project_id, "model_version": e.model_version,
                 "task_id": e.task_id, "rank": e.rank, "score": e.score, "reason": e.reason,
                 "audit": e.audit, "detail": e.detail} for e in entries]
        stmt = dialect_insert(self.conn.dialect.name, queue_entries)
        stmt = stmt.on_conflict_do_update(
            index_elements=["project_id", "model_version", "task_id"],
            set_={"rank": stmt.excluded.rank, "score": stmt.excluded.score,
                  "reason": stmt.excluded.reason, "detail": stmt.excluded.detail,
                  "audit": sa.or_(_Q.audit, stmt.excluded.audit)})
        for chunk in chunks(rows, 2000):
            self.conn.execute(stmt, chunk)

    def get_queue(self, project_id: int, model_version: str, *, limit: int | None = None,
                  audit_only: bool = False) -> list[QueueEntry]:
        q = sa.select(queue_entries).where(_Q.project_id == project_id,
                                           _Q.model_version == model_version).order_by(_Q.rank)
        if audit_only:
            q = q.where(_Q.audit.is_(True))
        if limit is not None:
            q = q.limit(limit)
        return [QueueEntry(r.project_id, r.model_version, r.task_id, r.rank, r.score, r.reason,
                           bool(r.audit), r.detail) for r in self.conn.execute(q)]

    def queue_scores(self, project_id: int, model_version: str,
                     task_ids: list[int]) -> dict[int, float]:
        """The published score of each of these tasks in ``model_version``'s queue."""
        out: dict[int, float] = {}
        for chunk in chunks(task_ids):
            out.update((r.task_id, r.score) for r in self.conn.execute(
                sa.select(_Q.task_id, _Q.score).where(
                    _Q.project_id == project_id, _Q.model_version == model_version,
                    _Q.task_id.in_(chunk))))
        return out

    def audit_task_ids(self, project_id: int) -> set[int]:
        """Every task ever drawn for the audit sample of a project (any version)."""
        return {r[0] for r in self.conn.execute(sa.select(_Q.task_id).where(
            _Q.project_id == project_id, _Q.audit.is_(True)).distinct())}

    def delete_queue(self, project_id: int, model_version: str) -> int:
        return self.conn.execute(sa.delete(queue_entries).where(
            _Q.project_id == project_id, _Q.model_version == model_version,
            _Q.audit.is_(False))).rowcount

    def second_annotation_requests(self, project_id: int) -> dict[int, str]:
        """Tasks labelloop asked Label Studio to annotate again, with the reason."""
        c = second_annotations.c
        return {r.task_id: r.reason for r in self.conn.execute(
            sa.select(c.task_id, c.reason).where(c.project_id == project_id))}

    def add_second_annotation_requests(self, project_id: int,
                                       items: list[tuple[int, str]]) -> None:
        """Record requests; a task already recorded keeps its first request (a retried job may
        make the same one again)."""
        ts = now()
        if items:
            stmt = dialect_insert(self.conn.dialect.name, second_annotations)
            stmt = stmt.on_conflict_do_nothing(index_elements=["project_id", "task_id"])
            self.conn.execute(stmt, [
                {"project_id": project_id, "task_id": t, "reason": r, "requested_at": ts}
                for t, r in items])
