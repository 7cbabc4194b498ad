"""Every test here runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from labelloop.storage.base import Storage


@pytest.fixture
def storage(any_storage: Storage) -> Storage:
    return any_storage
