"""Small helpers shared by the SQL storage modules."""

from __future__ import annotations

import functools
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
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    if update:
        return stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in update})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def chunks(items: list[Any], size: int = 500):  # noqa: ANN201
    for i in range(0, len(items), size):
        yield items[i : i + size]
