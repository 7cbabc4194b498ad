"""Running jobs: a worker claims one job at a time from storage and runs its handler.

:class:`WorkerPool` runs ``n`` workers in threads (inside the API process by default, or in a
separate ``labelloop worker`` process) plus a scheduler thread that returns jobs of dead workers
to the queue (expired leases) and enqueues the periodic resync. Nothing here is global: a pool is
built from settings and stopped explicitly.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Mapping

from labelloop.errors import PermanentJobError
from labelloop.jobs.context import Handler, JobContext
from labelloop.jobs.triggers import resync_spec
from labelloop.jobs.types import POLICIES, Job, JobKind, JobStatus
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, storage: Storage, settings: Settings, handlers: Mapping[JobKind, Handler],
                 *, gateways: GatewayProvider, worker_id: str | None = None,
                 wake: threading.Event | None = None, rng: random.Random | None = None,
                 resources: Resources | None = None) -> None:
        self.storage = storage
        self.settings = settings
        self.handlers = dict(handlers)
        self.gateways = gateways
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
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
        except Exception as exc:  # every failure is recorded; none escapes the worker
            self._failed(job, exc)
        else:
            with self.storage.write() as tx:
                tx.finish_job(job.id)
            log.info("job %s %s (project %s) done in %.2fs", job.id, job.kind.value,
                     job.project_id, time.perf_counter() - started)
        finally:
            done.set()

    def _failed(self, job: Job, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        retry_at = None
        if not isinstance(exc, PermanentJobError) and job.attempts < job.max_attempts:
            retry_at = time.time() + POLICIES[job.kind].delay(job.attempts, self.rng.random())
        with self.storage.write() as tx:
            status = tx.fail_job(job.id, message, retry_at=retry_at)
        level = logging.WARNING if status is JobStatus.QUEUED else logging.ERROR
        log.log(level, "job %s %s (project %s) failed, attempt %d/%d, now %s: %s",
                job.id, job.kind.value, job.project_id, job.attempts, job.max_attempts,
                status.value, message, exc_info=not isinstance(exc, PermanentJobError))

    def _heartbeat(self, job_id: int, done: threading.Event) -> None:
        interval = max(0.5, self.settings.job_lease_s / 3)
        while not done.wait(interval):
            try:
                with self.storage.write() as tx:
                    tx.extend_lease(job_id, lease_s=self.settings.job_lease_s)
            except Exception:  # a missed beat only shortens the lease
                log.warning("could not extend the lease of job %s", job_id, exc_info=True)

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
        base = f"{socket.gethostname()}:{os.getpid()}"
        self.resources = resources or Resources(settings)
        self.workers = [Worker(storage, settings, handlers, gateways=gateways,
                               worker_id=f"{base}:{i}", wake=self.wake_event,
                               resources=self.resources) for i in range(n)]
        self._threads: list[threading.Thread] = []
        self.name = name

    def wake(self) -> None:
        self.wake_event.set()

    def start(self) -> None:
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
        while not self.stop_event.wait(min(30.0, self.settings.job_lease_s / 4)):
            try:
                with self.storage.write() as tx:
                    if tx.requeue_expired():
                        self.wake()
                interval = self.settings.resync_interval_s
                if interval and time.monotonic() - last_resync >= interval:
                    last_resync = time.monotonic()
                    self.enqueue_periodic_resync()
            except Exception:
                log.exception("scheduler tick failed")

    def enqueue_periodic_resync(self) -> int:
        with self.storage.write() as tx:
            projects = [p for p in tx.list_projects() if self.gateways.credentials(p)]
            for p in projects:
                tx.enqueue(resync_spec(p.id))
        if projects:
            self.wake()
        return len(projects)
