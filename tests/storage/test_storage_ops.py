"""The aggregate reads behind ``GET /metrics`` (each runs on SQLite and on a real PostgreSQL)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from tests.storage.helpers import reopened_after

from labelloop.jobs.types import JobKind, JobSpec
from labelloop.storage import tables as t
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmCall
from labelloop.storage.records_ops import JobGroup, LlmUsageGroup, ProjectModels


def test_claim_records_when_it_started_the_job(storage: Storage) -> None:
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
        assert tx.get_job(jid).started_at is None  # type: ignore[union-attr]
        before = time.time()
        job = tx.claim("w", lease_s=60)
    assert job is not None and job.started_at is not None
    assert before <= job.started_at <= time.time()


def test_job_groups_count_claims_and_failed_attempts(storage: Storage) -> None:
    with storage.write() as tx:
        ok, _ = tx.enqueue(JobSpec(JobKind.RESYNC, 1))
        tx.claim("w", lease_s=60)
        tx.fail_job(ok, "flaky", retry_at=0.0)  # attempt 1 failed
        tx.claim("w", lease_s=60)
        tx.finish_job(ok)  # attempt 2 succeeded
        dead, _ = tx.enqueue(JobSpec(JobKind.RESYNC, 2))
        tx.claim("w", lease_s=60)
        tx.fail_job(dead, "fatal", retry_at=None)
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, delay_s=100.0))
        tx.enqueue(JobSpec(JobKind.RETRAIN, 2, delay_s=50.0))
        groups = {(g.kind, g.status): g for g in tx.job_groups()}
    assert set(groups) == {("resync", "succeeded"), ("resync", "dead"), ("retrain", "queued")}
    assert (groups["resync", "succeeded"].attempts, groups["resync", "succeeded"].failed_attempts) \
        == (2, 1)
    assert groups["resync", "dead"].failed_attempts == 1
    queued = groups["retrain", "queued"]
    assert (queued.count, queued.attempts, queued.failed_attempts) == (2, 0, 0)
    assert 49 < queued.earliest_run_after - time.time() < 51  # due in 50 s, not in 100 s


def test_failed_attempts_only_grow_through_a_job_life() -> None:
    # queued (attempts 0) → running (1) → queued after a failure (1) → running (2) → succeeded
    life = [("queued", 0), ("running", 1), ("queued", 1), ("running", 2), ("succeeded", 2)]
    failed = [JobGroup("k", status, 1, attempts, 0.0).failed_attempts for status, attempts in life]
    assert failed == [0, 0, 1, 1, 1]


def test_job_durations_bucket_the_last_attempt(storage: Storage) -> None:
    runs = {JobKind.EMBED: [(100.0, 100.3), (100.0, 107.0), (100.0, 4100.0)],
            JobKind.PUBLISH: [(10.0, 12.0)]}
    with storage.write() as tx:
        for kind, times in runs.items():
            for started, finished in times:
                jid, _ = tx.enqueue(JobSpec(kind, 1))
                tx.claim("w", lease_s=60)
                tx.finish_job(jid)
                tx.conn.execute(sa.update(t.jobs).where(t.jobs.c.id == jid).values(
                    started_at=started, finished_at=finished))
        tx.enqueue(JobSpec(JobKind.EMBED, 1))  # queued: not finished, not timed
        got = {(d.kind, d.status): d for d in tx.job_durations([1.0, 10.0, 3600.0])}
    assert set(got) == {("embed", "succeeded"), ("publish", "succeeded")}
    embed = got["embed", "succeeded"]
    assert (embed.count, embed.cumulative) == (3, (1, 2, 2))
    assert abs(embed.sum_s - (0.3 + 7.0 + 4000.0)) < 1e-6
    assert got["publish", "succeeded"].cumulative == (0, 1, 1)


def test_jobs_finished_before_started_at_existed_are_not_timed(storage: Storage) -> None:
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
        tx.claim("w", lease_s=60)
        tx.finish_job(jid)
        tx.conn.execute(sa.update(t.jobs).values(started_at=None))
        assert tx.job_durations([1.0]) == []


def test_llm_usage_groups_sum_per_endpoint_model_purpose_status(storage: Storage) -> None:
    with storage.write() as tx:
        tx.add_llm_calls([
            LlmCall("e1", "m", "label", "ok", 10, 2, 0.5, latency_s=1.0),
            LlmCall("e1", "m", "label", "ok", 20, 4, 1.0, latency_s=0.5),
            LlmCall("e1", "m", "label", "error", error="HTTP 500", latency_s=0.25),
            LlmCall("e2", "m", "probe", "ok", 3, 1, 0.25, latency_s=0.125),
        ])
        got = sorted(tx.llm_usage_groups(), key=lambda g: (g.endpoint, g.status))
    assert got == [
        LlmUsageGroup("e1", "m", "label", "error", 1, 0, 0, 0.0, 0.25),
        LlmUsageGroup("e1", "m", "label", "ok", 2, 30, 6, 1.5, 1.5),
        LlmUsageGroup("e2", "m", "probe", "ok", 1, 3, 1, 0.25, 0.125),
    ]


def test_model_summaries_count_versions_and_find_the_published_one(storage: Storage) -> None:
    with storage.write() as tx:
        for pid in (1, 2, 3):
            tx.save_project(pid, title=f"p{pid}")
        tx.add_model_version(1, "lab-1", kind="retrain")
        tx.add_model_version(1, "lab-2", kind="retrain")
        tx.add_model_version(1, "lab-3", kind="queue")
        tx.mark_version(1, "lab-3", published=True)
        tx.save_project(1, published_version="lab-3")
        tx.save_project(2, published_version="set-by-hand")  # no version record
        published_at = tx.get_model_version(1, "lab-3").published_at  # type: ignore[union-attr]
        got = tx.model_summaries()
    assert published_at is not None
    assert got == [ProjectModels(1, {"retrain": 2, "queue": 1}, "lab-3", published_at),
                   ProjectModels(2, {}, "set-by-hand", None)]


def test_migration_6_adds_started_at_to_an_older_jobs_table(any_url: str) -> None:
    again = reopened_after(any_url, "DELETE FROM schema_version WHERE version = 6",
                           "ALTER TABLE jobs DROP COLUMN started_at")
    assert again.applied_migrations == [6]
    with again.write() as tx:
        tx.enqueue(JobSpec(JobKind.EMBED, 1))
        assert tx.claim("w", lease_s=60).started_at is not None  # type: ignore[union-attr]
    again.close()
