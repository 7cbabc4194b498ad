"""Running jobs: a worker claims one job at a time from storage and runs its handler.

:class:`WorkerPool` runs ``n`` workers in threads (inside the API process by default, or in a
separate ``labelloop worker`` process) plus a scheduler thread that returns jobs of dead workers
to the queue (expired leases, and at once those of a dead process on this host) and enqueues the
periodic resync and retention. Nothing here is global: a pool is built from settings and stopped
explicitly.

Leases: a running job's lease (``job_lease_s``, 45 s) is extended every ``job_heartbeat_s``
(10 s) by a thread of its own; the scheduler looks for expired leases every
:func:`schedule_tick` (5 s), so a job of a worker that died on another host runs again within
lease + tick + poll. The worst heartbeat gap measured under load is in docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Mapping

from labelloop.errors import PermanentJobError
from labelloop.jobs.context import Handler, JobContext
from labelloop.jobs.retention import retention_spec
from labelloop.jobs.triggers import resync_spec
from labelloop.jobs.types import POLICIES, Job, JobKind, JobStatus
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage

log = logging.getLogger(__name__)

RETENTION_FIRST_S = 300.0  # the first retention run, after a pool starts


def host_id(settings: Settings) -> str:
    """The host part of this process's worker ids."""
    return settings.worker_host or socket.gethostname()


def heartbeat_interval(settings: Settings) -> float:
    """Seconds between lease extensions: ``job_heartbeat_s``, at most a third of the lease."""
    return min(settings.job_heartbeat_s, settings.job_lease_s / 3)


def schedule_tick(settings: Settings) -> float:
    """Seconds between the scheduler's looks for expired leases and dead local processes."""
    return min(5.0, settings.job_lease_s / 4)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def orphaned(locks: Mapping[int, str], *, host: str, pid: int, incarnation: str,
             alive=pid_alive) -> list[int]:  # noqa: ANN001
    """Running jobs whose worker process is known dead: ``locked_by`` is
    ``host:pid:incarnation:n``; on this host, a pid that no longer runs, or this very pid with
    another incarnation (a restarted container's process often gets its old pid back). Jobs of
    other hosts wait for their lease to expire."""
    out = []
    for job_id, owner in locks.items():
        parts = owner.split(":")
        if len(parts) < 4 or parts[0] != host or not parts[1].isdigit():
            continue
        other = int(parts[1])
        if (other == pid and parts[2] != incarnation) or (other != pid and not alive(other)):
            out.append(job_id)
    return out


class Worker:
    def __init__(self, storage: Storage, settings: Settings, handlers: Mapping[JobKind, Handler],
                 *, gateways: GatewayProvider, worker_id: str | None = None,
                 wake: threading.Event | None = None, rng: random.Random | None = None,
                 resources: Resources | None = None) -> None:
        self.storage = storage
        self.settings = settings
        self.handlers = dict(handlers)
        self.gateways = gateways
        self.worker_id = worker_id or \
            f"{host_id(settings)}:{os.getpid()}:{uuid.uuid4().hex[:12]}:0"
        self.wake_event = wake or threading.Event()
        self.rng = rng or random.Random()
        self.resources = resources or Resources(settings)

    def wake(self) -> None:
        self.wake_event.set()

    def run_once(self) -> Job | None:
        """Claim and run one due job; return it (as claimed), or None when nothing is due."""
        with self.storage.write() as tx:
            job = tx.claim(self.worker_id, lease_s=self.settings.job_lease_s,
                           kinds=list(self.handlers))
        if job is None:
            return None
        self._run(job)
        return job

    def _run(self, job: Job) -> None:
        ctx = JobContext(job, self.storage, self.settings, self.gateways, self.wake,
                         self.resources)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, done), daemon=True)
        beat.start()
        started = time.perf_counter()
        try:
            self.handlers[job.kind](ctx)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded; none escapes the worker
            self._failed(job, exc)
        else:
            with self.storage.write() as tx:
                owned = tx.finish_job(job.id, owner=self.worker_id)
            if owned:
                log.info("job %s %s (project %s) done in %.2fs", job.id, job.kind.value,
                         job.project_id, time.perf_counter() - started)
            else:  # its lease ran out meanwhile: the queue gave it to another run (idempotent)
                log.warning("job %s %s (project %s) done in %.2fs, after it was handed back to "
                            "the queue; that run stands", job.id, job.kind.value,
                            job.project_id, time.perf_counter() - started)
        finally:
            done.set()

    def _failed(self, job: Job, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        retry_at = None
        if not isinstance(exc, PermanentJobError) and job.attempts < job.max_attempts:
            retry_at = time.time() + POLICIES[job.kind].delay(
                job.attempts, self.rng.random()) * self.settings.job_backoff_scale
        with self.storage.write() as tx:
            status = tx.fail_job(job.id, message, retry_at=retry_at, owner=self.worker_id)
        level = logging.WARNING if status is JobStatus.QUEUED else logging.ERROR
        log.log(level, "job %s %s (project %s) failed, attempt %d/%d, now %s: %s",
                job.id, job.kind.value, job.project_id, job.attempts, job.max_attempts,
                status.value, message, exc_info=not isinstance(exc, PermanentJobError))

    def _heartbeat(self, job_id: int, done: threading.Event) -> None:
        """Extend the lease every :func:`heartbeat_interval` until ``done``. A beat that comes
        later than half the lease is logged (the lease is then at risk of running out on a live
        worker); each gap is on the DEBUG record as ``beat_gap_s`` (bench/bench_recovery.py)."""
        lease = self.settings.job_lease_s
        last = time.monotonic()
        while not done.wait(heartbeat_interval(self.settings)):
            try:
                with self.storage.write() as tx:
                    owned = tx.extend_lease(job_id, lease_s=lease, owner=self.worker_id)
            except Exception:  # a missed beat only shortens the lease
                log.warning("could not extend the lease of job %s", job_id, exc_info=True)
                continue
            beat = time.monotonic()
            gap, last = beat - last, beat
            log.debug("job %s: lease extended %.2fs after the previous extension", job_id, gap,
                      extra={"beat_gap_s": gap, "job_id": job_id})
            if gap > lease / 2:
                log.warning("job %s: lease extended %.1fs after the previous extension (lease "
                            "%.0fs): this worker is too busy to keep its leases safe", job_id,
                            gap, lease)
            if not owned:
                log.warning("job %s: its lease had run out and the queue took it back; this "
                            "run goes on, and its end will not be recorded", job_id)
                return

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # storage trouble: wait and try again, never die
                log.exception("worker %s: claiming a job failed", self.worker_id)
                ran = None
            if ran is None:
                self.wake_event.wait(self.settings.job_poll_interval_s)
                self.wake_event.clear()


class WorkerPool:
    """``n`` worker threads sharing one wake-up event, and the scheduler thread."""

    def __init__(self, storage: Storage, settings: Settings, handlers: Mapping[JobKind, Handler],
                 *, gateways: GatewayProvider, threads: int | None = None,
                 name: str = "labelloop", resources: Resources | None = None) -> None:
        self.storage = storage
        self.settings = settings
        self.gateways = gateways
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        n = threads or settings.worker_threads
        self.incarnation = uuid.uuid4().hex[:12]
        base = f"{host_id(settings)}:{os.getpid()}:{self.incarnation}"
        self.resources = resources or Resources(settings)
        self.workers = [Worker(storage, settings, handlers, gateways=gateways,
                               worker_id=f"{base}:{i}", wake=self.wake_event,
                               resources=self.resources) for i in range(n)]
        self._threads: list[threading.Thread] = []
        self.name = name

    def wake(self) -> None:
        self.wake_event.set()

    def start(self) -> None:
        try:
            self.requeue_orphans()  # before any worker claims: their serial keys are held
        except Exception:
            log.exception("requeueing the jobs of dead workers failed")
        for i, w in enumerate(self.workers):
            t = threading.Thread(target=w.run_forever, args=(self.stop_event,),
                                 name=f"{self.name}-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._schedule, name=f"{self.name}-scheduler", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.wake_event.set()
        for t in self._threads:
            t.join(timeout)

    def requeue_orphans(self) -> int:
        """Return to the queue the jobs a dead process on this host left running (at start-up:
        after a crash or ``kill -9``, without waiting ``job_lease_s``)."""
        with self.storage.write() as tx:
            locks = tx.running_locks()
            ids = orphaned(locks, host=host_id(self.settings), pid=os.getpid(),
                           incarnation=self.incarnation)
            n = tx.requeue_running({i: locks[i] for i in ids},
                                   reason="its worker process died") if ids else 0
        if n:
            log.info("requeued %d job(s) left running by a dead worker process", n)
            self.wake()
        return n

    def _schedule(self) -> None:
        # Label Studio never re-sends a webhook: whatever happened while labelloop was down is
        # recovered by resyncing every reachable project as soon as jobs run again.
        if self.settings.resync_on_start:
            try:
                n = self.enqueue_periodic_resync()
                if n:
                    log.info("start-up resync queued for %d project(s)", n)
            except Exception:
                log.exception("start-up resync could not be queued")
        last_resync = time.monotonic()
        keep = self.settings.retention_interval_s
        last_retention = time.monotonic() - max(0.0, keep - RETENTION_FIRST_S)
        while not self.stop_event.wait(schedule_tick(self.settings)):
            try:
                with self.storage.write() as tx:
                    if tx.requeue_expired():
                        self.wake()
                self.requeue_orphans()
                interval = self.settings.resync_interval_s
                if interval and time.monotonic() - last_resync >= interval:
                    last_resync = time.monotonic()
                    self.enqueue_periodic_resync()
                if keep and time.monotonic() - last_retention >= keep:
                    last_retention = time.monotonic()
                    self.enqueue_retention()
            except Exception:
                log.exception("scheduler tick failed")

    def enqueue_retention(self) -> None:
        """One retention job at a time across every process (dedupe and serial key)."""
        with self.storage.write() as tx:
            tx.enqueue(retention_spec())
        self.wake()

    def enqueue_periodic_resync(self) -> int:
        """Resync every project labelloop can reach; and the safety net of the stream's
        outbox: an export for each of them with selected items still waiting (an export job
        that ran out of attempts while Label Studio was down leaves them so), and a deferred
        decision for every project with items still undecided."""
        from labelloop.stream.ingest import stream_decide_spec, stream_export_spec

        with self.storage.write() as tx:
            projects = [p for p in tx.list_projects() if self.gateways.credentials(p)]
            for p in projects:
                tx.enqueue(resync_spec(p.id))
            waiting = set(tx.stream_projects_pending())
            for p in projects:
                if p.id in waiting:
                    tx.enqueue(stream_export_spec(p.id))
            deciding = tx.stream_projects_deciding()
            for pid in deciding:
                tx.enqueue(stream_decide_spec(pid))
        if projects or deciding:
            self.wake()
        return len(projects)
