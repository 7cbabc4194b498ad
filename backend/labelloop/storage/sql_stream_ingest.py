"""The statements ingest runs once per batch (:class:`labelloop.storage.sql_stream.StreamTx`
calls them): the stream-state lock, the keys stored before, the items' insert and the running
totals — a fixed number of statements per batch whatever its size — and the deferred
decisions' update (:func:`decide_items`).

On PostgreSQL (issue 17's benchmark: 1,513 items/s, p99 1.5 s, against 2,500/s on SQLite):

- the keys stored before: an ``IN`` list of 100 parameters was planned, while the table had no
  statistics (a new stream's first minute, until autovacuum analyses it), as a scan of all the
  project's items filtered by key, and psycopg's prepared statement kept that generic plan once
  the table had grown — 20-80 ms a batch and rising. Now one array parameter, one probe of the
  ``(project_id, key)`` index per key, planned for each batch (``force_custom_plan``): < 1 ms.
- the items: a multi-row ``VALUES`` of ~1,800 parameters (~10 ms a batch) is now one JSON
  document read by ``json_to_recordset``, and the running totals are added in the same
  statement: one round trip under the project's lock, ~3 ms.
- the lock: one ``SELECT ... FOR UPDATE``; the row is inserted only the first time.

SQLite, in process, keeps the plain statements.
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa

from labelloop.storage.records_stream import DECIDING, StreamDecision, StreamItemRow
from labelloop.storage.sql_util import chunks, dialect_insert, now
from labelloop.storage.tables_stream import stream_items, stream_state, stream_totals

_S = stream_items.c
_ST = stream_state.c
_T = stream_totals.c

# SQLite: one executemany, ids back in the rows' order
_INSERT_ITEMS = sa.insert(stream_items).returning(_S.id, sort_by_parameter_order=True)
# PostgreSQL: the batch as one JSON document (a row per item, with its position), the rest
# bound once; the items and their running totals in one statement
_COLUMNS = (("key", "VARCHAR"), ("data", "JSON"), ("prediction", "JSON"), ("feedback", "VARCHAR"),
            ("correction", "JSON"), ("selected", "BOOLEAN"), ("reason", "VARCHAR"),
            ("utility", "FLOAT8"), ("threshold", "FLOAT8"), ("model_label", "TEXT"),
            ("model_p", "FLOAT8"), ("model_version", "VARCHAR"), ("status", "VARCHAR"))
_FLOATS = tuple(c for c, t in _COLUMNS if t == "FLOAT8")
_NAMES = ", ".join(c for c, _ in _COLUMNS)
# a JSON null comes out of the document as SQL NULL: put back as JSON null, as the JSON column
# type writes None (and SQLite stores it)
_PICKED = ", ".join(f"COALESCE({c}, CAST('null' AS JSON))" if t == "JSON" else c
                    for c, t in _COLUMNS)
_PG_ADD_ITEMS = sa.text(
    "WITH batch AS (SELECT * FROM json_to_recordset(CAST(:rows AS JSON)) AS batch("
    + ", ".join(f"{c} {t}" for c, t in _COLUMNS) + ", position INTEGER)), "
    f"added AS (INSERT INTO stream_items (project_id, received_at, attempts, {_NAMES}) "
    f"SELECT :project_id, :received_at, 0, {_PICKED} FROM batch ORDER BY position "
    "RETURNING id, key), "
    "counted AS (INSERT INTO stream_totals (project_id, reason, selected, n, first_at, last_at) "
    "SELECT :project_id, reason, selected, count(*), :received_at, :received_at FROM batch "
    "GROUP BY reason, selected ON CONFLICT (project_id, reason, selected) DO UPDATE "
    "SET n = stream_totals.n + excluded.n, last_at = excluded.last_at) "
    "SELECT id, key FROM added")
# one probe of the (project_id, key) index per key: a plan that stays right however many items
# the project has (an ``IN`` list or ``= ANY`` was planned as a scan of the project's items
# while the table had no statistics, as a new stream's table has for its first minute)
_PG_KNOWN_KEYS = sa.text(
    "SELECT found.key FROM unnest(CAST(:keys AS VARCHAR[])) AS wanted(key) "
    "CROSS JOIN LATERAL (SELECT key FROM stream_items "
    "WHERE project_id = :project_id AND key = wanted.key LIMIT 1) AS found")
# planned for each batch with the table's current size: a prepared statement's generic plan,
# made while the table was small, would keep scanning the project's items after it grew
_CUSTOM_PLANS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")


def lock_state(conn: sa.Connection, project_id: int) -> dict[str, Any] | None:
    """See :meth:`StreamTx.lock_stream_state`. PostgreSQL: ``SELECT ... FOR UPDATE`` of the
    project's row, created first (and locked again) only the first time."""
    q = sa.select(_ST.state).where(_ST.project_id == project_id)
    if conn.dialect.name != "postgresql":
        state = conn.execute(q).scalar()
        return dict(state) if state is not None else None
    row = conn.execute(q.with_for_update()).first()
    if row is None:
        conn.execute(dialect_insert("postgresql", stream_state)
                     .values(project_id=project_id, state=None, updated_at=now())
                     .on_conflict_do_nothing(index_elements=["project_id"]))
        row = conn.execute(q.with_for_update()).first()
    state = row[0] if row is not None else None
    return dict(state) if state is not None else None


def known_keys(conn: sa.Connection, project_id: int, keys: list[str]) -> set[str]:
    """Those of ``keys`` stored in the project."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    if conn.dialect.name == "postgresql":
        conn.execute(_CUSTOM_PLANS)
        return set(conn.execute(_PG_KNOWN_KEYS,
                                {"project_id": project_id, "keys": wanted}).scalars())
    out: set[str] = set()
    for chunk in chunks(wanted):
        out.update(conn.execute(sa.select(_S.key).where(
            _S.project_id == project_id, _S.key.in_(chunk))).scalars())
    return out


def add_items(conn: sa.Connection, project_id: int, rows: list[StreamItemRow], *,
              at: float) -> list[int]:
    """Insert ``rows`` (``pending`` when selected, ``deciding`` with that reason, else
    ``ignored``) and add them to the running totals; their ids, in order."""
    if not rows:
        return []
    values = [_values(r) for r in rows]
    if conn.dialect.name == "postgresql":
        document = json.dumps([{**v, **{c: _float(v[c]) for c in _FLOATS}, "position": n}
                               for n, v in enumerate(values)])
        got = {str(k): int(i) for i, k in conn.execute(
            _PG_ADD_ITEMS, {"project_id": project_id, "received_at": at, "rows": document})}
        return [got[r.key] for r in rows]  # keys are unique: the constraint says so
    res = conn.execute(_INSERT_ITEMS, [
        {**v, "project_id": project_id, "received_at": at, "ls_task_id": None,
         "sent_at": None, "attempts": 0} for v in values])
    ids = [int(r[0]) for r in res]
    _count(conn, project_id, rows, at=at)
    return ids


def _count(conn: sa.Connection, project_id: int, rows: list[StreamItemRow], *,
           at: float) -> None:
    """Add a batch to the running totals (one upsert, a row per decision reason in it)."""
    counts: dict[tuple[str, bool], int] = {}
    for r in rows:
        counts[(r.reason, r.selected)] = counts.get((r.reason, r.selected), 0) + 1
    _upsert_counts(conn, project_id, counts, at=at)


def _upsert_counts(conn: sa.Connection, project_id: int, counts: dict[tuple[str, bool], int],
                   *, at: float) -> None:
    stmt = dialect_insert(conn.dialect.name, stream_totals)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_T.project_id, _T.reason, _T.selected],
        set_={"n": _T.n + stmt.excluded.n, "last_at": stmt.excluded.last_at})
    conn.execute(stmt, [
        {"project_id": project_id, "reason": reason, "selected": selected, "n": n,
         "first_at": at, "last_at": at} for (reason, selected), n in sorted(counts.items())])


def _float(x: float | None) -> float | str | None:
    """A float for the JSON document: NaN and the infinities (not JSON numbers) as the text
    PostgreSQL reads them from."""
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _values(r: StreamItemRow) -> dict[str, Any]:
    return {"key": r.key, "data": r.data, "prediction": r.prediction, "feedback": r.feedback,
            "correction": r.correction, "selected": r.selected, "reason": r.reason,
            "utility": r.utility, "threshold": r.threshold, "model_label": r.model_label,
            "model_p": r.model_p, "model_version": r.model_version,
            "status": _status(r.selected, r.reason)}


def _status(selected: bool, reason: str) -> str:
    if reason == DECIDING:
        return DECIDING
    return "pending" if selected else "ignored"


def decide_items(conn: sa.Connection, project_id: int, decisions: list[StreamDecision], *,
                 at: float) -> int:
    """Store the decisions of items still ``deciding`` (others are left as they are: a second
    run changes nothing) and move them in the running totals from ``deciding`` to their
    reason (``at``: the decided items' newest received time, the totals' ``last_at``); how
    many were decided."""
    wanted = {d.id: d for d in decisions}
    still: list[int] = []
    for chunk in chunks(sorted(wanted)):
        still.extend(int(i) for i in conn.execute(sa.select(_S.id).where(
            _S.project_id == project_id, _S.id.in_(chunk), _S.status == DECIDING)).scalars())
    todo = [wanted[i] for i in sorted(still)]
    if not todo:
        return 0
    conn.execute(_DECIDE, [
        {"b_project": project_id, "b_id": d.id, "b_selected": d.selected, "b_reason": d.reason,
         "b_utility": d.utility, "b_threshold": d.threshold, "b_label": d.model_label,
         "b_p": d.model_p, "b_version": d.model_version,
         "b_status": _status(d.selected, d.reason)} for d in todo])
    conn.execute(sa.update(stream_totals).where(
        _T.project_id == project_id, _T.reason == DECIDING, _T.selected == sa.false())
        .values(n=_T.n - len(todo)))
    counts: dict[tuple[str, bool], int] = {}
    for d in todo:
        counts[(d.reason, d.selected)] = counts.get((d.reason, d.selected), 0) + 1
    _upsert_counts(conn, project_id, counts, at=at)
    return len(todo)


_DECIDE = sa.update(stream_items).where(
    _S.project_id == sa.bindparam("b_project"), _S.id == sa.bindparam("b_id"),
    _S.status == DECIDING).values(
    selected=sa.bindparam("b_selected"), reason=sa.bindparam("b_reason"),
    utility=sa.bindparam("b_utility"), threshold=sa.bindparam("b_threshold"),
    model_label=sa.bindparam("b_label"), model_p=sa.bindparam("b_p"),
    model_version=sa.bindparam("b_version"), status=sa.bindparam("b_status"))
