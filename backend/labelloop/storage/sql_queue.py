"""Queue entries in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labelloop.storage.sql_util import chunks, now
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
        rows = [{"project_id": e.project_id, "model_version": e.model_version,
                 "task_id": e.task_id, "rank": e.rank, "score": e.score, "reason": e.reason,
                 "audit": e.audit, "detail": e.detail} for e in entries]
        for chunk in chunks(rows, 2000):
            self.conn.execute(sa.insert(queue_entries), chunk)

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
        ts = now()
        if items:
            self.conn.execute(sa.insert(second_annotations), [
                {"project_id": project_id, "task_id": t, "reason": r, "requested_at": ts}
                for t, r in items])
