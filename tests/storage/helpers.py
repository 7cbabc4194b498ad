"""Helpers shared by the storage tests."""

from __future__ import annotations

from labelloop.storage.base import Storage, open_storage


def reopened_after(url: str, *statements: str) -> Storage:
    """Open the database at ``url`` (creating and migrating it), run ``statements`` (to make it
    look older), close it, and open it again: the second opening migrates what they undid."""
    first = open_storage(url)
    with first.write() as tx:
        for sql in statements:
            tx.conn.exec_driver_sql(sql)
    first.close()
    return open_storage(url)
