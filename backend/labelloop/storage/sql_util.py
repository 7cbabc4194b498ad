"""Small helpers shared by the SQL storage modules."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlalchemy as sa


def now() -> float:
    return time.time()


def content_hash(value: Any) -> str:
    """A stable hash of JSON-able content (key order does not matter)."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def dialect_insert(conn: sa.Connection, table: sa.Table):  # noqa: ANN201
    """``INSERT`` that supports ``on_conflict_do_update``/``nothing`` on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: list[str],
    update: list[str],
) -> None:
    """Insert ``rows``; on a key conflict overwrite the ``update`` columns."""
    if not rows:
        return
    stmt = dialect_insert(conn, table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def chunks(items: list[Any], size: int = 500):  # noqa: ANN201
    for i in range(0, len(items), size):
        yield items[i : i + size]
