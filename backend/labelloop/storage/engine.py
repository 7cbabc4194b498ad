"""Creating the SQLAlchemy engine, with the SQLite settings labelloop relies on.

Why SQLAlchemy Core and not stdlib ``sqlite3``: one set of queries serves SQLite (the embedded
default) and PostgreSQL (scale-out), with connection pooling and dialect-specific upserts behind
one API; no ORM, so no hidden session state. SQLite specifics live here:

* WAL journal, ``synchronous=NORMAL`` (durable across process crashes; a power cut may lose the
  last transactions, never corrupt the file), foreign keys on, a 30 s busy timeout for
  cross-process writers (a separate ``labelloop worker``).
* Write transactions start with ``BEGIN IMMEDIATE`` (take the write lock up front, so two
  writers never deadlock on a lock upgrade); reads use a plain deferred ``BEGIN``.
* Inside one process, writers queue on a Python lock instead of SQLite's sleeping busy handler,
  which waits in steps of up to 100 ms and would wreck webhook latency under load.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

WRITE_OPTION = "labelloop_write"


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean the psycopg (3) driver labelloop ships with;
    an explicit ``postgresql+driver://`` is kept."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # READ COMMITTED (PostgreSQL's default); the job claim locks its row (SKIP LOCKED)
    return sa.create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=16)


def _sqlite_engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=16,
        max_overflow=48,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # transactions are begun by _on_begin
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class TransactionFactory:
    """Opens read and write transactions; serialises in-process SQLite writers."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
                with conn.begin():
                    yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn
