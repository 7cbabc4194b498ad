"""Migration 11: projects.version_drift, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.storage.helpers import reopened_after


def test_migration_11_adds_version_drift_to_an_older_projects_table(any_url: str) -> None:
    again = reopened_after(any_url, "DELETE FROM schema_version WHERE version = 11",
                           "ALTER TABLE projects DROP COLUMN version_drift")
    assert again.applied_migrations == [11]
    drift = {"shows": "labelloop-1", "published": "labelloop-2", "seen_at": 1.5,
             "action": "restored", "resolved_at": 2.5}
    with again.write() as tx:
        tx.save_project(1, title="p", published_version="labelloop-2")
        assert tx.get_project(1).version_drift is None  # type: ignore[union-attr]
        tx.save_project(1, version_drift=drift)
    with again.read() as tx:
        assert tx.get_project(1).version_drift == drift  # type: ignore[union-attr]
    again.close()
