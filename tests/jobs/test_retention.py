"""Retention: what goes, what stays, and /metrics counters that do not fall (SQLite and
PostgreSQL: see conftest.py)."""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from prometheus_client.core import Metric

from labelloop.jobs.retention import handle_retention, retention_spec
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker, WorkerPool
from labelloop.labelstudio.access import GatewayProvider
from labelloop.metrics.database import JOB_DURATION_BOUNDS, StorageCollector
from labelloop.storage import tables as t
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation
from labelloop.storage.records_llm import LlmCacheEntry, LlmCall, LlmLabel
from labelloop.storage.retention import DAY_S, RetentionPolicy, run_retention
from labelloop.storage.sql_queue import QueueEntry
from labelloop.storage.tables_llm import llm_calls, llm_labels

NOW = time.time()
POLICY = RetentionPolicy(keep_days=30, keep_per_project=1000, keep_versions=2, batch_rows=100)


def retain(storage: Storage, policy: RetentionPolicy = POLICY, **kw: object):
    return run_retention(storage, policy, now=NOW, bounds=JOB_DURATION_BOUNDS, **kw)


def finished_job(storage: Storage, project: int | None, *, fail: bool = False,
                 age_days: float = 0.0, took: float = 2.0) -> int:
    """A job claimed twice (one failed attempt), then succeeded or dead, ``age_days`` ago."""
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, project))
        tx.claim("h:1:a:0", lease_s=60, kinds=[JobKind.EMBED])
        tx.fail_job(jid, "boom", retry_at=0.0, owner="h:1:a:0")
        tx.claim("h:1:a:0", lease_s=60, kinds=[JobKind.EMBED])
        if fail:
            tx.fail_job(jid, "boom", retry_at=None, owner="h:1:a:0")
        else:
            tx.finish_job(jid, owner="h:1:a:0")
        end = NOW - age_days * DAY_S
        tx.conn.execute(sa.update(t.jobs).where(t.jobs.c.id == jid).values(
            started_at=end - took, finished_at=end))
    return jid


def counters(storage: Storage) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the counter and histogram families /metrics serves from the database."""
    out = {}
    fams: list[Metric] = list(StorageCollector(storage).collect())
    for fam in fams:
        if fam.type not in ("counter", "histogram"):
            continue
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def count(storage: Storage, table: sa.Table) -> int:
    with storage.read() as tx:
        return int(tx.conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def test_old_finished_jobs_go_and_metrics_counters_stay(storage: Storage) -> None:
    old = [finished_job(storage, 1, age_days=40, took=0.3),
           finished_job(storage, 1, age_days=31, fail=True, took=45.0),
           finished_job(storage, None, age_days=60, took=700.0)]
    young = finished_job(storage, 1, age_days=29)
    with storage.write() as tx:
        queued, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1))
        running, _ = tx.enqueue(JobSpec(JobKind.RESYNC, 1))
        tx.claim("h:1:a:0", lease_s=60, kinds=[JobKind.RESYNC])
        tx.conn.execute(sa.update(t.jobs).where(t.jobs.c.id.in_([queued, running])).values(
            created_at=NOW - 90 * DAY_S, run_after=NOW - 90 * DAY_S))
    before = counters(storage)
    assert before[("labelloop_job_failed_attempts_total", (("kind", "embed"),))] == 5

    report = retain(storage)

    assert report.jobs == 3
    with storage.read() as tx:
        assert all(tx.get_job(j) is None for j in old)
        assert tx.get_job(young) is not None
        assert tx.get_job(queued).status is JobStatus.QUEUED  # type: ignore[union-attr]
        assert tx.get_job(running).status is JobStatus.RUNNING  # type: ignore[union-attr]
    assert counters(storage) == before
    assert retain(storage).jobs == 0
    assert counters(storage) == before  # folded once, not at every run


def test_at_most_n_finished_jobs_and_events_per_project_however_young(storage: Storage) -> None:
    policy = RetentionPolicy(keep_days=30, keep_per_project=3, keep_versions=2, batch_rows=100)
    jobs = {p: [finished_job(storage, p) for _ in range(5)] for p in (1, 2)}
    with storage.write() as tx:
        events = [tx.add_event(action="ANNOTATION_CREATED", project_id=1, body="{}",
                               body_hash=f"h{i}", status="applied") for i in range(5)]
        waiting = tx.add_event(action="ANNOTATION_CREATED", project_id=1, body="{}",
                               body_hash="w", status="received")
    report = retain(storage, policy)
    assert (report.jobs, report.events) == (4, 2)
    with storage.read() as tx:
        for ids in jobs.values():  # the newest three of each project
            assert [tx.get_job(j) is not None for j in ids] == [False, False, True, True, True]
        kept = {int(i) for (i,) in tx.conn.execute(sa.select(t.webhook_events.c.id))}
    assert kept == {*events[2:], waiting}


def test_events_go_after_the_retention_period_unless_not_done_with(storage: Storage) -> None:
    with storage.write() as tx:
        ids = {status: tx.add_event(action="ANNOTATION_CREATED", project_id=1, body="{}",
                                    body_hash=status, status=status)
               for status in ("applied", "duplicate", "ignored", "invalid", "received")}
        young = tx.add_event(action="ANNOTATION_CREATED", project_id=1, body="{}",
                             body_hash="young", status="applied")
        tx.conn.execute(sa.update(t.webhook_events).where(
            t.webhook_events.c.id.in_(list(ids.values()))).values(received_at=NOW - 31 * DAY_S))
    assert retain(storage).events == 4
    with storage.read() as tx:
        kept = {int(i) for (i,) in tx.conn.execute(sa.select(t.webhook_events.c.id))}
    assert kept == {ids["received"], young}


def test_llm_calls_go_after_the_retention_period_and_their_totals_stay(
        storage: Storage) -> None:
    def call(status: str, at: float, tokens: int) -> LlmCall:
        return LlmCall(endpoint="http://127.0.0.1:1/v1", model="m", purpose="label",
                       status=status, prompt_tokens=tokens, completion_tokens=3, cost_usd=0.25,
                       latency_s=1.5, at=at, cache_key="k", project_id=1, task_id=1)

    with storage.write() as tx:
        tx.add_llm_calls([call("ok", NOW - 40 * DAY_S, 100), call("error", NOW - 40 * DAY_S, 7),
                          call("ok", NOW - 31 * DAY_S, 50), call("ok", NOW - DAY_S, 10)])
        tx.put_llm_cache([LlmCacheEntry("k", "http://127.0.0.1:1/v1", "m", {"a": 1})])
    before = counters(storage)
    assert before[("labelloop_llm_tokens_total", (("endpoint", "http://127.0.0.1:1/v1"),
                                                  ("model", "m"), ("purpose", "label"),
                                                  ("type", "prompt")))] == 167
    assert retain(storage).llm_calls == 3
    assert count(storage, llm_calls) == 1
    assert counters(storage) == before
    with storage.read() as tx:
        assert tx.count_llm_cache() == 1  # the response cache is never deleted


def label(task: int, version: str, created: float) -> LlmLabel:
    return LlmLabel(project_id=1, task_id=task, model_version=version, labels=["positive"],
                    distribution={"positive": 1.0}, confidence=0.9,
                    confidence_method="logprobs", created_at=created)


def test_only_each_tasks_newest_llm_label_is_kept(storage: Storage) -> None:
    with storage.write() as tx:
        tx.save_llm_labels([label(1, "llm-a", NOW - 90 * DAY_S), label(1, "llm-b", NOW - 5),
                            label(2, "llm-a", NOW - 90 * DAY_S),  # newest of its task: kept
                            label(3, "llm-b", NOW - 9), label(3, "llm-a", NOW - 2)])
    with storage.read() as tx:
        newest = tx.get_llm_labels(1)
    assert retain(storage).llm_labels == 2
    with storage.read() as tx:
        rows = {(r.task_id, r.model_version) for r in tx.conn.execute(
            sa.select(llm_labels.c.task_id, llm_labels.c.model_version))}
        assert tx.get_llm_labels(1) == newest
    assert rows == {(1, "llm-b"), (2, "llm-a"), (3, "llm-a")}


def test_old_queue_rows_go_but_published_recent_and_audit_draws_stay(storage: Storage) -> None:
    with storage.write() as tx:
        tx.save_project(1)
        for v in range(1, 6):
            tx.add_model_version(1, f"labelloop-{v}", kind="retrain")
            tx.save_queue([QueueEntry(1, f"labelloop-{v}", task, rank, rank / 10, "uncertainty",
                                      audit=(task == 100 + v or (task == 105 and v < 5)))
                           for rank, task in enumerate(range(100, 110))])
        tx.save_queue([QueueEntry(1, "labelloop-6", 100, 0, 0.0, "api")])  # not recorded yet
        tx.save_project(1, published_version="labelloop-2")
        audit = tx.audit_task_ids(1)
    report = retain(storage)
    with storage.read() as tx:
        left = {}
        for (v, n) in tx.conn.execute(sa.text(
                "SELECT model_version, COUNT(*) FROM queue_entries GROUP BY model_version")):
            left[v] = n
        assert tx.audit_task_ids(1) == audit
        assert len(tx.get_queue(1, "labelloop-2")) == 10
    # 1 and 3 go but for the audit draws no newer queue holds (101 in 1, 103 in 3)
    assert left == {"labelloop-1": 1, "labelloop-2": 10, "labelloop-3": 1, "labelloop-4": 10,
                    "labelloop-5": 10, "labelloop-6": 1}
    assert report.queue_rows == 18


def test_batches_are_bounded_and_what_must_stay_stays(storage: Storage) -> None:
    policy = RetentionPolicy(keep_days=30, keep_per_project=1000, keep_versions=2,
                             batch_rows=100)
    with storage.write() as tx:
        tx.save_project(1)
        tx.upsert_tasks(1, [{"id": 1, "data": {"text": "a"}}])
        tx.upsert_annotations([Annotation(7, 1, 1, 1, [], False, False, None, None)],
                              source="webhook")
        tx.add_events([{"action": "ANNOTATION_CREATED", "project_id": 1, "body": "{}",
                        "body_hash": f"h{i}", "status": "applied"} for i in range(250)])
        tx.conn.execute(sa.update(t.webhook_events).values(received_at=NOW - 31 * DAY_S))
    seen = []
    report = retain(storage, policy, on_batch=seen.append)
    assert report.events == 250
    assert [r.events for r in seen[:3]] == [100, 200, 250]  # then free pages, if any
    assert all(r.events == 250 and r.pages_released for r in seen[3:])
    with storage.read() as tx:
        assert tx.count_tasks(1) == 1 and tx.count_annotations(1) == 1
        assert len(tx.annotation_history(7)) == 1


def test_the_retention_job_runs_on_a_worker_and_is_scheduled_once(
        storage: Storage, settings) -> None:
    finished_job(storage, 1, age_days=31)
    w = Worker(storage, settings, {JobKind.RETENTION: handle_retention},
               gateways=GatewayProvider(settings), worker_id="h:1:a:0")
    pool = WorkerPool(storage, settings, {}, gateways=GatewayProvider(settings), threads=1)
    pool.enqueue_retention()
    pool.enqueue_retention()  # deduped while queued
    with storage.read() as tx:
        assert tx.job_counts()["retention"] == {"queued": 1}
    job = w.run_once()
    assert job is not None and job.kind is JobKind.RETENTION
    with storage.read() as tx:
        assert tx.get_job(job.id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
        assert "embed" not in tx.job_counts()  # the old finished job went
    assert retention_spec().serial_key == "retention"


def test_on_sqlite_the_file_shrinks_back_after_a_deletion(storage: Storage) -> None:
    if storage.dialect != "sqlite":
        return  # PostgreSQL's autovacuum reclaims space itself
    path = storage.url.removeprefix("sqlite:///")
    with storage.write() as tx:
        tx.add_events([{"action": "ANNOTATION_CREATED", "project_id": 1, "body": "x" * 4000,
                        "body_hash": f"h{i}", "status": "applied"} for i in range(3000)])
        tx.conn.execute(sa.update(t.webhook_events).values(received_at=NOW - 31 * DAY_S))

    def pages() -> int:
        raw = storage.engine.raw_connection()  # type: ignore[attr-defined]
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(raw.cursor().execute("PRAGMA page_count").fetchone()[0])
        finally:
            raw.close()

    before = pages()
    report = retain(storage, RetentionPolicy(keep_days=30, keep_per_project=1000,
                                             keep_versions=2, batch_rows=1000))
    assert report.events == 3000 and report.pages_released > 2000
    assert pages() < before - 2000
    assert os.path.getsize(path) < before * 4096 / 2


def test_a_scrape_racing_a_deletion_counts_each_job_once(storage: Storage,
                                                          monkeypatch) -> None:
    """The collector reads the live rows and the folded totals in one snapshot: a deletion
    committed between its queries (PostgreSQL's READ COMMITTED would show it to the later ones
    only) neither counts a job twice nor drops it, so no counter falls on the next scrape."""
    from labelloop.storage.sql_retention import RetentionTx

    for age in (40, 31, 60):
        finished_job(storage, 1, age_days=age)
    before = counters(storage)
    real = RetentionTx.folded_totals
    raced = []

    def folded_after_a_deletion(self, bounds):
        if not raced:
            raced.append(retain(storage).jobs)  # another connection, committed meanwhile
        return real(self, bounds)

    monkeypatch.setattr(RetentionTx, "folded_totals", folded_after_a_deletion)
    during = counters(storage)
    monkeypatch.setattr(RetentionTx, "folded_totals", real)
    assert raced == [3]
    assert during == before
    assert counters(storage) == before


def test_queue_rows_of_a_version_published_or_to_be_published_meanwhile_stay(
        storage: Storage, monkeypatch) -> None:
    """The stale versions are listed once, deleted batch after batch: a version published in
    between (a handed-over publish of an older queue, or the API naming it) keeps its rows, and
    so does one a queued publish job will publish."""
    from labelloop.jobs.types import JobSpec as Spec
    from labelloop.labelstudio.publish import stored_publish_spec
    from labelloop.storage.sql_retention import RetentionTx

    with storage.write() as tx:
        tx.save_project(1)
        for v in range(1, 6):
            tx.add_model_version(1, f"labelloop-{v}", kind="retrain")
            tx.save_queue([QueueEntry(1, f"labelloop-{v}", task, rank, rank / 10, "uncertainty",
                                      False) for rank, task in enumerate(range(100, 110))])
        tx.enqueue(stored_publish_spec(1, "labelloop-2"))  # LS failed its publish: retried
        tx.enqueue(Spec(JobKind.EMBED, 1))
    real = RetentionTx.stale_queue_versions

    def listed_then_published(self, *, keep_versions):
        out = real(self, keep_versions=keep_versions)
        with storage.write() as tx:  # published before the deletion starts
            tx.save_project(1, published_version="labelloop-3", model_version="labelloop-3")
        return out

    monkeypatch.setattr(RetentionTx, "stale_queue_versions", listed_then_published)
    report = retain(storage)
    with storage.read() as tx:
        assert len(tx.get_queue(1, "labelloop-3")) == 10
        assert len(tx.get_queue(1, "labelloop-2")) == 10
        assert tx.get_queue(1, "labelloop-1") == []
    assert report.queue_rows == 10
