"""Table definitions (SQLAlchemy Core), shared by every SQL dialect labelloop runs on.

Times are float epoch seconds (portable, sortable, cheap). JSON columns hold Label Studio's own
payloads as received. Label Studio ids (projects, tasks, annotations) are used as primary keys:
labelloop mirrors them, it never invents its own: they are 64-bit (:data:`LsId`), as the input
layer allows ids up to 2^63-1 (migration 9 widened them on PostgreSQL).
"""

# No `from __future__ import annotations` here: it binds the name `annotations`, which this module
# defines as a table (mypy typed t.annotations as the __future__ feature).
import sqlalchemy as sa

metadata = sa.MetaData()
LsId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A Label Studio id (project, task, annotation, user): BIGINT; on SQLite INTEGER, which is
64-bit and keeps an INTEGER PRIMARY KEY the rowid."""

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", LsId, primary_key=True, autoincrement=False),
    sa.Column("ls_key", sa.String(64)),
    sa.Column("title", sa.Text),
    sa.Column("label_config", sa.Text),
    sa.Column("schema", sa.JSON),
    sa.Column("supported", sa.Boolean, nullable=False, default=False),
    sa.Column("unsupported_reason", sa.Text),
    sa.Column("model_version", sa.String(200)),
    sa.Column("published_version", sa.String(200)),
    sa.Column("ls_hostname", sa.Text),
    sa.Column("ls_token", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("last_synced_at", sa.Float),
    sa.Column("sync_error", sa.Text),
    # the last time Label Studio's model_version was seen off the published one (migration 11)
    sa.Column("version_drift", sa.JSON),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", LsId, primary_key=True, autoincrement=False),
    sa.Column(
        "project_id", LsId, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("data", sa.JSON),
    sa.Column("meta", sa.JSON),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("original", sa.Text),  # data+meta as received when normalised (migration 8)
    sa.Index("ix_tasks_project", "project_id", "deleted"),
)

annotations = sa.Table(
    "annotations",
    metadata,
    sa.Column("id", LsId, primary_key=True, autoincrement=False),
    sa.Column("task_id", LsId, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("completed_by", LsId),
    sa.Column("result", sa.JSON),
    sa.Column("was_cancelled", sa.Boolean, nullable=False, default=False),
    sa.Column("ground_truth", sa.Boolean, nullable=False, default=False),
    sa.Column("lead_time", sa.Float),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("ls_updated_at", sa.String(64)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_annotations_project", "project_id", "deleted"),
    sa.Index("ix_annotations_task", "task_id"),
)

annotation_history = sa.Table(
    "annotation_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("annotation_id", LsId, nullable=False),
    sa.Column("task_id", LsId, nullable=False),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # created|updated|skipped|deleted
    sa.Column("result", sa.JSON),
    sa.Column("completed_by", LsId),
    sa.Column("source", sa.String(16), nullable=False),  # webhook|resync
    sa.Column("webhook_event_id", sa.Integer),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_history_annotation", "annotation_id"),
    sa.Index("ix_history_project", "project_id", "at"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("action", sa.String(64)),
    sa.Column("project_id", LsId),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # applied|duplicate|ignored|invalid
    sa.Column("error", sa.Text),
    sa.Index("ix_events_hash", "body_hash"),
    sa.Index("ix_events_project", "project_id", "received_at"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "project_id", LsId, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("lineage", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("published_at", sa.Float),
    sa.Column("cleaned_at", sa.Float),
    sa.UniqueConstraint("project_id", "version", name="uq_model_version"),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("task_id", LsId, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # llm|model
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("extra", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("task_id", "source", "model_version", name="uq_prediction"),
    sa.Index("ix_predictions_project_task", "project_id", "task_id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("project_id", LsId),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued|running|succeeded|dead
    sa.Column("dedupe_key", sa.String(200)),
    sa.Column("serial_key", sa.String(200)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("run_after", sa.Float, nullable=False),
    sa.Column("locked_by", sa.String(200)),
    sa.Column("lease_until", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("progress", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("started_at", sa.Float),  # when the last claim took it (added by migration 6)
    sa.Index("ix_jobs_claim", "status", "run_after"),
    sa.Index(
        "uq_jobs_queued_dedupe",
        "dedupe_key",
        unique=True,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
)

FOUNDATION_TABLES = [
    projects,
    tasks,
    annotations,
    annotation_history,
    webhook_events,
    model_versions,
    predictions,
    jobs,
]
