from __future__ import annotations

import json
import threading
from concurrent.futures import wait

import pytest

from labelloop.errors import MalformedBody, StorageError
from labelloop.events.apply import apply_batch
from labelloop.events.ingestor import WebhookIngestor
from labelloop.storage.base import Storage
from tests.events.test_apply import created


def test_batch_applies_in_order_and_dedupes_within_the_batch(storage: Storage,
                                                             settings) -> None:  # noqa: ANN001
    upd = created(10, 5, "negative", updated="2026-01-02").replace(
        b"ANNOTATION_CREATED", b"ANNOTATION_UPDATED")
    bodies = [created(10, 5), upd, created(10, 5), b"[oops", created(11, 6)]
    with storage.write() as tx:
        results = apply_batch(tx, bodies, settings)
    assert [r.status for r in results] == ["applied", "applied", "duplicate", "invalid",
                                           "applied"]
    assert isinstance(results[3].error, MalformedBody)
    # one retrain job for the project, shared by every applied event of the batch
    assert results[0].jobs == results[4].jobs and len(set(results[0].jobs)) == 2
    with storage.read() as tx:
        assert [h.kind for h in tx.annotation_history(10)] == ["created", "updated"]
        assert tx.get_annotations(1)[0].result[0]["value"]["choices"] == ["negative"]
        history_events = {h.annotation_id for h in tx.annotation_history(11)}
    assert history_events == {11}


def test_concurrent_submissions_are_grouped_and_all_answered(storage: Storage,
                                                             settings) -> None:  # noqa: ANN001
    woke = threading.Event()
    ing = WebhookIngestor(storage, settings, on_jobs=woke.set)
    gate = threading.Lock()
    gate.acquire()
    original = storage.write

    def slow_write():  # noqa: ANN202 - hold the first batch until all 60 are queued
        with gate:
            pass
        return original()

    storage.write = slow_write  # type: ignore[method-assign]
    ing.start()
    try:
        futs = [ing.submit(created(100 + i, 200 + i)) for i in range(60)]
        gate.release()
        done, pending = wait(futs, timeout=20)
    finally:
        ing.stop()
        storage.write = original  # type: ignore[method-assign]
    assert not pending and all(f.result().status == "applied" for f in done)
    assert ing.events == 60 and ing.batches < 60  # grouped, not one transaction each
    assert woke.is_set()
    with storage.read() as tx:
        assert tx.count_annotations(1) == 60


def test_a_failing_batch_is_retried_event_by_event(storage: Storage, settings,
                                                   monkeypatch) -> None:  # noqa: ANN001
    import labelloop.events.ingestor as mod

    real = mod.apply_batch

    def flaky(tx, bodies, s):  # noqa: ANN001, ANN202
        if any(b"POISON" in b for b in bodies):
            raise RuntimeError("disk I/O error")
        return real(tx, bodies, s)

    monkeypatch.setattr(mod, "apply_batch", flaky)
    ing = WebhookIngestor(storage, settings)
    poison = json.dumps({"action": "TASKS_CREATED", "POISON": 1}).encode()
    ing._commit([(created(1, 1), f1 := _future()), (poison, f2 := _future()),
                 (created(2, 2), f3 := _future())])
    assert f1.result().status == "applied" and f3.result().status == "applied"
    with pytest.raises(StorageError):
        f2.result()


def test_submit_when_stopped_fails_cleanly(storage: Storage, settings) -> None:  # noqa: ANN001
    with pytest.raises(StorageError):
        WebhookIngestor(storage, settings).submit(b"{}").result(timeout=1)


def _future():  # noqa: ANN202
    from concurrent.futures import Future
    return Future()
