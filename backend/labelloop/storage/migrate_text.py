"""Migration 12: clean the tasks stored before text was cleaned at the edge.

A database from before :mod:`labelloop.text` may hold a task whose text has a lone surrogate or
NUL (issue 18's poison pill). Jobs skip such a task, but nothing would ever clean it: Label
Studio never re-sends the webhook that brought it, and its own task API answers 500 for it, so
the resync cannot rewrite it either. This migration cleans those tasks in place, keeping their
original in ``tasks.original`` (as :func:`labelloop.text.clean_task` does at the edge).

Candidates are found in SQL: the JSON text of ``data`` or ``meta`` holding a ``\\u0000`` or a
``\\ud8…``-``\\udf…`` escape (how both databases keep them; a valid character beyond the BMP is
written as such a pair too, and is told apart in Python). A database without any costs one scan.
A task nested too deep to walk is left as it is: it must not stop the database from opening.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from labelloop.storage import tables as t
from labelloop.text import clean_json, escaped_original

_PATTERNS = ("%\\u0000%", "%\\ud8%", "%\\ud9%", "%\\uda%", "%\\udb%", "%\\udc%", "%\\udd%",
             "%\\ude%", "%\\udf%")
BATCH = 500
log = logging.getLogger(__name__)


def _candidates(column: sa.ColumnElement) -> sa.ColumnElement[bool]:
    text = sa.cast(column, sa.Text)
    return sa.or_(*(text.ilike(p, escape="#") for p in _PATTERNS))


def clean_stored_tasks(conn: sa.Connection) -> None:
    c = t.tasks.c
    last = None
    while True:
        q = sa.select(c.id, c.data, c.meta, c.original).where(
            sa.or_(_candidates(c.data), _candidates(c.meta))).order_by(c.id).limit(BATCH)
        if last is not None:
            q = q.where(c.id > last)
        rows = conn.execute(q).all()
        if not rows:
            return
        for r in rows:
            try:
                data, data_changed = clean_json(r.data)
                meta, meta_changed = clean_json(r.meta)
            except RecursionError:  # nested past Python's stack: left as it is
                log.warning("task %s: data nested too deep to clean; left as it is", r.id)
                continue
            if data_changed or meta_changed:
                original = r.original or escaped_original({"data": r.data, "meta": r.meta})
                conn.execute(sa.update(t.tasks).where(c.id == r.id).values(
                    data=data, meta=meta, original=original))
        last = rows[-1].id
