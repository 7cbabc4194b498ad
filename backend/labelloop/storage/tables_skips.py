"""Items a job skipped, and the original of tasks normalised at the edge (migration 8).

``skipped_items``: one row per (project, task, job kind) that a job could not process (text that
cannot be encoded, an embedder that fails on it, an LLM answer that cannot be parsed, a task
Label Studio returns that cannot be stored), with the last reason, when it was first and last
seen and how many runs skipped it. A run that skips the item again updates its row (the table
does not grow with retries); a run that processes it deletes the row. Task id 0: an item whose
id could not be read.

``tasks.original``: when :func:`labelloop.text.clean_task` changed a task (lone surrogates,
NUL), its data and meta as received, as ASCII JSON; NULL otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import LsId, metadata

skipped_items = sa.Table(
    "skipped_items",
    metadata,
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("task_id", sa.BigInteger, nullable=False),
    sa.Column("job_kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "task_id", "job_kind"),
)


def create_skip_tables(conn: sa.Connection) -> None:
    """Migration 8: ``skipped_items``, and ``tasks.original`` where the table lacks it (a
    database created after the column joined ``tables.tasks`` has it from migration 1)."""
    skipped_items.create(conn, checkfirst=True)
    if "original" not in {c["name"] for c in sa.inspect(conn).get_columns("tasks")}:
        conn.execute(sa.text("ALTER TABLE tasks ADD COLUMN original TEXT"))
