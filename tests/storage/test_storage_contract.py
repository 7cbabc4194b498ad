"""Storage contract: every backend must pass these (each runs on SQLite and on a real PostgreSQL server)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from tests.storage.helpers import reopened_after

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.storage.base import Storage, open_storage
from labelloop.storage.records import Annotation, Prediction


def ann(aid: int, task: int, choice: str | None = "positive", *, cancelled: bool = False,
        updated: str = "2026-01-01T00:00:00", user: int = 1) -> Annotation:
    result = [] if choice is None else [{"from_name": "sentiment", "to_name": "text",
                                          "type": "choices", "value": {"choices": [choice]}}]
    return Annotation(id=aid, task_id=task, project_id=1, completed_by=user, result=result,
                      was_cancelled=cancelled, ground_truth=False, lead_time=None,
                      ls_updated_at=updated)


@pytest.fixture
def project(storage: Storage) -> int:
    with storage.write() as tx:
        tx.save_project(1, title="p")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"t{i}"}} for i in range(1, 6)])
    return 1


def test_engine_settings_per_dialect(storage: Storage) -> None:
    with storage.read() as tx:
        if storage.dialect == "sqlite":
            assert tx.conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert tx.conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        else:
            assert storage.dialect == "postgresql"
            assert tx.conn.exec_driver_sql("SHOW transaction_isolation").scalar() == \
                "read committed"


def test_migrations_apply_once(any_url: str) -> None:
    url = any_url
    first = open_storage(url)
    assert 1 in first.applied_migrations
    first.close()
    again = open_storage(url)
    assert again.applied_migrations == []
    again.close()


def test_write_transaction_is_all_or_nothing(storage: Storage, project: int) -> None:
    with pytest.raises(RuntimeError), storage.write() as tx:
        tx.upsert_tasks(project, [{"id": 99, "data": {"text": "x"}}])
        raise RuntimeError("boom")
    with storage.read() as tx:
        assert [t.id for t in tx.get_tasks(project, ids=[99])] == []


def test_foreign_keys_refuse_annotation_of_unknown_task(storage: Storage, project: int) -> None:
    with pytest.raises(sa.exc.IntegrityError), storage.write() as tx:
        tx.upsert_annotations([ann(1, 12345)], source="webhook")


def test_tasks_upsert_counts_new_and_updates_data(storage: Storage, project: int) -> None:
    with storage.write() as tx:
        assert tx.upsert_tasks(project, [{"id": 1, "data": {"text": "new"}},
                                         {"id": 6, "data": {"text": "six"}}]) == 1
    with storage.read() as tx:
        tasks = {t.id: t for t in tx.get_tasks(project)}
    assert tasks[1].data == {"text": "new"} and 6 in tasks and len(tasks) == 6


def test_task_ids_in_a_range_are_the_live_ones_sorted(storage: Storage, project: int) -> None:
    with storage.write() as tx:
        tx.save_project(2, title="q")
        tx.upsert_tasks(2, [{"id": 50, "data": {"text": "other project"}}])
        tx.mark_tasks_deleted([3])
    with storage.read() as tx:
        assert tx.task_ids(project) == [1, 2, 4, 5]
        assert tx.task_ids(project, above=1) == [2, 4, 5]
        assert tx.task_ids(project, upto=4) == [1, 2, 4]
        assert tx.task_ids(project, above=2, upto=4) == [4]
        assert tx.task_ids(project, above=5) == []


def test_annotation_history_records_every_real_change(storage: Storage, project: int) -> None:
    with storage.write() as tx:
        assert tx.upsert_annotations([ann(10, 1)], source="webhook") == ["created"]
        # the same content again (a repeated event) changes nothing
        assert tx.upsert_annotations([ann(10, 1)], source="webhook") == []
        assert tx.upsert_annotations([ann(10, 1, "negative", updated="2026-01-02")],
                                     source="webhook") == ["updated"]
        # an older version arriving late is ignored
        assert tx.upsert_annotations([ann(10, 1, "neutral", updated="2026-01-01T12")],
                                     source="resync") == []
        assert tx.upsert_annotations([ann(11, 2, None, cancelled=True)],
                                     source="webhook") == ["skipped"]
        assert tx.delete_annotations([10], source="webhook") == 1
        assert tx.delete_annotations([10], source="webhook") == 0
        # a deleted annotation does not come back from a stale update
        assert tx.upsert_annotations([ann(10, 1, "neutral", updated="2026-02-01")],
                                     source="webhook") == []
    with storage.read() as tx:
        hist = tx.annotation_history(10)
        live = tx.get_annotations(project)
        everything = tx.get_annotations(project, include_deleted=True)
    assert [h.kind for h in hist] == ["created", "updated", "deleted"]
    assert hist[1].result[0]["value"]["choices"] == ["negative"]
    assert [a.id for a in live] == [11] and {a.id for a in everything} == {10, 11}


def test_predictions_latest_per_task(storage: Storage, project: int) -> None:
    r = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
          "value": {"choices": ["positive"]}}]
    with storage.write() as tx:
        tx.save_predictions([
            Prediction(1, project, "llm", "llm-a", r, 0.9, created_at=1.0),
            Prediction(1, project, "model", "lr-2", r, 0.7, created_at=2.0),
            Prediction(2, project, "llm", "llm-a", r, 0.5, created_at=1.0),
        ])
        # re-saving the same key overwrites, never duplicates
        tx.save_predictions([Prediction(2, project, "llm", "llm-a", r, 0.6, created_at=1.0)])
    with storage.read() as tx:
        latest = tx.latest_predictions(project, [1, 2, 3])
        llm_only = tx.latest_predictions(project, [1], source="llm")
    assert latest[1].model_version == "lr-2" and latest[2].score == 0.6 and 3 not in latest
    assert llm_only[1].model_version == "llm-a"


def test_enqueue_dedupes_only_while_queued(storage: Storage) -> None:
    spec = JobSpec(JobKind.RESYNC, 1, dedupe_key="resync:1")
    with storage.write() as tx:
        a, created_a = tx.enqueue(spec)
        b, created_b = tx.enqueue(spec)
        assert (a == b, created_a, created_b) == (True, True, False)
        job = tx.claim("w1", lease_s=60)
        assert job is not None and job.id == a and job.attempts == 1
        c, created_c = tx.enqueue(spec)  # running does not count: a change mid-run is kept
        assert created_c and c != a


def test_claim_is_atomic_across_threads(storage: Storage) -> None:
    with storage.write() as tx:
        for i in range(40):
            tx.enqueue(JobSpec(JobKind.EMBED, 1, payload={"i": i}))
    claimed: list[int] = []
    lock = threading.Lock()

    def grab(name: str) -> None:
        while True:
            with storage.write() as tx:
                job = tx.claim(name, lease_s=60)
            if job is None:
                return
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40


def test_serial_key_keeps_one_running_per_project(storage: Storage) -> None:
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key="project:1:queue"))
        tx.enqueue(JobSpec(JobKind.PUBLISH, 1, serial_key="project:1:queue"))
        tx.enqueue(JobSpec(JobKind.PUBLISH, 2, serial_key="project:2:queue"))
        first = tx.claim("w1", lease_s=60)
        second = tx.claim("w2", lease_s=60)
        third = tx.claim("w3", lease_s=60)
        assert first is not None and first.project_id == 1
        assert second is not None and second.project_id == 2
        assert third is None  # project 1's publish waits for its retrain
        tx.finish_job(first.id)
        nxt = tx.claim("w3", lease_s=60)
    assert nxt is not None and nxt.kind is JobKind.PUBLISH and nxt.project_id == 1


def test_failures_requeue_then_die_and_expired_leases_return(storage: Storage) -> None:
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.CLEANUP_VERSIONS, 1))
        tx.claim("w", lease_s=60)
        assert tx.fail_job(jid, "boom", retry_at=0.0) is JobStatus.QUEUED
        job = tx.claim("w", lease_s=-1)  # a lease already expired: the worker "died"
        assert job is not None and job.attempts == 2
        assert tx.requeue_expired() == 1
        again = tx.get_job(jid)
        assert again is not None and again.status is JobStatus.QUEUED
        assert "lease expired" in (again.last_error or "")
        tx.claim("w", lease_s=60)
        assert tx.fail_job(jid, "fatal", retry_at=None) is JobStatus.DEAD
        counts = tx.job_counts()
    assert counts == {"cleanup_versions": {"dead": 1}}


def test_a_job_handed_to_another_worker_is_no_longer_the_first_ones(storage: Storage) -> None:
    """After a lost lease the queue gives the job to another worker: the first one's late
    heartbeat, success or failure, and a second requeue by a stale look, change nothing."""
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key="project:1:queue"))
        tx.claim("h:1:a:0", lease_s=-1)
        assert tx.requeue_running({jid: "h:1:a:0"}, reason="its worker process died") == 1
        taken = tx.claim("h:2:b:0", lease_s=600)
        assert taken is not None and taken.id == jid
        # the first worker, or whoever still believes it runs the job
        assert tx.requeue_running({jid: "h:1:a:0"}, reason="its worker process died") == 0
        assert tx.finish_job(jid, owner="h:1:a:0") is False
        assert tx.fail_job(jid, "late", retry_at=0.0, owner="h:1:a:0") is JobStatus.RUNNING
        tx.extend_lease(jid, lease_s=-100, owner="h:1:a:0", progress={"stale": True})
        job = tx.get_job(jid)
        assert job is not None and job.status is JobStatus.RUNNING
        assert job.locked_by == "h:2:b:0" and job.progress != {"stale": True}
        assert tx.requeue_expired() == 0  # the stale beat did not touch the new run's lease
        # its serial key stays held: nothing else of the project starts beside it
        tx.enqueue(JobSpec(JobKind.PUBLISH, 1, serial_key="project:1:queue"))
        assert tx.claim("h:3:c:0", lease_s=600) is None
        tx.extend_lease(jid, lease_s=600, owner="h:2:b:0", progress={"step": 1})
        assert tx.get_job(jid).progress == {"step": 1}  # type: ignore[union-attr]
        assert tx.finish_job(jid, owner="h:2:b:0") is True
        assert tx.get_job(jid).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_stale_requeue_racing_a_claim_leaves_the_new_run_alone(storage: Storage) -> None:
    """The race seen with three workers on PostgreSQL (READ COMMITTED): one process reads the
    running locks (the dead worker's job), meanwhile another requeues the job and a third claims
    it; the first then requeues what it read. It must not touch the job the third one runs."""
    if storage.dialect != "postgresql":
        pytest.skip("SQLite serialises write transactions: the interleaving cannot happen")
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.PRELABEL, 1, dedupe_key="prelabel:1",
                                    serial_key="prelabel:1"))
        tx.claim("h:1:dead:0", lease_s=600)
    with storage.write() as stale:
        locks = stale.running_locks()
        assert locks == {jid: "h:1:dead:0"}
        with storage.write() as other:  # another process, committed in between
            assert other.requeue_running(locks, reason="its worker process died") == 1
            assert other.claim("h:3:live:0", lease_s=600).id == jid  # type: ignore[union-attr]
            other.enqueue(JobSpec(JobKind.PRELABEL, 1, dedupe_key="prelabel:1",
                                  serial_key="prelabel:1"))  # new tasks arrived meanwhile
        assert stale.requeue_running(locks, reason="its worker process died") == 0
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job is not None and job.status is JobStatus.RUNNING and job.locked_by == "h:3:live:0"


def test_failed_job_is_superseded_by_a_queued_twin(storage: Storage) -> None:
    spec = JobSpec(JobKind.RESYNC, 1, dedupe_key="resync:1")
    with storage.write() as tx:
        jid, _ = tx.enqueue(spec)
        tx.claim("w", lease_s=60)
        twin, _ = tx.enqueue(spec)
        assert tx.fail_job(jid, "boom", retry_at=0.0) is JobStatus.SUPERSEDED
        assert tx.get_job(twin).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_job_not_due_is_not_claimed(storage: Storage) -> None:
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, delay_s=3600))
        assert tx.claim("w", lease_s=60) is None


def test_enqueue_dedupe_keeps_the_earliest_due_time(storage: Storage) -> None:
    import time
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1, dedupe_key="r", delay_s=3600))
        assert tx.claim("w", lease_s=60) is None
        same, created = tx.enqueue(JobSpec(JobKind.RETRAIN, 1, dedupe_key="r", delay_s=0))
        assert same == jid and not created
        assert tx.get_job(jid).run_after <= time.time()  # type: ignore[union-attr]
        _, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1, dedupe_key="r", delay_s=9999))
        assert tx.get_job(jid).run_after <= time.time()  # type: ignore[union-attr]
        assert tx.claim("w", lease_s=60).id == jid  # type: ignore[union-attr]


def test_a_migration_missing_below_the_newest_is_still_applied(any_url: str) -> None:
    again = reopened_after(any_url, "DELETE FROM schema_version WHERE version = 2",
                           "DROP TABLE llm_labels")
    assert again.applied_migrations == [2]
    with again.read() as tx:
        assert tx.get_llm_labels(1) == {}
    again.close()


def test_concurrent_enqueues_of_one_key_make_one_queued_job(storage: Storage) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from labelloop.jobs.triggers import resync_spec

    def enqueue(_: int) -> int:
        with storage.write() as tx:
            return tx.enqueue(resync_spec(7))[0]

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(enqueue, range(64)))
    assert len(ids) == 1
    with storage.read() as tx:
        assert tx.job_counts(7) == {"resync": {"queued": 1}}


def test_concurrent_claims_never_run_two_jobs_of_one_serial_key(storage: Storage) -> None:
    import threading

    from labelloop.jobs.types import JobKind, JobSpec, JobStatus

    with storage.write() as tx:
        for i in range(30):
            tx.enqueue(JobSpec(JobKind.RETRAIN, i % 3, serial_key=f"project:{i % 3}"))
    running: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            with storage.write() as tx:
                job = tx.claim(name, lease_s=60)
            if job is None:
                with storage.read() as tx:
                    if not tx.list_jobs(status=JobStatus.QUEUED):
                        return
                continue
            with lock:
                if running.get(job.serial_key or ""):
                    overlaps.append(job.serial_key or "")
                running[job.serial_key or ""] = running.get(job.serial_key or "", 0) + 1
            time.sleep(0.005)
            with lock:
                running[job.serial_key or ""] -= 1
            with storage.write() as tx:
                tx.finish_job(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert overlaps == []
    with storage.read() as tx:
        assert tx.job_counts() == {"retrain": {"succeeded": 30}}


def test_processes_starting_at_once_on_an_empty_database_migrate_it_once(any_url: str) -> None:
    """An API and its workers start together against a new database: every one opens it."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_: int) -> list[int]:
        s = open_storage(any_url)
        try:
            return s.applied_migrations
        finally:
            s.close()

    with ThreadPoolExecutor(6) as pool:
        applied = list(pool.map(open_and_close, range(6)))
    from labelloop.storage.migrations import MIGRATIONS

    # exactly one opener applied each migration; the others found it done
    assert sorted(v for a in applied for v in a) == sorted(m.version for m in MIGRATIONS)
    s = open_storage(any_url)
    with s.read() as tx:
        versions = tx.conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all()
    s.close()
    assert sorted(versions) == sorted(m.version for m in MIGRATIONS)
