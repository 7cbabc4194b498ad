"""The published queue: each unlabeled task's rank, score and why it is where it is."""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import LsId, metadata

queue_entries = sa.Table(
    "queue_entries",
    metadata,
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("task_id", LsId, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),  # cold_start|disagreement|uncertainty|…
    sa.Column("audit", sa.Boolean, nullable=False, default=False),
    sa.Column("detail", sa.JSON),
    sa.PrimaryKeyConstraint("project_id", "model_version", "task_id"),
    sa.Index("ix_queue_rank", "project_id", "model_version", "rank"),
)

second_annotations = sa.Table(
    "second_annotations",
    metadata,
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("task_id", LsId, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "task_id"),
)


def create_queue_tables(conn: sa.Connection) -> None:
    queue_entries.create(conn, checkfirst=True)


def create_second_annotation_tables(conn: sa.Connection) -> None:
    second_annotations.create(conn, checkfirst=True)
