"""The LLM tables: response cache, call log, endpoint capabilities, LLM labels.

* ``llm_cache``: one chat response per key, the hash of (endpoint, model, rendered messages,
  parameters). Written once; re-running the same request costs no call.
* ``llm_calls``: one row per HTTP call (not per cache hit) with its token usage and cost; the
  budget is the sum of ``cost_usd``.
* ``llm_endpoints``: per (endpoint, model) the detected capabilities (output mode, logprobs,
  ``n``) and the circuit breaker's pause, so that every process sees them.
* ``llm_labels``: the LLM's labels and label distribution per (project, task, model version),
  failures included (``labels`` null, ``failure`` says why). The active-learning committee reads
  the distributions from here. For text spans, ``spans`` holds the located spans with their
  scores and the entities dropped (migration 13; see ``labelloop.llm.span_store``).

No foreign keys to ``tasks``: the CLI labels files whose tasks labelloop does not mirror.
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import LsId, metadata

llm_cache = sa.Table(
    "llm_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("endpoint", sa.String(500), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("endpoint", sa.String(500), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("cache_key", sa.String(64)),
    sa.Column("project_id", LsId),
    sa.Column("task_id", LsId),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("completion_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0),
    sa.Column("latency_s", sa.Float, nullable=False, default=0.0),
    sa.Index("ix_llm_calls_endpoint", "endpoint", "model", "at"),
)

llm_endpoints = sa.Table(
    "llm_endpoints",
    metadata,
    sa.Column("endpoint", sa.String(500), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("capabilities", sa.JSON),
    sa.Column("detected_at", sa.Float),
    sa.Column("paused_until", sa.Float),
    sa.Column("pause_reason", sa.Text),
    sa.Column("updated_at", sa.Float, nullable=False),
)

llm_labels = sa.Table(
    "llm_labels",
    metadata,
    sa.Column("project_id", LsId, primary_key=True, autoincrement=False),
    sa.Column("task_id", LsId, primary_key=True, autoincrement=False),
    sa.Column("model_version", sa.String(200), primary_key=True),
    sa.Column("labels", sa.JSON),
    sa.Column("distribution", sa.JSON),
    sa.Column("confidence", sa.Float),
    sa.Column("confidence_method", sa.String(32), nullable=False),
    sa.Column("failure", sa.Text),
    sa.Column("usage", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("spans", sa.JSON),  # text spans: located spans with scores, dropped entities
    sa.Index("ix_llm_labels_project_version", "project_id", "model_version"),
)

LLM_TABLES = [llm_cache, llm_calls, llm_endpoints, llm_labels]


def create_llm_tables(conn: sa.Connection) -> None:
    """Migration 2: create the LLM tables."""
    for table in LLM_TABLES:
        table.create(conn, checkfirst=True)


def add_llm_label_spans(conn: sa.Connection) -> None:
    """Migration 13: ``llm_labels.spans`` (a database created since has it from migration 2)."""
    if "spans" not in {c["name"] for c in sa.inspect(conn).get_columns("llm_labels")}:
        kind = sa.JSON().compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE llm_labels ADD COLUMN spans {kind}"))
