"""Stored predictions do not pile up: a retrain supersedes the earlier versions' rows of the tasks
it predicts, and migration 7 drops what older databases kept. Both backends."""

from __future__ import annotations

import pytest

from labelloop.storage.base import Storage, open_storage
from labelloop.storage.records import Prediction

R = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
      "value": {"choices": ["positive"]}}]


@pytest.fixture
def project(storage: Storage) -> int:
    with storage.write() as tx:
        tx.save_project(1, title="p")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"t{i}"}} for i in range(1, 6)])
        tx.save_project(2, title="q")
        tx.upsert_tasks(2, [{"id": 100, "data": {"text": "other"}}])
    return 1


def rows(tx) -> list[tuple]:
    return sorted(tx.conn.exec_driver_sql(
        "SELECT project_id, task_id, source, model_version FROM predictions").all())


def test_a_version_supersedes_the_older_rows_of_the_tasks_it_predicts(
        storage: Storage, project: int) -> None:
    with storage.write() as tx:
        tx.save_predictions([Prediction(t, 1, "model", "lr-1", R, 0.5, created_at=1.0)
                             for t in (1, 2, 3)])
        tx.save_predictions([Prediction(1, 1, "llm", "llm-a", R, 0.9, created_at=1.0),
                             Prediction(100, 2, "model", "lr-1", R, 0.5, created_at=1.0)])
        # task 3 was labeled meanwhile: lr-2 predicts the pool only, 1 and 2
        tx.save_predictions([Prediction(t, 1, "model", "lr-2", R, 0.7, created_at=2.0)
                             for t in (1, 2)])
        before = tx.latest_predictions(1, [1, 2, 3])
        deleted = tx.supersede_predictions(1, source="model", version="lr-2")
        after = tx.latest_predictions(1, [1, 2, 3])
        kept = rows(tx)
    assert deleted == 2
    assert kept == [(1, 1, "llm", "llm-a"), (1, 1, "model", "lr-2"), (1, 2, "model", "lr-2"),
                    (1, 3, "model", "lr-1"),  # a labeled task keeps its last prediction
                    (2, 100, "model", "lr-1")]  # another project is not touched
    assert after == before  # nothing any reader sees changed


def test_migration_7_keeps_the_newest_prediction_per_task_and_source(any_url: str) -> None:
    first = open_storage(any_url)
    with first.write() as tx:
        tx.save_project(1, title="p")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"t{i}"}} for i in (1, 2)])
        for v in range(1, 4):  # three retrains that kept every row
            tx.save_predictions([Prediction(t, 1, "model", f"lr-{v}", R, 0.1 * v,
                                            created_at=float(v)) for t in (1, 2)])
        tx.save_predictions([Prediction(1, 1, "llm", "llm-a", R, 0.9, created_at=9.0),
                             # same time: the later row wins, as in latest_predictions
                             Prediction(2, 1, "model", "lr-3b", R, 0.8, created_at=3.0)])
        before = tx.latest_predictions(1, [1, 2])
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 7")
    first.close()
    again = open_storage(any_url)
    try:
        assert again.applied_migrations == [7]
        with again.read() as tx:
            kept = rows(tx)
            after = tx.latest_predictions(1, [1, 2])
    finally:
        again.close()
    assert kept == [(1, 1, "llm", "llm-a"), (1, 1, "model", "lr-3"), (1, 2, "model", "lr-3b")]
    assert after == before
