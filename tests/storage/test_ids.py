"""Label Studio ids up to 2^63-1 (what the input layer lets through) on both backends, and
migration 9, which widened them on PostgreSQL (INTEGER stops at 2^31-1)."""

from __future__ import annotations

from tests.storage.helpers import reopened_after

from labelloop.inputs import MAX_ID
from labelloop.storage.base import Storage, open_storage
from labelloop.storage.migrations import MIGRATIONS
from labelloop.storage.records import Annotation

BIG = MAX_ID


def _write_big_ids(storage: Storage) -> None:
    with storage.write() as tx:
        tx.save_project(BIG, title="p")
        tx.upsert_tasks(BIG, [{"id": BIG, "data": {"text": "t"}}])
        tx.upsert_annotations([Annotation(id=BIG, task_id=BIG, project_id=BIG, completed_by=BIG,
                                          result=[], was_cancelled=False, ground_truth=False,
                                          lead_time=None, ls_updated_at=None)], source="webhook")
        tx.add_events([{"action": "TASKS_CREATED", "project_id": BIG, "body": "{}",
                        "body_hash": "h", "status": "applied", "error": None}])


def test_the_largest_ids_round_trip(any_url: str) -> None:
    storage = open_storage(any_url)
    try:
        _write_big_ids(storage)
        with storage.read() as tx:
            assert tx.get_project(BIG) is not None
            assert tx.known_task_ids([BIG]) == {BIG}
            assert tx.count_annotations(BIG) == 1
            assert tx.event_counts(BIG) == {"applied": 1}
    finally:
        storage.close()


def test_migration_9_widens_an_older_database(any_url: str) -> None:
    older = ["DELETE FROM schema_version WHERE version = 9"]
    if any_url.startswith("postgresql"):
        older = [f"ALTER TABLE {t} ALTER COLUMN {c} TYPE INTEGER" for t, c in
                 [("projects", "id"), ("tasks", "id"), ("tasks", "project_id"),
                  ("annotations", "id"), ("webhook_events", "project_id")]] + older
    again = reopened_after(any_url, *older)
    try:
        assert again.applied_migrations == [9]
        _write_big_ids(again)
        with again.read() as tx:
            assert tx.known_task_ids([BIG]) == {BIG}
    finally:
        again.close()


def test_migration_9_is_listed() -> None:
    assert 9 in {m.version for m in MIGRATIONS}
