"""Schema migrations: an ordered list, applied once each, recorded in ``schema_version``.

A migration is a function of a connection inside a transaction. Append new ones; never edit one
that has shipped. They use the Core table objects (or dialect-neutral DDL), so the same list
migrates SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from labelloop.storage import tables as t
from labelloop.storage.engine import WRITE_OPTION
from labelloop.storage.migrate_schema import reparse_unsupported_schemas
from labelloop.storage.migrate_text import clean_stored_tasks
from labelloop.storage.tables_embeddings import create_embedding_tables
from labelloop.storage.tables_llm import add_llm_label_spans, create_llm_tables
from labelloop.storage.tables_queue import create_queue_tables, create_second_annotation_tables
from labelloop.storage.tables_skips import create_skip_tables
from labelloop.storage.tables_stream import create_stream_tables, create_stream_totals
from labelloop.storage.tables_totals import create_totals_tables
from labelloop.storage.tables_triplets import create_triplet_tables


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _foundation(conn: sa.Connection) -> None:
    for table in t.FOUNDATION_TABLES:
        table.create(conn, checkfirst=True)


def _job_started_at(conn: sa.Connection) -> None:
    # A database created after the column joined ``tables.jobs`` already has it (migration 1).
    if "started_at" not in {c["name"] for c in sa.inspect(conn).get_columns("jobs")}:
        conn.execute(sa.text("ALTER TABLE jobs ADD COLUMN started_at FLOAT"))


def _drop_superseded_predictions(conn: sa.Connection) -> None:
    # Before retrains superseded their predictions, each kept a row per pooled task. Only a
    # task's newest prediction per source is read (``latest_predictions``): keep that one.
    p = t.predictions.c
    rank = sa.func.row_number().over(partition_by=(p.task_id, p.source),
                                     order_by=(p.created_at.desc(), p.id.desc())).label("rank")
    ranked = sa.select(p.id, rank).subquery()
    conn.execute(sa.delete(t.predictions).where(
        p.id.in_(sa.select(ranked.c.id).where(ranked.c.rank > 1))))


def _project_version_drift(conn: sa.Connection) -> None:
    # A database created after the column joined ``tables.projects`` already has it.
    if "version_drift" not in {c["name"] for c in sa.inspect(conn).get_columns("projects")}:
        kind = sa.JSON().compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE projects ADD COLUMN version_drift {kind}"))


#: Columns holding Label Studio ids (migration 9); other tables' ids are labelloop's own.
LS_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("id",), "tasks": ("id", "project_id"),
    "annotations": ("id", "task_id", "project_id", "completed_by"),
    "annotation_history": ("annotation_id", "task_id", "project_id", "completed_by"),
    "webhook_events": ("project_id",), "model_versions": ("project_id",),
    "predictions": ("project_id", "task_id"), "jobs": ("project_id",),
    "llm_calls": ("project_id", "task_id"), "llm_labels": ("project_id", "task_id"),
    "queue_entries": ("project_id", "task_id"), "second_annotations": ("project_id", "task_id"),
    "skipped_items": ("project_id", "task_id"),
}


def _ids_64_bit(conn: sa.Connection) -> None:
    # Label Studio ids reach 2^63-1 at the edge (labelloop.inputs); PostgreSQL's INTEGER stops
    # at 2^31-1. SQLite's INTEGER is 64-bit already.
    if conn.dialect.name != "postgresql":
        return
    inspector = sa.inspect(conn)
    for table, columns in LS_ID_COLUMNS.items():
        if not inspector.has_table(table):
            continue
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for column in columns:
            if column in types and not isinstance(types[column], sa.BigInteger):
                conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT"))


MIGRATIONS: list[Migration] = [
    Migration(1, "foundation: projects, tasks, annotations, history, events, versions, jobs",
              _foundation),
    # Kept in version order: migrate() skips a version below the newest one applied.
    Migration(2, "llm: response cache, call log, endpoint capabilities, LLM labels",
              create_llm_tables),
    Migration(3, "embeddings: vector cache keyed by (model, text hash)", create_embedding_tables),
    Migration(4, "queue: published ranks, reasons and audit draws", create_queue_tables),
    Migration(5, "second annotations requested from Label Studio",
              create_second_annotation_tables),
    Migration(6, "jobs.started_at: when the last claim took the job (run times)",
              _job_started_at),
    Migration(7, "predictions: drop those a newer one of the same task and source supersedes",
              _drop_superseded_predictions),
    Migration(8, "skipped_items: what jobs skipped and why; tasks.original (before cleaning)",
              create_skip_tables),
    Migration(9, "Label Studio ids 64-bit on PostgreSQL (ids up to 2^63-1)", _ids_64_bit),
    Migration(10, "metric_totals: what deleted jobs and LLM calls counted (retention)",
              create_totals_tables),
    Migration(11, "projects.version_drift: Label Studio showing another model_version",
              _project_version_drift),
    Migration(12, "tasks: clean text stored before the edge cleaning (original kept)",
              clean_stored_tasks),
    Migration(13, "llm_labels.spans: the LLM's located spans and dropped entities",
              add_llm_label_spans),
    Migration(14, "projects: parse again configs stored as not supported (NER is served now)",
              reparse_unsupported_schemas),
    Migration(15, "stream: items received and decided, selection state, model artefacts, drift",
              create_stream_tables),
    Migration(16, "stream_totals: running counts of stream items by decision reason",
              create_stream_totals),
    Migration(17, "projects: parse again configs stored as not supported (<Choices> on images "
              "and audio are served now)", reparse_unsupported_schemas),
    Migration(18, "projects: parse again configs stored as not supported (<Choices> on video "
              "is served now)", reparse_unsupported_schemas),
    Migration(19, "triplets: a project's corpus and the triplet tasks mined from it",
              create_triplet_tables),
]


@contextmanager
def _write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction: on SQLite ``BEGIN IMMEDIATE``, which waits for another process's
    migration (busy timeout) instead of failing to upgrade a read lock ("database is locked")."""
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        yield conn


def applied_versions(conn: sa.Connection) -> set[int]:
    t.schema_version.create(conn, checkfirst=True)
    return {int(v) for v in conn.execute(sa.select(t.schema_version.c.version)).scalars()}


def current_version(conn: sa.Connection) -> int:
    return max(applied_versions(conn), default=0)


MIGRATE_LOCK = 0x6C6C6D69  # PostgreSQL advisory lock key held while migrating ("llmi")


def migrate(engine: sa.Engine) -> list[int]:
    """Apply every migration not applied yet, in order; return the versions applied.

    Tracks the *set* of applied versions, so a migration that lands with a lower number than one
    already applied (parallel branches) is still applied. On PostgreSQL a session advisory lock
    makes processes that start at once (an API and its workers) migrate one after another: two
    ``CREATE TABLE``s of one table in concurrent transactions would fail the second.
    """
    if engine.dialect.name != "postgresql":
        return _migrate(engine)
    with engine.connect() as lock:
        lock.execute(sa.select(sa.func.pg_advisory_lock(MIGRATE_LOCK)))
        try:
            return _migrate(engine)
        finally:
            lock.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATE_LOCK)))
            lock.commit()


def _migrate(engine: sa.Engine) -> list[int]:
    applied: list[int] = []
    with _write(engine) as conn:
        done = applied_versions(conn)
    for m in sorted(MIGRATIONS, key=lambda m: m.version):
        if m.version in done:
            continue
        with _write(engine) as conn:
            # Re-read inside the transaction: another process may have migrated meanwhile.
            if m.version in applied_versions(conn):
                continue
            m.apply(conn)
            conn.execute(sa.insert(t.schema_version).values(version=m.version,
                                                             applied_at=time.time()))
        applied.append(m.version)
    return applied
