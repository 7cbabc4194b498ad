"""Small helpers shared by the SQL storage modules."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    # an INSERT with ON CONFLICT: both dialects' have the same on_conflict_* and excluded
    UpsertInsert = postgresql.Insert | sqlite.Insert


def now() -> float:
    return time.time()


def content_hash(value: Any) -> str:
    """A stable hash of JSON-able content (key order does not matter)."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: list[str],
    update: list[str],
) -> None:
    """Insert ``rows``; on a key conflict overwrite the ``update`` columns (or do nothing)."""
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update)),
                     rows)


@functools.lru_cache(maxsize=128)
def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...],
                      update: tuple[str, ...]) -> sa.Executable:
    # Statements are immutable; building one costs ~0.3 ms (the webhook hot path runs several),
    # so each distinct upsert is built once per process.
    stmt = dialect_insert(dialect, table)
    if update:
        return stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in update})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def dialect_insert(dialect: str, table: sa.Table) -> UpsertInsert:
    """``INSERT INTO table`` of ``dialect`` (PostgreSQL's, else SQLite's): it has on_conflict."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(table)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an ``INSERT ... VALUES`` added."""
    key = result.inserted_primary_key
    if key is None:  # SQLAlchemy's type allows it: an executemany, or not an INSERT
        raise ValueError("the statement inserted no single row")
    return int(key[0])


def chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
