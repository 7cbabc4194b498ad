"""The SQL implementation of :class:`labelloop.storage.base.Storage` (SQLite by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from labelloop.storage.engine import TransactionFactory, create_engine
from labelloop.storage.migrations import migrate
from labelloop.storage.sql_embeddings import EmbeddingsTx
from labelloop.storage.sql_jobs import JobsTx
from labelloop.storage.sql_labels import LabelsTx
from labelloop.storage.sql_llm import LlmTx
from labelloop.storage.sql_models import ModelsTx
from labelloop.storage.sql_queue import QueueTx
from labelloop.storage.sql_retention import RetentionTx
from labelloop.storage.sql_skips import SkipsTx
from labelloop.storage.sql_stream import StreamTx
from labelloop.storage.sql_triplets import TripletsTx


class SqlTx(LabelsTx, JobsTx, ModelsTx, EmbeddingsTx, LlmTx, QueueTx, SkipsTx, RetentionTx,
            StreamTx, TripletsTx):
    """Every storage operation, bound to one open transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn


class SqlStorage:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._tx = TransactionFactory(self.engine)
        self.applied_migrations = migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[SqlTx]:
        with self._tx.write() as conn:
            yield SqlTx(conn)

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[SqlTx]:
        with self._tx.read(snapshot=snapshot) as conn:
            yield SqlTx(conn)

    def ping(self) -> bool:
        with self._tx.read() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1

    def close(self) -> None:
        self.engine.dispose()
