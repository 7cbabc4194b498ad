from __future__ import annotations

import os
import subprocess
import sys
import time

from labelloop.errors import PermanentJobError
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker, WorkerPool
from labelloop.labelstudio.access import GatewayProvider
from labelloop.storage.base import Storage


def make_worker(storage: Storage, settings, handlers) -> Worker:
    return Worker(storage, settings, handlers, gateways=GatewayProvider(settings),
                  worker_id="test")


def test_success_marks_job_succeeded_and_passes_context(storage, settings) -> None:
    seen: list[JobContext] = []
    w = make_worker(storage, settings, {JobKind.EMBED: seen.append})
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 3, payload={"x": 1}))
    assert w.run_once() is not None and w.run_once() is None
    assert seen[0].job.payload == {"x": 1} and seen[0].job.project_id == 3
    with storage.read() as tx:
        assert tx.get_job(jid).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_failure_retries_with_backoff_then_dies(storage, settings) -> None:
    calls = []

    def flaky(ctx: JobContext) -> None:
        calls.append(ctx.job.attempts)
        raise RuntimeError("label studio down")

    w = make_worker(storage, settings, {JobKind.EMBED: flaky})
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
    before = time.time()
    w.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job is not None and job.status is JobStatus.QUEUED
    assert job.run_after >= before + 0.5 and "label studio down" in (job.last_error or "")
    for _ in range(job.max_attempts - 1):  # make it due again each time
        with storage.write() as tx:
            tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0")
        w.run_once()
    with storage.read() as tx:
        assert tx.get_job(jid).status is JobStatus.DEAD  # type: ignore[union-attr]
    assert calls == list(range(1, job.max_attempts + 1))


def test_a_run_whose_job_was_handed_to_another_worker_leaves_it_to_that_worker(
        storage, settings, caplog) -> None:
    """The lease ran out mid-run (a long pause), the job was requeued and claimed by another
    worker: the first run's end, success or failure, must not close the second one's job."""
    outcomes = iter([None, RuntimeError("late failure")])

    def slow(ctx: JobContext) -> None:
        with storage.write() as tx:
            assert tx.requeue_running({ctx.job.id: "test"}, reason="lease expired") == 1
            assert tx.claim("other:2:x:0", lease_s=600).id == ctx.job.id  # type: ignore[union-attr]
        ctx.progress(step="late")  # the first run's progress no longer lands either
        if (exc := next(outcomes)) is not None:
            raise exc

    w = make_worker(storage, settings, {JobKind.EMBED: slow})
    for _ in range(2):
        with storage.write() as tx:
            jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
        w.run_once()
        with storage.read() as tx:
            job = tx.get_job(jid)
        assert job is not None and job.status is JobStatus.RUNNING
        assert job.locked_by == "other:2:x:0" and job.progress != {"step": "late"}
    assert "after it was handed back to the queue" in caplog.text


def test_permanent_error_dies_at_once(storage, settings) -> None:
    def bad(ctx: JobContext) -> None:
        raise PermanentJobError("no project id")

    w = make_worker(storage, settings, {JobKind.EMBED: bad})
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
    w.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job.status is JobStatus.DEAD and job.attempts == 1  # type: ignore[union-attr]


def test_jobs_without_a_handler_are_left_queued(storage, settings) -> None:
    w = make_worker(storage, settings, {JobKind.EMBED: lambda ctx: None})
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.PRELABEL, 1))
    assert w.run_once() is None


def test_pool_runs_jobs_in_threads_and_wakes_on_enqueue(storage, settings) -> None:
    done: list[int] = []
    settings = settings.model_copy(update={"job_poll_interval_s": 30.0})
    pool = WorkerPool(storage, settings, {JobKind.EMBED: lambda c: done.append(c.job.id)},
                      gateways=GatewayProvider(settings), threads=2)
    pool.start()
    try:
        with storage.write() as tx:
            ids = [tx.enqueue(JobSpec(JobKind.EMBED, 1, payload={"i": i}))[0] for i in range(5)]
        pool.wake()  # without the wake-up, a 30 s poll interval would make this time out
        deadline = time.time() + 10
        while len(done) < 5 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        pool.stop()
    assert sorted(done) == ids


def test_periodic_resync_enqueues_for_projects_with_credentials(storage, tmp_path) -> None:
    from tests.conftest import make_settings
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 8)
    with storage.write() as tx:
        tx.save_project(1)
        tx.save_project(2)
    pool = WorkerPool(storage, s, {}, gateways=GatewayProvider(s), threads=1)
    assert pool.enqueue_periodic_resync() == 2
    assert pool.enqueue_periodic_resync() == 2  # deduped while queued
    with storage.read() as tx:
        assert tx.job_counts() == {"resync": {"queued": 2}}


def test_separate_worker_process_claims_jobs(settings, storage) -> None:
    """`labelloop worker` runs jobs from the same database as the API process."""
    with storage.write() as tx:
        tx.save_project(1)
        jid, _ = tx.enqueue(JobSpec(JobKind.CLEANUP_VERSIONS, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO"))}
    env["LABELLOOP_DATABASE_URL"] = storage.url  # the same database, SQLite or PostgreSQL
    proc = subprocess.Popen([sys.executable, "-m", "labelloop.cli.main", "worker",
                             "--data-dir", str(settings.data_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        status = JobStatus.QUEUED
        while time.time() < deadline and status in (JobStatus.QUEUED, JobStatus.RUNNING):
            time.sleep(0.2)
            with storage.read() as tx:
                status = tx.get_job(jid).status  # type: ignore[union-attr]
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0]
    # no Label Studio credentials: the job is claimed, run, and dies with the reason
    assert status is JobStatus.DEAD, out
    with storage.read() as tx:
        assert "LABEL_STUDIO_URL" in (tx.get_job(jid).last_error or "")  # type: ignore[union-attr]
    assert proc.returncode == 0


def test_orphans_are_jobs_of_dead_processes_on_this_host_only() -> None:
    from labelloop.jobs.worker import orphaned

    locks = {1: "h:100:aaa:0", 2: "h:200:bbb:1", 3: "other:100:ccc:0", 4: "h:300:old:0",
             5: "h:300:now:0", 6: "legacy-id", 7: "h:x:y:0"}
    alive = {100: True, 200: False}
    got = orphaned(locks, host="h", pid=300, incarnation="now", alive=lambda p: alive[p])
    # 2: its pid is gone; 4: this pid, but a previous incarnation (a restarted container)
    assert sorted(got) == [2, 4]


def test_pool_requeues_what_a_killed_process_left_running(storage, settings) -> None:
    import socket

    from labelloop.jobs.triggers import resync_spec

    with storage.write() as tx:
        job_id, _ = tx.enqueue(resync_spec(1))
        tx.claim(f"{socket.gethostname()}:{2**22 + 12345}:dead:0", lease_s=600)
    pool = WorkerPool(storage, settings, {}, gateways=GatewayProvider(settings), threads=1)
    assert pool.requeue_orphans() == 1
    with storage.read() as tx:
        job = tx.get_job(job_id)
    assert job.status is JobStatus.QUEUED and "died" in (job.last_error or "")
    assert pool.requeue_orphans() == 0


def test_a_requeued_job_gives_way_to_a_queued_one_with_its_dedupe_key(storage) -> None:
    from labelloop.jobs.triggers import resync_spec

    with storage.write() as tx:
        running, _ = tx.enqueue(resync_spec(1))
        tx.claim("h:1:a:0", lease_s=600)
        queued, created = tx.enqueue(resync_spec(1))  # a change arrived while it ran
        assert created
        assert tx.requeue_running({running: "h:1:a:0"}, reason="its worker process died") == 1
        assert tx.get_job(running).status is JobStatus.SUPERSEDED
        assert tx.get_job(queued).status is JobStatus.QUEUED


EXTERNAL_WORKER = """
import sys, threading, time
from labelloop.jobs.types import JobKind
from labelloop.jobs.worker import WorkerPool
from labelloop.labelstudio.access import GatewayProvider
from labelloop.settings import Settings
from labelloop.storage.base import open_storage

settings = Settings(_env_file=None)
storage = open_storage(settings.resolved_database_url)
pool = WorkerPool(storage, settings, {JobKind.EMBED: lambda ctx: time.sleep(600)},
                  gateways=GatewayProvider(settings), threads=1)
pool.start()
print("started", flush=True)
threading.Event().wait()
"""


def test_a_job_of_a_worker_killed_on_another_host_runs_again_within_the_lease(
        storage, settings) -> None:
    """An external worker (its own process and lease, another host id) is killed with -9
    mid-job: a worker here leaves the job alone while its heartbeats come, then runs it within
    lease + scheduler tick + poll of the kill."""
    from labelloop.jobs.worker import schedule_tick

    lease, poll = 3.0, 0.2
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO"))}
    env.update(LABELLOOP_DATABASE_URL=storage.url, LABELLOOP_WORKER_HOST="host-a",
               LABELLOOP_JOB_LEASE_S=str(lease), LABELLOOP_JOB_HEARTBEAT_S="0.5",
               LABELLOOP_JOB_POLL_INTERVAL_S=str(poll), LABELLOOP_RESYNC_ON_START="false",
               LABELLOOP_DATA_DIR=str(settings.data_dir / "a"))
    proc = subprocess.Popen([sys.executable, "-c", EXTERNAL_WORKER], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ran: list[tuple[str, float]] = []
    here = settings.model_copy(update={"worker_host": "host-b", "job_lease_s": lease,
                                       "job_poll_interval_s": poll, "resync_on_start": False})
    pool = WorkerPool(storage, here, {JobKind.EMBED: lambda c: ran.append(
        (c.job.locked_by or "", time.monotonic()))}, gateways=GatewayProvider(here), threads=1)
    try:
        deadline = time.time() + 60
        job = None
        while time.time() < deadline:
            with storage.read() as tx:
                job = tx.get_job(jid)
            if job is not None and job.status is JobStatus.RUNNING:
                break
            time.sleep(0.1)
        assert job is not None and (job.locked_by or "").startswith("host-a:"), proc.poll()
        pool.start()
        time.sleep(2.5 * lease)  # the external worker's heartbeats keep its job
        with storage.read() as tx:
            job = tx.get_job(jid)
        assert job.status is JobStatus.RUNNING and job.locked_by.startswith("host-a:")  # type: ignore[union-attr]
        assert not ran
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait(timeout=10)
        killed = time.monotonic()
        while not ran and time.monotonic() - killed < 4 * lease:
            time.sleep(0.05)
    finally:
        pool.stop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    assert ran and ran[0][0].startswith("host-b:")
    took = ran[0][1] - killed
    assert took <= lease + schedule_tick(here) + poll + 1.0, took
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2  # type: ignore[union-attr]


def test_heartbeat_every_10_s_within_a_45_s_lease_by_default(settings) -> None:
    from labelloop.jobs.worker import heartbeat_interval, schedule_tick

    assert (settings.job_lease_s, heartbeat_interval(settings)) == (45.0, 10.0)
    # a dead worker's job is looked for at most lease + tick after its last heartbeat
    assert settings.job_lease_s + schedule_tick(settings) + settings.job_poll_interval_s <= 60
    short = settings.model_copy(update={"job_lease_s": 3.0})
    assert heartbeat_interval(short) == 1.0  # never more than a third of the lease


def test_a_heartbeat_that_finds_its_job_taken_back_stops_and_says_so(
        storage, settings, caplog) -> None:
    """The lease ran out (a long pause), another worker claimed the job: the first worker's
    heartbeat must not extend the new run's lease, and stops."""
    short = settings.model_copy(update={"job_lease_s": 0.6})  # a beat every 0.2 s

    def slow(ctx: JobContext) -> None:
        with storage.write() as tx:
            assert tx.requeue_running({ctx.job.id: "test"}, reason="lease expired") == 1
            assert tx.claim("other:2:x:0", lease_s=600).id == ctx.job.id  # type: ignore[union-attr]
        time.sleep(1.0)

    w = make_worker(storage, short, {JobKind.EMBED: slow})
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.EMBED, 1))
    w.run_once()
    assert "its lease had run out and the queue took it back" in caplog.text
    assert caplog.text.count("its lease had run out") == 1  # it stopped beating
    with storage.read() as tx:
        assert tx.get_job(jid).locked_by == "other:2:x:0"  # type: ignore[union-attr]
