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
* The database may hold a Label Studio token (``LABELLOOP_TRUST_SETUP_CREDENTIALS``) and every
  task's text: the folders labelloop creates for it are 0700 and the database file 0600, whatever
  the umask (SQLite gives its -wal and -shm files the database file's mode). An existing database
  file is tightened to 0600; an existing folder is left alone, with a warning if others can
  enter it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

WRITE_OPTION = "labelloop_write"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
log = logging.getLogger(__name__)


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


def _wal(cur: sqlite3.Cursor, *, wait_s: float = 30.0) -> None:
    """WAL mode (persistent in the file: a no-op once set). Switching a new file to it needs
    a lock SQLite may refuse at once, without its busy handler, while processes starting
    together create the same database ('database is locked'): asked again until ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.database and parsed.database != ":memory:" \
            and not parsed.database.startswith("file:"):
        prepare_private_file(Path(parsed.database))
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
        # only a new, empty database takes it: pages retention frees can then be given back
        # to the file system (storage/retention.py); an older file keeps its size
        cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
        _wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def prepare_private_file(path: Path) -> None:
    """Create ``path``'s missing folders 0700 and the file itself 0600 (empty: SQLite takes an
    empty file for an empty database), or tighten an existing file and its SQLite companions
    (-wal, -shm, -journal) to 0600. Warns about an existing folder others can enter."""
    if os.name != "posix":
        return
    created = make_private_dirs(path.parent)
    if not created:
        mode = stat.S_IMODE(path.parent.stat().st_mode)
        if mode & 0o077:
            log.warning("the database's folder %s is open to other users (mode %o): they "
                        "can list it, though the database files are 0600 (labelloop creates "
                        "this folder 0700; chmod 700 it)", path.parent, mode)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
            _tighten(p)
    else:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken bits from the mode above
        os.close(fd)


def make_private_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents, each 0700 whatever the umask; the folders this
    call created, outermost first (none when ``folder`` existed)."""
    missing: list[Path] = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    created: list[Path] = []
    for p in reversed(missing):
        try:
            p.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # another process made it meanwhile: not ours to change
            continue
        os.chmod(p, PRIVATE_DIR)
        created.append(p)
    return created


def _tighten(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & ~0o077)
    except OSError as exc:
        log.warning("%s is readable by other users (mode %o) and could not be tightened (%s); "
                    "run chmod 600 %s", path, mode, exc, path)
    else:
        log.info("%s: mode %o tightened to %o", path, mode, mode & ~0o077)


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
        with (self._write_lock,
              self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
              conn.begin()):
            yield conn

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[sa.Connection]:
        """A read transaction. ``snapshot``: every statement sees the same committed state (on
        PostgreSQL REPEATABLE READ instead of READ COMMITTED, where each statement sees the
        latest commit; a SQLite read transaction is a snapshot already)."""
        with self.engine.connect() as conn:
            if snapshot and not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
