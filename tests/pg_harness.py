"""A real PostgreSQL server on loopback for the storage tests (Debian's ``postgresql`` package).

:class:`PostgresServer` runs ``initdb`` into a temporary directory and starts the server on a
free port, listening on 127.0.0.1 only, with a Unix socket in the same directory (``fsync`` off:
a test database need not survive a power cut). As root, the server runs as the ``postgres``
user, which PostgreSQL insists on. :meth:`PostgresServer.new_database` creates an empty
database per test and returns its SQLAlchemy URL.

``.ci/run`` (through ``make test``) installs the package when it is missing and sets
``LABELLOOP_REQUIRE_POSTGRES=1``, so there a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="labelloop-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", self.user, "--", *args] if self.user else list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> PostgresServer:
        if self.user:
            shutil.chown(self.dir, self.user)
        out = self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync")
        if out.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {out.stderr[-500:]}")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        out = self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l",
                        str(self.dir / "server.log"), "-w", "-t", "60", "start")
        if out.returncode != 0:
            log = (self.dir / "server.log")
            raise PostgresUnavailable(f"PostgreSQL did not start: {out.stderr[-300:]} "
                                      f"{log.read_text()[-500:] if log.exists() else ''}")
        self.started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
