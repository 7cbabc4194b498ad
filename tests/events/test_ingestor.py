from __future__ import annotations

import json
import threading
from concurrent.futures import wait

import pytest
from tests.events.test_apply import created

from labelloop.errors import MalformedBody, StorageError
from labelloop.events.apply import apply_batch
from labelloop.events.ingestor import WebhookIngestor
from labelloop.storage.base import Storage


def test_batch_applies_in_order_and_dedupes_within_the_batch(storage: Storage,
                                                             settings) -> None:
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
                                                             settings) -> None:
    woke = threading.Event()
    ing = WebhookIngestor(storage, settings, on_jobs=woke.set)
    gate = threading.Lock()
    gate.acquire()
    original = storage.write

    def slow_write():
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
                                                   monkeypatch) -> None:
    import labelloop.events.ingestor as mod

    real = mod.apply_batch

    def flaky(tx, bodies, s):
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


def test_submit_when_stopped_fails_cleanly(storage: Storage, settings) -> None:
    with pytest.raises(StorageError):
        WebhookIngestor(storage, settings).submit(b"{}").result(timeout=1)


def _future():
    from concurrent.futures import Future
    return Future()


def test_an_event_whose_value_is_refused_is_a_stub_and_a_422(storage: Storage, settings,
                                                             monkeypatch) -> None:
    """The database refusing a value (PostgreSQL: NUL, an out-of-range number) is the event's
    fault, not storage's: it is recorded (a stub) and answered 422, never 503 with nothing kept."""
    import labelloop.events.ingestor as mod

    real = mod.apply_batch

    def refusing(tx, bodies, s):
        if any(b"POISON" in b for b in bodies):
            raise ValueError("a value the database refuses")
        return real(tx, bodies, s)

    monkeypatch.setattr(mod, "apply_batch", refusing)
    ing = WebhookIngestor(storage, settings)
    poison = json.dumps({"action": "TASKS_CREATED", "POISON": 1}).encode()
    ing._commit([(created(1, 1), f1 := _future()), (poison, f2 := _future())])
    assert f1.result().status == "applied"
    res = f2.result()
    assert res.status == "invalid" and res.error is not None and res.error.status == 422
    with storage.read() as tx:
        assert tx.event_counts() == {"applied": 1, "invalid": 1}


def test_storage_failing_is_still_a_503(storage: Storage, settings, monkeypatch) -> None:
    import sqlalchemy.exc as sa_exc

    import labelloop.events.ingestor as mod

    def locked(tx, bodies, s):
        raise sa_exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(mod, "apply_batch", locked)
    ing = WebhookIngestor(storage, settings)
    ing._commit([(created(1, 1), f1 := _future())])
    with pytest.raises(StorageError):
        f1.result()
    with storage.read() as tx:
        assert tx.event_counts() == {}


def test_a_body_over_the_cap_is_recorded_as_a_stub(storage: Storage, settings) -> None:
    from labelloop.events.parse import TooLarge

    ing = WebhookIngestor(storage, settings)
    big = TooLarge(size=10**8, sha256="ab" * 32, head=b'{"action": "TASKS_CREATED"', limit=10)
    ing._commit([(big, f1 := _future())])
    res = f1.result()
    assert res.status == "invalid" and res.error is not None and res.error.status == 413
    with storage.read() as tx:
        assert tx.event_counts() == {"invalid": 1}
