"""Similarity-judgement projects (issue 16 part 4, migration 19).

``triplet_corpus``: the texts a project's triplets are drawn from (``POST
/api/projects/{id}/triplets/corpus``), each once per project (by its SHA-256), with an optional
group. ``triplet_tasks``: the triplets mined from it (corpus ids), the LLM's pre-judgement, and
their way into Label Studio like the stream's items: ``pending`` → ``sending`` → ``created``
(``ls_task_id``) or ``failed``. A triplet is stored once per anchor and candidate pair in
either order (``key``). The human judgements are the Label Studio tasks' annotations, stored
with every other annotation.
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import LsId, metadata

triplet_corpus = sa.Table(
    "triplet_corpus",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("grp", sa.String(256)),  # "group" is an SQL keyword
    sa.Column("added_at", sa.Float, nullable=False),
    sa.UniqueConstraint("project_id", "text_sha256", name="uq_triplet_corpus_text"),
    sa.Index("ix_triplet_corpus_project", "project_id", "id"),
)

triplet_tasks = sa.Table(
    "triplet_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("anchor_id", sa.Integer, nullable=False),
    sa.Column("first_id", sa.Integer, nullable=False),
    sa.Column("second_id", sa.Integer, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("hardness", sa.Float),
    sa.Column("llm_judgement", sa.String(16)),
    sa.Column("llm_confidence", sa.Float),
    sa.Column("llm_version", sa.String(200)),
    sa.Column("status", sa.String(16), nullable=False),  # pending|sending|created|failed
    sa.Column("ls_task_id", LsId),
    sa.Column("sent_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("project_id", "key", name="uq_triplet_key"),
    sa.Index("ix_triplet_status", "project_id", "status"),
)

TRIPLET_TABLES = [triplet_corpus, triplet_tasks]


def create_triplet_tables(conn: sa.Connection) -> None:
    """Migration 19: the triplet corpus and triplet tasks."""
    for table in TRIPLET_TABLES:
        table.create(conn, checkfirst=True)
