"""Items jobs skipped (``skipped_items``, see :mod:`labelloop.storage.tables_skips`) in SQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from labelloop.storage.sql_util import chunks, dialect_insert, now
from labelloop.storage.tables import tasks
from labelloop.storage.tables_skips import skipped_items
from labelloop.text import clean_text

_S = skipped_items.c
REASON_CHARS = 500
MAX_TASK_ID = 2**63 - 1


@dataclass(frozen=True)
class SkippedItem:
    project_id: int
    task_id: int  # 0: the item's id could not be read
    job_kind: str
    reason: str
    first_seen: float
    last_seen: float
    count: int  # runs that skipped it


@dataclass(frozen=True)
class SkipReason:
    """Skipped tasks grouped by job kind and reason."""

    job_kind: str
    reason: str
    tasks: int
    task_ids: list[int]  # a few of them, lowest first
    last_seen: float


@dataclass(frozen=True)
class SkipSummary:
    count: int  # distinct tasks skipped by any job
    reasons: list[SkipReason]  # the most frequent first

    def to_json(self) -> dict[str, object]:
        """What ``/status`` shows: ``{"count", "reasons": [{"job", "reason", "tasks",
        "task_ids", "last_seen"}]}``."""
        return {"count": self.count, "reasons": [
            {"job": r.job_kind, "reason": r.reason, "tasks": r.tasks, "task_ids": r.task_ids,
             "last_seen": r.last_seen} for r in self.reasons]}


def _task_id(task_id: object) -> int:
    """The id to record: 0 for one no database column holds (or not an id at all)."""
    if isinstance(task_id, int) and not isinstance(task_id, bool) and 0 < task_id <= MAX_TASK_ID:
        return task_id
    return 0


class SkipsTx:
    conn: sa.Connection

    def record_skips(self, project_id: int, job_kind: str, reasons: Mapping[int, str]) -> None:
        """Record that ``job_kind`` skipped these tasks ({task id: reason}): a new row per task,
        or the existing one's reason, ``last_seen`` and ``count`` updated."""
        if not reasons:
            return
        ts = now()
        rows = {_task_id(tid): clean_text(str(why))[:REASON_CHARS] or "unknown"
                for tid, why in reasons.items()}
        stmt = dialect_insert(self.conn.dialect.name, skipped_items)
        stmt = stmt.on_conflict_do_update(
            index_elements=["project_id", "task_id", "job_kind"],
            set_={"reason": stmt.excluded.reason, "last_seen": stmt.excluded.last_seen,
                  "count": _S.count + 1})
        self.conn.execute(stmt, [
            {"project_id": project_id, "task_id": tid, "job_kind": job_kind, "reason": why,
             "first_seen": ts, "last_seen": ts, "count": 1} for tid, why in sorted(rows.items())])

    def clear_skips(self, project_id: int, job_kind: str, *,
                    task_ids: Collection[int] | None = None, keep: Collection[int] = ()) -> int:
        """Forget ``job_kind``'s skips of ``task_ids`` (None: of every task) except ``keep``;
        returns how many rows went. A job calls it for the items it processed."""
        q = sa.select(_S.task_id).where(_S.project_id == project_id, _S.job_kind == job_kind)
        stored = [r[0] for r in self.conn.execute(q)]
        wanted = None if task_ids is None else {_task_id(t) for t in task_ids}
        kept = {_task_id(t) for t in keep}
        gone = [t for t in stored if t not in kept and (wanted is None or t in wanted)]
        for chunk in chunks(gone):
            self.conn.execute(sa.delete(skipped_items).where(
                _S.project_id == project_id, _S.job_kind == job_kind, _S.task_id.in_(chunk)))
        return len(gone)

    def skipped_items(self, project_id: int, *, job_kind: str | None = None,
                      limit: int = 100) -> list[SkippedItem]:
        q = sa.select(skipped_items).where(_S.project_id == project_id)
        if job_kind is not None:
            q = q.where(_S.job_kind == job_kind)
        q = q.order_by(_S.last_seen.desc(), _S.task_id).limit(limit)
        # the columns are SkippedItem's fields (r.count would name the tuple's count() method)
        return [SkippedItem(**r._asdict()) for r in self.conn.execute(q)]

    def skip_summary(self, project_id: int | None = None, *, reasons: int = 10,
                     examples: int = 5) -> SkipSummary:
        """How many distinct tasks are skipped (in one project, or in all), and the ``reasons``
        most frequent (job kind, reason) groups with a few of their task ids. Tasks deleted
        since are left out (no job will process them again to clear their rows)."""
        gone = sa.exists().where(tasks.c.id == _S.task_id, tasks.c.deleted.is_(True))
        where = [~gone] if project_id is None else [_S.project_id == project_id, ~gone]
        key = sa.select(_S.project_id, _S.task_id).where(*where).distinct().subquery()
        count = self.conn.execute(sa.select(sa.func.count()).select_from(key)).scalar_one()
        if not count:
            return SkipSummary(0, [])
        n = sa.func.count().label("n")
        groups = self.conn.execute(
            sa.select(_S.job_kind, _S.reason, n, sa.func.max(_S.last_seen).label("last"))
            .where(*where).group_by(_S.job_kind, _S.reason)
            .order_by(n.desc(), _S.job_kind, _S.reason).limit(reasons)).all()
        out = []
        for g in groups:
            ids = self.conn.execute(
                sa.select(_S.task_id).where(*where, _S.job_kind == g.job_kind,
                                            _S.reason == g.reason)
                .order_by(_S.task_id).limit(examples)).scalars().all()
            out.append(SkipReason(g.job_kind, g.reason, int(g.n), [int(i) for i in ids],
                                  float(g.last)))
        return SkipSummary(int(count), out)
