"""Skipped items and tasks' originals (migration 8), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa

from labelloop.events.parse import parse_task
from labelloop.storage import tables as t
from labelloop.storage.base import Storage, open_storage
from labelloop.storage.migrations import MIGRATIONS


def test_migration_8_is_listed() -> None:
    assert any(m.version == 8 and "skipped_items" in m.description for m in MIGRATIONS)


def test_a_repeated_skip_updates_its_row_instead_of_adding_one(storage: Storage) -> None:
    with storage.write() as tx:
        tx.save_project(1)
        tx.record_skips(1, "embed", {5: "UnicodeEncodeError: first", 6: "bad"})
    with storage.write() as tx:
        tx.record_skips(1, "embed", {5: "UnicodeEncodeError: second"})
        tx.record_skips(1, "retrain", {5: "UnicodeEncodeError: second"})
    with storage.read() as tx:
        items = {(i.task_id, i.job_kind): i for i in tx.skipped_items(1)}
    assert set(items) == {(5, "embed"), (6, "embed"), (5, "retrain")}
    five = items[5, "embed"]
    assert (five.count, five.reason) == (2, "UnicodeEncodeError: second")
    assert five.first_seen <= five.last_seen and items[6, "embed"].count == 1


def test_clearing_forgets_processed_items_only(storage: Storage) -> None:
    with storage.write() as tx:
        tx.record_skips(1, "embed", {1: "a", 2: "b", 3: "c"})
        tx.record_skips(1, "retrain", {1: "a"})
        tx.record_skips(2, "embed", {1: "a"})
    with storage.write() as tx:
        assert tx.clear_skips(1, "embed", task_ids=[1, 9]) == 1
        assert tx.clear_skips(1, "embed", keep=[3]) == 1  # a full run that skipped 3 only
    with storage.read() as tx:
        assert {(i.task_id, i.job_kind) for i in tx.skipped_items(1)} == {(3, "embed"),
                                                                        (1, "retrain")}
        assert len(tx.skipped_items(2)) == 1


def test_summary_counts_distinct_tasks_and_groups_reasons(storage: Storage) -> None:
    with storage.write() as tx:
        tx.record_skips(1, "embed", {i: "text cannot be encoded" for i in (4, 2, 3)})
        tx.record_skips(1, "retrain", {2: "text cannot be encoded"})
        tx.record_skips(1, "prelabel", {7: "answer outside the label set"})
        tx.record_skips(2, "embed", {1: "x"})
    with storage.read() as tx:
        one = tx.skip_summary(1)
        every = tx.skip_summary()
        none = tx.skip_summary(3)
    assert one.count == 4  # tasks 2, 3, 4, 7
    first = one.reasons[0]
    assert (first.job_kind, first.tasks, first.task_ids) == ("embed", 3, [2, 3, 4])
    assert {r.job_kind for r in one.reasons} == {"embed", "retrain", "prelabel"}
    assert every.count == 5 and none.count == 0 and none.reasons == []
    with storage.write() as tx:  # a task deleted since: no job will clear its rows
        tx.save_project(1)
        tx.ensure_tasks(1, [2])
        tx.mark_tasks_deleted([2])
    with storage.read() as tx:
        after = tx.skip_summary(1)
    assert after.count == 3 and after.reasons[0].task_ids == [3, 4]


def test_what_cannot_be_a_key_or_a_reason_is_still_recorded(storage: Storage) -> None:
    with storage.write() as tx:
        tx.record_skips(1, "resync", {10**30: "id out of range \udc80\x00", -3: "x" * 5000})
    with storage.read() as tx:
        items = tx.skipped_items(1)
    assert [i.task_id for i in items] == [0]  # both unreadable ids: one row
    assert len(items[0].reason) <= 500 and "\x00" not in items[0].reason


def test_a_cleaned_task_keeps_its_original(storage: Storage) -> None:
    raw = {"id": 3, "data": {"text": "bad \udc80 and \x00 nul", "n\x00": 1}, "meta": {"m": "ok"}}
    task = parse_task(raw, 1)
    assert task["data"] == {"text": "bad \ufffd and  nul", "n": 1}
    with storage.write() as tx:
        tx.save_project(1)
        tx.upsert_tasks(1, [task, parse_task({"id": 4, "data": {"text": "fine"}}, 1)])
    with storage.read() as tx:
        stored = tx.get_tasks(1)
        originals = dict(tx.conn.execute(sa.select(t.tasks.c.id, t.tasks.c.original)).all())
    assert stored[0].data == {"text": "bad \ufffd and  nul", "n": 1}
    assert originals[4] is None
    assert json.loads(originals[3]) == {"data": raw["data"], "meta": raw["meta"]}
    # a later clean version of the task drops the original
    with storage.write() as tx:
        tx.upsert_tasks(1, [parse_task({"id": 3, "data": {"text": "fixed"}}, 1)])
    with storage.read() as tx:
        assert tx.conn.execute(sa.select(t.tasks.c.original)
                               .where(t.tasks.c.id == 3)).scalar_one() is None


def test_migration_12_cleans_tasks_stored_before_the_edge_cleaning(any_url: str) -> None:
    first = open_storage(any_url)
    raw = {"text": "bad \udc80 and \x00 nul", "emoji": "ok \U0001F600"}
    with first.write() as tx:
        tx.save_project(1)
        # as a database from before issue 18 holds them: stored without parse_task
        tx.upsert_tasks(1, [{"id": 1, "data": raw, "meta": {"m\x00": 1}},
                            {"id": 2, "data": {"text": "fine \U0001F600 café"}},
                            {"id": 3, "data": None}])
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 12")
    first.close()
    again = open_storage(any_url)
    try:
        assert again.applied_migrations == [12]
        with again.read() as tx:
            tasks = {task.id: task for task in tx.get_tasks(1)}
            originals = dict(tx.conn.execute(sa.select(t.tasks.c.id, t.tasks.c.original)).all())
    finally:
        again.close()
    assert tasks[1].data == {"text": "bad \ufffd and  nul", "emoji": "ok \U0001F600"}
    assert tasks[1].meta == {"m": 1}
    assert json.loads(originals[1]) == {"data": raw, "meta": {"m\x00": 1}}
    assert tasks[2].data == {"text": "fine \U0001F600 café"} and originals[2] is None
    assert originals[3] is None


def test_migration_12_leaves_a_task_nested_too_deep_to_clean(any_url: str) -> None:
    """A database can hold task data nested hundreds of levels (webhooks had no depth rule):
    cleaning it raised RecursionError and the database could not be opened at all."""
    first = open_storage(any_url)
    deep = json.loads("[" * 500 + '"\\udc80"' + "]" * 500)
    with first.write() as tx:
        tx.save_project(1)
        tx.upsert_tasks(1, [{"id": 1, "data": {"text": "x", "deep": deep}},
                            {"id": 2, "data": {"text": "bad \udc80"}}])
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 12")
    first.close()
    again = open_storage(any_url)
    try:
        assert again.applied_migrations == [12]
        with again.read() as tx:
            tasks = {task.id: task for task in tx.get_tasks(1)}
    finally:
        again.close()
    assert tasks[2].data == {"text": "bad \ufffd"}  # the others are cleaned all the same
    assert tasks[1].data["text"] == "x"  # left as it was
