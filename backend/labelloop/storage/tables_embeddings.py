"""The embedding cache table: one vector per (embedding model, text hash), stored once.

Vectors are raw little-endian ``float32`` or ``float16`` bytes (``dtype`` says which); ``dim``
is stored so that a blob can be checked before it is trusted. The cache is global, not per
project: the same text under the same model has the same vector wherever it appears.
"""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.tables import metadata

embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("text_hash", sa.String(64), primary_key=True),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("dtype", sa.String(8), nullable=False),  # float32 | float16
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

EMBEDDING_TABLES = [embeddings]


def create_embedding_tables(conn: sa.Connection) -> None:
    """Migration 3: create the embedding cache table."""
    for table in EMBEDDING_TABLES:
        table.create(conn, checkfirst=True)
