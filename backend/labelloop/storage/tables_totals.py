"""Running totals of rows that retention deleted, so that ``/metrics`` counters never fall.

The counters of ``GET /metrics`` (failed job attempts, job run times, LLM calls, tokens, cost and
seconds) are sums over the ``jobs`` and ``llm_calls`` rows. Before the retention job deletes such
rows it adds what they counted here, in the same transaction; the collector adds these totals to
what the live rows count. One row per metric and label values: ``labels`` is the JSON array of
the label values in the metric's own order (e.g. ``["embed", "succeeded", "0.5"]``).
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import metadata

metric_totals = sa.Table(
    "metric_totals",
    metadata,
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("labels", sa.String(2000), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def create_totals_tables(conn: sa.Connection) -> None:
    """Migration 10: the running totals of deleted rows."""
    metric_totals.create(conn, checkfirst=True)
