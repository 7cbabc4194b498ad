"""The SQLite database's files are private: folders 0700, database and its -wal/-shm 0600."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from labelloop.storage.base import open_storage

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def open_and_write(db: Path) -> None:
    """Open the storage and write, so SQLite has made its -wal and -shm files; check them while
    it is open (a clean close removes them)."""
    storage = open_storage(f"sqlite:///{db}")
    try:
        with storage.write() as tx:
            tx.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t_modes (x INTEGER)")
            tx.conn.exec_driver_sql("INSERT INTO t_modes VALUES (1)")
        for suffix in ("", "-wal", "-shm"):
            f = db.with_name(db.name + suffix)
            assert f.exists(), f
            assert mode(f) == 0o600, (f, oct(mode(f)))
    finally:
        storage.close()


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_new_data_dir_and_database_are_private_whatever_the_umask(tmp_path: Path,
                                                                  mask: int) -> None:
    db = tmp_path / "a" / "data" / "labelloop.db"
    os.chmod(tmp_path, 0o750)
    with umask(mask):
        open_and_write(db)
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "data") == 0o700
    assert mode(tmp_path) == 0o750  # the folder that existed is not labelloop's to change


def test_an_existing_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "labelloop.db"
    open_and_write(db)
    for suffix in ("", "-wal", "-shm"):
        f = db.with_name(db.name + suffix)
        if f.exists():
            os.chmod(f, 0o644)
    os.chmod(db, 0o644)
    open_and_write(db)
    assert mode(db) == 0o600


def test_an_existing_folder_open_to_others_is_left_alone_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o755)
    with caplog.at_level(logging.WARNING, logger="labelloop.storage.engine"):
        open_and_write(folder / "labelloop.db")
    assert mode(folder) == 0o755
    assert any(str(folder) in r.getMessage() and "755" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    os.chmod(folder, 0o700)
    with caplog.at_level(logging.WARNING, logger="labelloop.storage.engine"):
        open_and_write(folder / "labelloop.db")
    assert not caplog.records
