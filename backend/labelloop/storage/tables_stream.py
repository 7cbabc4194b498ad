"""The production stream (issue 17, migration 15).

``stream_items``: every item a production service posted (``POST /api/projects/{id}/stream``),
with the decision taken on it when it arrived (selected or not, why, the utility and the
threshold it met) and, for a selected one, its way into Label Studio: ``pending`` (waiting),
``sending`` (an import was attempted, its outcome not known yet), ``created`` (``ls_task_id``
set). Not selected: ``ignored`` (retention deletes those after ``retention_days``). Stored and
not decided yet (``stream_decide="deferred"``): ``deciding``, reason ``deciding``. A key is
stored once per project: an item posted again is a duplicate, never selected twice.

``stream_state``: one row per project, the selection's state (budget window, adaptive
threshold) as JSON; ingest locks it (``SELECT ... FOR UPDATE`` on PostgreSQL) so that the
batches of one project are decided one after another.

``model_artifacts``: the serialised models a version carries (kinds ``local``, ``screen``),
loaded by the served classifier and the stream's screening.

``stream_drift``: drift measurements of a project's recent traffic (newest read first).
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import LsId, metadata

stream_items = sa.Table(
    "stream_items",
    metadata,
    sa.Column("id", LsId, primary_key=True, autoincrement=True),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("prediction", sa.JSON),  # the production model's label(s), as sent
    sa.Column("feedback", sa.String(16)),  # negative|positive|correction
    sa.Column("correction", sa.JSON),
    sa.Column("selected", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("utility", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("model_label", sa.Text),
    sa.Column("model_p", sa.Float),
    sa.Column("model_version", sa.String(200)),
    sa.Column("received_at", sa.Float, nullable=False),
    # ignored|pending|sending|created|failed, or deciding (stored, decided later by a job)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ls_task_id", LsId),
    sa.Column("sent_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("project_id", "key", name="uq_stream_key"),
    sa.Index("ix_stream_status", "project_id", "status"),
    sa.Index("ix_stream_project", "project_id", "id"),
)

stream_state = sa.Table(
    "stream_state",
    metadata,
    sa.Column("project_id", LsId, primary_key=True, autoincrement=False),
    sa.Column("state", sa.JSON(none_as_null=True)),  # NULL: locked, never saved
    sa.Column("updated_at", sa.Float, nullable=False),
)

model_artifacts = sa.Table(
    "model_artifacts",
    metadata,
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # local|screen
    sa.Column("blob", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "version", "kind"),
)

stream_drift = sa.Table(
    "stream_drift",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("measured_at", sa.Float, nullable=False),
    sa.Column("window_items", sa.Integer, nullable=False),
    sa.Column("window_from", sa.Float, nullable=False),
    sa.Column("window_to", sa.Float, nullable=False),
    sa.Column("reference_items", sa.Integer, nullable=False),
    sa.Column("statistic", sa.Float, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("p_value", sa.Float, nullable=False),
    sa.Column("drifting", sa.Boolean, nullable=False),
    sa.Column("label_shift", sa.Float),
    sa.Column("label_p_value", sa.Float),
    sa.Column("details", sa.JSON),
    sa.Index("ix_stream_drift_project", "project_id", "measured_at"),
)

STREAM_TABLES = [stream_items, stream_state, model_artifacts, stream_drift]


def create_stream_tables(conn: sa.Connection) -> None:
    """Migration 15: the production stream's items, selection state, drift history and the
    model artefacts the served model loads."""
    for table in STREAM_TABLES:
        table.create(conn, checkfirst=True)


# Running counts of every item received, by decision reason (migration 16): what /status and
# /metrics show, read in O(reasons) instead of counting millions of item rows (0.7 s at 1M on
# SQLite). Cumulative: retention deleting old ignored items does not lower them.
stream_totals = sa.Table(
    "stream_totals",
    metadata,
    sa.Column("project_id", LsId, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("selected", sa.Boolean, nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("first_at", sa.Float, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "reason", "selected"),
)


def create_stream_totals(conn: sa.Connection) -> None:
    """Migration 16: ``stream_totals``, computed from the items stored so far."""
    stream_totals.create(conn, checkfirst=True)
    s = stream_items.c
    conn.execute(sa.delete(stream_totals))
    conn.execute(sa.insert(stream_totals).from_select(
        ["project_id", "reason", "selected", "n", "first_at", "last_at"],
        sa.select(s.project_id, s.reason, s.selected, sa.func.count(),
                  sa.func.min(s.received_at), sa.func.max(s.received_at))
        .group_by(s.project_id, s.reason, s.selected)))

