"""The production stream in SQL (tables in :mod:`labelloop.storage.tables_stream`): items and
their way into Label Studio, the selection state, model artefacts, drift, and the retention of
ignored items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from labelloop.storage import sql_stream_ingest as ingest_sql
from labelloop.storage import tables as t
from labelloop.storage.records_stream import (
    DECIDING,
    DriftRecord,
    StreamCounts,
    StreamDecision,
    StreamItem,
    StreamItemRow,
    StreamStatus,
)
from labelloop.storage.sql_util import chunks, now, upsert
from labelloop.storage.tables_stream import (
    model_artifacts,
    stream_drift,
    stream_items,
    stream_state,
    stream_totals,
)

_S = stream_items.c
_A = model_artifacts.c
_D = stream_drift.c
_ST = stream_state.c
_T = stream_totals.c
OUT = ("pending", "sending")  # selected, not yet a Label Studio task
_SET_CREATED = sa.update(stream_items).where(
    _S.project_id == sa.bindparam("b_project"), _S.id == sa.bindparam("b_id"),
    sa.or_(*(_S.status == s for s in OUT))  # no IN: an executemany takes no expanding list
).values(status="created", ls_task_id=sa.bindparam("b_task"))


def _item(row: sa.Row[Any]) -> StreamItem:
    values = row._asdict()
    values["selected"] = bool(values["selected"])
    values["attempts"] = int(values["attempts"] or 0)
    return StreamItem(**values)


def _drift(row: sa.Row[Any]) -> DriftRecord:
    values = row._asdict()
    del values["id"]
    values["drifting"] = bool(values["drifting"])
    values["details"] = values["details"] or {}
    return DriftRecord(**values)


class StreamTx:
    conn: sa.Connection

    # --- selection state -------------------------------------------------------------------
    def lock_stream_state(self, project_id: int) -> dict[str, Any] | None:
        """Take the project's stream-state lock until the transaction ends, and return the
        stored state (None: never saved). On PostgreSQL the row is created if absent and
        locked (``SELECT ... FOR UPDATE``): concurrent ingests of a project queue here. A
        SQLite write transaction holds the database's write lock already."""
        return ingest_sql.lock_state(self.conn, project_id)

    def save_stream_state(self, project_id: int, state: dict[str, Any]) -> None:
        upsert(self.conn, stream_state,
               [{"project_id": project_id, "state": state, "updated_at": now()}],
               keys=["project_id"], update=["state", "updated_at"])

    # --- items -----------------------------------------------------------------------------
    def known_stream_keys(self, project_id: int, keys: list[str]) -> set[str]:
        return ingest_sql.known_keys(self.conn, project_id, keys)

    def add_stream_items(self, project_id: int, rows: list[StreamItemRow], *,
                         at: float) -> list[int]:
        """Store received items (``pending`` when selected, else ``ignored``); their ids in
        order. A key stored before in the project fails the insert (IntegrityError): ingest
        drops known keys (:meth:`known_stream_keys`) under :meth:`lock_stream_state`. The
        running totals (``stream_totals``) count them in the same transaction."""
        return ingest_sql.add_items(self.conn, project_id, rows, at=at)

    def decide_stream_items(self, project_id: int, decisions: list[StreamDecision], *,
                            at: float) -> int:
        """Store the decisions of items left ``deciding`` by a deferred ingest (one still
        ``deciding`` only: run twice, the second changes nothing) and move them in the running
        totals from ``deciding`` to their reason; how many were decided. Callers hold
        :meth:`lock_stream_state`."""
        return ingest_sql.decide_items(self.conn, project_id, decisions, at=at)

    def get_stream_items(self, project_id: int, *, status: StreamStatus | None = None,
                         keys: list[str] | None = None, ids: list[int] | None = None,
                         limit: int | None = None,
                         newest_first: bool = False) -> list[StreamItem]:
        """Items of a project, oldest first (or newest), filtered by status, keys, ids."""
        where: list[sa.ColumnElement[bool]] = [_S.project_id == project_id]
        if status is not None:
            where.append(_S.status == status)
        order = _S.id.desc() if newest_first else _S.id
        if keys is None and ids is None:
            q = sa.select(stream_items).where(*where).order_by(order)
            if limit is not None:
                q = q.limit(limit)
            return [_item(r) for r in self.conn.execute(q)]
        # by keys or ids, a chunk at a time (both: the keys' items with one of the ids)
        column, values = (_S.key, keys) if keys is not None else (_S.id, ids or [])
        wanted = None if keys is None or ids is None else set(ids)
        found: list[StreamItem] = []
        for chunk in chunks(sorted(set(values))):
            found.extend(_item(r) for r in self.conn.execute(
                sa.select(stream_items).where(*where, column.in_(chunk))))
        if wanted is not None:
            found = [it for it in found if it.id in wanted]
        items = sorted(found, key=lambda it: it.id, reverse=newest_first)
        return items if limit is None else items[:limit]

    def recent_stream_items(self, project_id: int, *, limit: int) -> list[StreamItem]:
        return self.get_stream_items(project_id, limit=limit, newest_first=True)

    def mark_stream_sending(self, project_id: int, ids: list[int], *, at: float) -> None:
        """An import of these items is being attempted: ``sending``, one more attempt. An item
        already created (or ignored) stays as it is."""
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(stream_items).where(
                _S.project_id == project_id, _S.id.in_(chunk), _S.status.in_(OUT))
                .values(status="sending", attempts=_S.attempts + 1, sent_at=at))

    def mark_stream_pending(self, project_id: int, ids: list[int]) -> None:
        """Back to ``pending`` (an attempt found not to have created them); a created item
        stays created."""
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(stream_items).where(
                _S.project_id == project_id, _S.id.in_(chunk), _S.status.in_(OUT))
                .values(status="pending"))

    def mark_stream_failed(self, project_id: int, ids: list[int]) -> None:
        """Label Studio refused these items one by one: ``failed``, never sent again (a created
        item stays created)."""
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(stream_items).where(
                _S.project_id == project_id, _S.id.in_(chunk), _S.status.in_(OUT))
                .values(status="failed"))

    def mark_stream_created(self, project_id: int, task_ids: Mapping[int, int]) -> None:
        """{item id: Label Studio task id}: those pending or sending become ``created``."""
        if task_ids:
            self.conn.execute(_SET_CREATED, [
                {"b_project": project_id, "b_id": i, "b_task": tid}
                for i, tid in sorted(task_ids.items())])

    def stream_counts(self, project_id: int) -> StreamCounts:
        """Received, selected and by reason from the running totals (every item ever
        received); the selected items' way out counted on the status index."""
        rows = self.conn.execute(
            sa.select(_T.reason, _T.selected, _T.n, _T.first_at, _T.last_at)
            .where(_T.project_id == project_id)).all()
        by_reason: dict[str, int] = {}
        for r in rows:
            if int(r.n) or r.reason != DECIDING:  # none waits: not a reason to show
                by_reason[r.reason] = by_reason.get(r.reason, 0) + int(r.n)
        by_status = {str(s): int(n) for s, n in self.conn.execute(
            sa.select(_S.status, sa.func.count()).where(
                _S.project_id == project_id,
                _S.status.in_(("pending", "sending", "created", "failed")))
            .group_by(_S.status))}
        return StreamCounts(
            received=sum(int(r.n) for r in rows),
            selected=sum(int(r.n) for r in rows if r.selected),
            pending=by_status.get("pending", 0), sending=by_status.get("sending", 0),
            created=by_status.get("created", 0), failed=by_status.get("failed", 0),
            deciding=by_reason.get(DECIDING, 0), by_reason=dict(sorted(by_reason.items())),
            first_at=min((float(r.first_at) for r in rows), default=None),
            last_at=max((float(r.last_at) for r in rows), default=None))

    def stream_projects_pending(self) -> list[int]:
        """Projects with items waiting to become Label Studio tasks (pending or sending)."""
        return [int(p) for p in self.conn.execute(
            sa.select(_S.project_id).where(_S.status.in_(OUT)).distinct()
            .order_by(_S.project_id)).scalars()]

    def stream_projects_deciding(self) -> list[int]:
        """Projects with items stored and not decided yet (deferred mode)."""
        return [int(p) for p in self.conn.execute(
            sa.select(_S.project_id).where(_S.status == DECIDING).distinct()
            .order_by(_S.project_id)).scalars()]

    # --- model artefacts -------------------------------------------------------------------
    def save_model_artifact(self, project_id: int, version: str, kind: str,
                            blob: bytes) -> None:
        """Store (or replace) a version's artefact; a replaced one keeps its ``created_at``."""
        upsert(self.conn, model_artifacts,
               [{"project_id": project_id, "version": version, "kind": kind, "blob": blob,
                 "created_at": now()}], keys=["project_id", "version", "kind"], update=["blob"])

    def get_model_artifact(self, project_id: int, version: str, kind: str) -> bytes | None:
        blob = self.conn.execute(sa.select(_A.blob).where(
            _A.project_id == project_id, _A.version == version, _A.kind == kind)).scalar()
        return bytes(blob) if blob is not None else None

    def latest_model_artifact_version(self, project_id: int, kind: str) -> str | None:
        """The newest version holding a ``kind`` artefact: by ``created_at``, then by the
        model version's id (the later recorded), then by name."""
        v = t.model_versions.c
        joined = model_artifacts.outerjoin(
            t.model_versions, sa.and_(v.project_id == _A.project_id, v.version == _A.version))
        return self.conn.execute(
            sa.select(_A.version).select_from(joined)
            .where(_A.project_id == project_id, _A.kind == kind)
            .order_by(_A.created_at.desc(), v.id.desc().nulls_last(), _A.version.desc())
            .limit(1)).scalar()

    # --- drift -----------------------------------------------------------------------------
    def save_drift(self, record: DriftRecord) -> None:
        values = {c.name: getattr(record, c.name) for c in stream_drift.columns if c.name != "id"}
        self.conn.execute(sa.insert(stream_drift).values(**values))

    def latest_drift(self, project_id: int) -> DriftRecord | None:
        found = self.drift_history(project_id, limit=1)
        return found[0] if found else None

    def drift_history(self, project_id: int, *, limit: int = 20) -> list[DriftRecord]:
        """The project's measurements, newest first."""
        return [_drift(r) for r in self.conn.execute(
            sa.select(stream_drift).where(_D.project_id == project_id)
            .order_by(_D.measured_at.desc(), _D.id.desc()).limit(limit))]

    # --- retention (storage/retention.py) --------------------------------------------------
    def expired_stream_item_ids(self, *, before: float, limit: int) -> list[int]:
        """Ignored items (never selected) received before ``before``, the oldest first."""
        return [int(i) for i in self.conn.execute(
            sa.select(_S.id).where(_S.status == "ignored", _S.received_at < before)
            .order_by(_S.id).limit(limit)).scalars()]

    def delete_stream_items(self, ids: Sequence[int]) -> int:
        """Delete these items if ignored (a selected item is never deleted)."""
        n = 0
        for chunk in chunks(list(ids)):
            n += self.conn.execute(sa.delete(stream_items).where(
                _S.id.in_(chunk), _S.status == "ignored")).rowcount
        return n
