"""Every test here runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from labelloop.storage.base import Storage


@pytest.fixture
def storage(any_storage: Storage) -> Storage:
    return any_storage


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, settings) -> str:
    """An empty database's URL on each backend."""
    if request.param == "sqlite":
        return settings.resolved_database_url
    return request.getfixturevalue("postgres_server").new_database()

