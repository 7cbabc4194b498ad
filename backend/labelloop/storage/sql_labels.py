"""Projects, tasks, annotations (with history) and the webhook event log, in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labelloop.storage import tables as t
from labelloop.storage.records import Annotation, HistoryEntry, Project, Task
from labelloop.storage.sql_util import chunks, content_hash, inserted_id, now, upsert

_PROJECT_FIELDS = {c.name for c in t.projects.columns} - {"id", "created_at", "updated_at"}
_ANNOTATION_COLUMNS = [c.name for c in t.annotations.columns]


def _project(row: sa.Row) -> Project:
    return Project(**row._asdict())


def _annotation(r: sa.Row) -> Annotation:
    # attribute access, not Row._asdict(): the latter is most of the cost of reading 35k rows
    return Annotation(
        id=r.id, task_id=r.task_id, project_id=r.project_id, completed_by=r.completed_by,
        result=r.result or [], was_cancelled=bool(r.was_cancelled),
        ground_truth=bool(r.ground_truth), lead_time=r.lead_time,
        ls_updated_at=r.ls_updated_at, deleted=bool(r.deleted),
    )


def annotation_hash(a: Annotation) -> str:
    return content_hash([a.result, a.was_cancelled, a.ground_truth, a.completed_by, a.task_id])


class LabelsTx:
    conn: sa.Connection

    # --- projects ------------------------------------------------------------------------
    def get_project(self, project_id: int) -> Project | None:
        row = self.conn.execute(sa.select(t.projects).where(t.projects.c.id == project_id)).first()
        return _project(row) if row else None

    def list_projects(self) -> list[Project]:
        rows = self.conn.execute(sa.select(t.projects).order_by(t.projects.c.id))
        return [_project(r) for r in rows]

    def save_project(self, project_id: int, **fields: Any) -> Project:
        """Create the project or update the given fields of it."""
        unknown = set(fields) - _PROJECT_FIELDS
        if unknown:
            raise TypeError(f"unknown project fields: {sorted(unknown)}")
        ts = now()
        existing = self.get_project(project_id)
        if existing is None:
            values = {"supported": False, **fields, "id": project_id, "created_at": ts,
                      "updated_at": ts}
            self.conn.execute(sa.insert(t.projects).values(**values))
        elif fields:
            self.conn.execute(
                sa.update(t.projects).where(t.projects.c.id == project_id)
                .values(**fields, updated_at=ts)
            )
        project = self.get_project(project_id)
        assert project is not None  # just written in this transaction
        return project

    # --- webhook events ------------------------------------------------------------------
    def seen_hashes(self, body_hashes: list[str]) -> set[str]:
        """Which of these event bodies were applied before."""
        out: set[str] = set()
        for chunk in chunks(list(set(body_hashes))):
            out.update(r[0] for r in self.conn.execute(sa.select(
                t.webhook_events.c.body_hash).where(t.webhook_events.c.body_hash.in_(chunk),
                                                    t.webhook_events.c.status == "applied")))
        return out

    def add_event(self, *, action: str | None, project_id: int | None, body: str,
                  body_hash: str, status: str, error: str | None = None) -> int:
        res = self.conn.execute(sa.insert(t.webhook_events).values(
            received_at=now(), action=action, project_id=project_id, body=body,
            body_hash=body_hash, status=status, error=error))
        return inserted_id(res)

    def add_events(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert events ``{action, project_id, body, body_hash, status, error}``; ids in order."""
        if not rows:
            return []
        ts = now()
        stmt = sa.insert(t.webhook_events).returning(t.webhook_events.c.id,
                                                     sort_by_parameter_order=True)
        res = self.conn.execute(stmt, [{"received_at": ts, "error": None, **r} for r in rows])
        return [int(r[0]) for r in res]

    def set_event_status(self, event_id: int, status: str, error: str | None = None) -> None:
        self.conn.execute(sa.update(t.webhook_events).where(t.webhook_events.c.id == event_id)
                          .values(status=status, error=error))

    def event_counts(self, project_id: int | None = None) -> dict[str, int]:
        q = sa.select(t.webhook_events.c.status, sa.func.count()).group_by(
            t.webhook_events.c.status)
        if project_id is not None:
            q = q.where(t.webhook_events.c.project_id == project_id)
        return {s: n for s, n in self.conn.execute(q)}

    # --- tasks ---------------------------------------------------------------------------
    def upsert_tasks(self, project_id: int, items: list[dict[str, Any]]) -> int:
        """Store tasks ``{"id", "data", "meta", "original"?}``; return how many were new.
        ``original``: the task as received when :func:`labelloop.text.clean_task` changed it."""
        if not items:
            return 0
        ids = [int(i["id"]) for i in items]
        known = self.known_task_ids(ids)
        ts = now()
        rows = [{"id": int(i["id"]), "project_id": project_id, "data": i.get("data"),
                 "meta": i.get("meta"), "original": i.get("original"), "deleted": False,
                 "created_at": ts, "updated_at": ts}
                for i in items]
        upsert(self.conn, t.tasks, rows, keys=["id"],
               update=["data", "meta", "original", "deleted", "updated_at"])
        return len(set(ids) - known)

    def known_task_ids(self, task_ids: list[int]) -> set[int]:
        return {r[0] for chunk in chunks(list(set(task_ids))) for r in self.conn.execute(
            sa.select(t.tasks.c.id).where(t.tasks.c.id.in_(chunk)))}

    def ensure_tasks(self, project_id: int, task_ids: list[int]) -> None:
        """Make sure task rows exist (data unknown until a resync) so annotations can refer."""
        ts = now()
        upsert(self.conn, t.tasks, [{"id": tid, "project_id": project_id, "data": None,
                                     "meta": None, "deleted": False, "created_at": ts,
                                     "updated_at": ts} for tid in dict.fromkeys(task_ids)],
               keys=["id"], update=[])

    def mark_tasks_deleted(self, task_ids: list[int], *,
                           unchanged_since: float | None = None) -> list[int]:
        """Mark tasks deleted; return the ids marked. With ``unchanged_since``, a task written
        at or after that time (by a webhook newer than the caller's snapshot) is left alone."""
        marked: list[int] = []
        for chunk in chunks(task_ids):
            cond: list[sa.ColumnElement[bool]] = [t.tasks.c.id.in_(chunk), t.tasks.c.deleted.is_(False)]
            if unchanged_since is not None:
                cond.append(t.tasks.c.updated_at < unchanged_since)
            ids = [r[0] for r in self.conn.execute(sa.select(t.tasks.c.id).where(*cond))]
            if ids:
                self.conn.execute(sa.update(t.tasks).where(t.tasks.c.id.in_(ids))
                                  .values(deleted=True, updated_at=now()))
            marked.extend(ids)
        return marked

    def get_tasks(self, project_id: int, ids: list[int] | None = None,
                  *, include_deleted: bool = False) -> list[Task]:
        q = sa.select(t.tasks).where(t.tasks.c.project_id == project_id)
        if not include_deleted:
            q = q.where(t.tasks.c.deleted.is_(False))
        if ids is not None:
            out: list[Task] = []
            for chunk in chunks(ids):
                out.extend(self._tasks(q.where(t.tasks.c.id.in_(chunk))))
            return out
        return self._tasks(q.order_by(t.tasks.c.id))

    def task_ids(self, project_id: int, *, above: int | None = None,
                 upto: int | None = None) -> list[int]:
        """Ids of the project's live tasks in ``(above, upto]`` (open ends when None), sorted."""
        c = t.tasks.c
        q = sa.select(c.id).where(c.project_id == project_id, c.deleted.is_(False))
        if above is not None:
            q = q.where(c.id > above)
        if upto is not None:
            q = q.where(c.id <= upto)
        return [r[0] for r in self.conn.execute(q.order_by(c.id))]

    def _tasks(self, q: sa.Select) -> list[Task]:
        return [Task(id=r.id, project_id=r.project_id, data=r.data, meta=r.meta,
                     deleted=bool(r.deleted)) for r in self.conn.execute(q)]

    def count_tasks(self, project_id: int) -> int:
        return self.conn.execute(sa.select(sa.func.count()).select_from(t.tasks).where(
            t.tasks.c.project_id == project_id, t.tasks.c.deleted.is_(False))).scalar_one()

    # --- annotations ---------------------------------------------------------------------
    def upsert_annotations(self, items: list[Annotation], *, source: str,
                           event_id: int | None = None,
                           event_ids: list[int | None] | None = None) -> list[str]:
        """Like :meth:`apply_annotations`, returning only the kinds of the real changes."""
        return [k for k in self.apply_annotations(items, source=source, event_id=event_id,
                                                  event_ids=event_ids) if k]

    def apply_annotations(self, items: list[Annotation], *, source: str,
                          event_id: int | None = None,
                          event_ids: list[int | None] | None = None) -> list[str | None]:
        """Store annotations; record a history entry for each real change.

        Returns, per item, the history kind written (``created``/``updated``/``skipped``) or
        None when the item changed nothing. An annotation
        identical to the stored one, an older version than the stored one, or one already
        deleted changes nothing: applying the same event twice is a no-op. Items are applied in
        order (the same annotation may appear more than once); ``event_ids`` gives each item's
        webhook event, else ``event_id`` is used for all. Set-based: one select, one upsert and
        one history insert whatever the number of items.
        """
        state: dict[int, tuple[bool, str, str | None, bool]] = {}  # deleted, hash, updated, skip
        for chunk in chunks(list({a.id for a in items})):
            for r in self.conn.execute(sa.select(
                    t.annotations.c.id, t.annotations.c.deleted, t.annotations.c.content_hash,
                    t.annotations.c.ls_updated_at, t.annotations.c.was_cancelled,
            ).where(t.annotations.c.id.in_(chunk))):
                state[r.id] = (bool(r.deleted), r.content_hash, r.ls_updated_at,
                               bool(r.was_cancelled))
        ts = now()
        kinds: list[str | None] = []
        rows: dict[int, dict[str, Any]] = {}
        history: list[dict[str, Any]] = []
        for i, a in enumerate(items):
            h = annotation_hash(a)
            old = state.get(a.id)
            if old is not None and (old[0] or old[1] == h):
                kinds.append(None)
                continue
            if old is not None and a.ls_updated_at and old[2] and a.ls_updated_at < old[2]:
                kinds.append(None)  # stale: an older version arriving after a newer one
                continue
            rows[a.id] = {"id": a.id, "task_id": a.task_id, "project_id": a.project_id,
                          "completed_by": a.completed_by, "result": a.result,
                          "was_cancelled": a.was_cancelled, "ground_truth": a.ground_truth,
                          "lead_time": a.lead_time, "deleted": False,
                          "ls_updated_at": a.ls_updated_at, "content_hash": h,
                          "created_at": ts, "updated_at": ts}
            if a.was_cancelled and (old is None or not old[3]):
                kind = "skipped"
            else:
                kind = "created" if old is None else "updated"
            history.append({"annotation_id": a.id, "task_id": a.task_id,
                            "project_id": a.project_id, "kind": kind, "result": a.result,
                            "completed_by": a.completed_by, "source": source,
                            "webhook_event_id": event_ids[i] if event_ids else event_id,
                            "at": ts})
            state[a.id] = (False, h, a.ls_updated_at, a.was_cancelled)
            kinds.append(kind)
        upsert(self.conn, t.annotations, list(rows.values()), keys=["id"],
               update=[c for c in _ANNOTATION_COLUMNS if c not in ("id", "created_at")])
        if history:
            self.conn.execute(sa.insert(t.annotation_history), history)
        return kinds

    def delete_annotations(self, ids: list[int], *, source: str, event_id: int | None = None,
                           unchanged_since: float | None = None) -> int:
        """Mark annotations deleted with a history entry each. With ``unchanged_since``, one
        written at or after that time is left alone: a resync's snapshot predates it."""
        n = 0
        ts = now()
        for chunk in chunks(ids):
            cond: list[sa.ColumnElement[bool]] = [t.annotations.c.id.in_(chunk), t.annotations.c.deleted.is_(False)]
            if unchanged_since is not None:
                cond.append(t.annotations.c.updated_at < unchanged_since)
            rows = self.conn.execute(sa.select(t.annotations).where(*cond)).all()
            for r in rows:
                self._history(r.id, r.task_id, r.project_id, "deleted", r.result,
                              r.completed_by, source, event_id, ts)
            n += self.conn.execute(sa.update(t.annotations).where(
                t.annotations.c.id.in_([r.id for r in rows])
            ).values(deleted=True, updated_at=ts)).rowcount
        return n

    def _history(self, annotation_id: int, task_id: int, project_id: int, kind: str,
                 result: Any, completed_by: int | None, source: str, event_id: int | None,
                 ts: float) -> None:
        self.conn.execute(sa.insert(t.annotation_history).values(
            annotation_id=annotation_id, task_id=task_id, project_id=project_id, kind=kind,
            result=result, completed_by=completed_by, source=source,
            webhook_event_id=event_id, at=ts))

    def get_annotations(self, project_id: int, *, include_deleted: bool = False,
                        task_ids: list[int] | None = None) -> list[Annotation]:
        q = sa.select(t.annotations).where(t.annotations.c.project_id == project_id)
        if not include_deleted:
            q = q.where(t.annotations.c.deleted.is_(False))
        if task_ids is not None:
            out: list[Annotation] = []
            for chunk in chunks(task_ids):
                out.extend(_annotation(r) for r in self.conn.execute(
                    q.where(t.annotations.c.task_id.in_(chunk))))
            return out
        return [_annotation(r) for r in self.conn.execute(q.order_by(t.annotations.c.id))]

    def label_changes_since(self, project_id: int, since: float) -> int:
        """How many annotation history entries (any kind) a project got after ``since``."""
        return self.conn.execute(sa.select(sa.func.count()).select_from(t.annotation_history)
                                 .where(t.annotation_history.c.project_id == project_id,
                                        t.annotation_history.c.at > since)).scalar_one()

    def annotation_history(self, annotation_id: int) -> list[HistoryEntry]:
        q = sa.select(t.annotation_history).where(
            t.annotation_history.c.annotation_id == annotation_id
        ).order_by(t.annotation_history.c.id)
        return [HistoryEntry(annotation_id=r.annotation_id, task_id=r.task_id, kind=r.kind,
                             result=r.result, completed_by=r.completed_by, source=r.source,
                             at=r.at) for r in self.conn.execute(q)]

    def count_annotations(self, project_id: int) -> int:
        return self.conn.execute(sa.select(sa.func.count()).select_from(t.annotations).where(
            t.annotations.c.project_id == project_id,
            t.annotations.c.deleted.is_(False))).scalar_one()
