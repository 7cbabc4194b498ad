"""The jobs table: enqueue with dedupe, atomic claim, leases, retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from labelloop.jobs.types import Job, JobKind, JobSpec, JobStatus
from labelloop.storage import tables as t
from labelloop.storage.records_ops import JobDurations, JobGroup
from labelloop.storage.sql_util import chunks, inserted_id, now

_J = t.jobs.c
CLAIM_LOCK = 0x6C6C6F6F  # PostgreSQL advisory lock key of job claims ("lloo")


def db_now(conn: sa.Connection) -> sa.ColumnElement[float]:
    """The database server's clock as Unix seconds. Leases are set and checked against it, so a
    worker whose host clock runs late by more than a lease (45 s) cannot have its live jobs taken
    away by a scheduler on another host: on SQLite every process reads the same host's clock."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


def _job(row: sa.Row) -> Job:
    return Job(
        id=row.id, kind=JobKind(row.kind), project_id=row.project_id, payload=row.payload or {},
        status=JobStatus(row.status), dedupe_key=row.dedupe_key, serial_key=row.serial_key,
        attempts=row.attempts, max_attempts=row.max_attempts, run_after=row.run_after,
        last_error=row.last_error, created_at=row.created_at, finished_at=row.finished_at,
        progress=row.progress, locked_by=row.locked_by, started_at=row.started_at,
    )


class JobsTx:
    conn: sa.Connection

    def enqueue(self, spec: JobSpec) -> tuple[int, bool]:
        """Queue a job; return ``(job_id, created)``.

        With a ``dedupe_key`` that a queued job already holds, nothing is added and that job's id
        is returned (``created=False``); if the new spec is due earlier, the queued job is made
        due then (so "retrain in 5 s" followed by "retrain now" means now). A job with the key that is already *running* does not
        count: the new one is queued, so a change that arrives mid-run is not missed.
        """
        ts = now()
        if spec.dedupe_key is not None:
            self._lock_keys([spec.dedupe_key])
            row = self.conn.execute(sa.select(_J.id, _J.run_after).where(
                _J.dedupe_key == spec.dedupe_key, _J.status == JobStatus.QUEUED.value)).first()
            if row is not None:
                if ts + spec.delay_s < row.run_after:  # the earliest due time wins
                    self.conn.execute(sa.update(t.jobs).where(_J.id == row.id).values(
                        run_after=ts + spec.delay_s, updated_at=ts))
                return int(row.id), False
        res = self.conn.execute(sa.insert(t.jobs).values(
            kind=spec.kind.value, project_id=spec.project_id, payload=spec.payload,
            status=JobStatus.QUEUED.value, dedupe_key=spec.dedupe_key,
            serial_key=spec.serial_key, attempts=0, max_attempts=spec.max_attempts,
            run_after=ts + spec.delay_s, created_at=ts, updated_at=ts))
        return inserted_id(res), True

    def _lock_keys(self, keys: list[str]) -> None:
        """On PostgreSQL, hold a transaction advisory lock per dedupe key (in sorted order, so two
        transactions never wait on each other crosswise): under READ COMMITTED two enqueues of one
        key would otherwise both see no queued job and both insert. SQLite writers are already
        serialised (BEGIN IMMEDIATE)."""
        if self.conn.dialect.name != "postgresql":
            return
        for key in sorted(set(keys)):
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.func.hashtextextended(key, 0))))

    def claim(self, worker_id: str, *, lease_s: float,
              kinds: list[JobKind] | None = None) -> Job | None:
        """Take the next due job for ``worker_id``, or None. Atomic within the write transaction.

        A job whose ``serial_key`` is held by a running job waits its turn. On PostgreSQL claims
        are serialised by a transaction advisory lock (a claim takes a few ms), so two workers
        never both see a serial key free; rows an enqueue holds are skipped until it commits.
        """
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK)))
        ts = now()
        running_serial = sa.select(_J.serial_key).where(
            _J.status == JobStatus.RUNNING.value, _J.serial_key.is_not(None))
        q = sa.select(_J.id).where(
            _J.status == JobStatus.QUEUED.value, _J.run_after <= ts,
            sa.or_(_J.serial_key.is_(None), _J.serial_key.not_in(running_serial)),
        ).order_by(_J.run_after, _J.id).limit(1)
        if kinds:
            q = q.where(_J.kind.in_([k.value for k in kinds]))
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        row = self.conn.execute(q).first()
        if row is None:
            return None
        self.conn.execute(sa.update(t.jobs).where(
            _J.id == row.id, _J.status == JobStatus.QUEUED.value
        ).values(status=JobStatus.RUNNING.value, attempts=_J.attempts + 1, locked_by=worker_id,
                 lease_until=db_now(self.conn) + lease_s, started_at=ts, updated_at=ts))
        return self.get_job(int(row.id))

    def get_job(self, job_id: int) -> Job | None:
        row = self.conn.execute(sa.select(t.jobs).where(_J.id == job_id)).first()
        return _job(row) if row else None

    def _owned(self, job_id: int, owner: str | None) -> sa.ColumnElement[bool]:
        """The row of ``job_id``; with ``owner``, only while that worker still runs it (a job
        handed to another worker after a lost lease is no longer the first worker's to close)."""
        cond = _J.id == job_id
        if owner is not None:
            cond = sa.and_(cond, _J.status == JobStatus.RUNNING.value, _J.locked_by == owner)
        return cond

    def finish_job(self, job_id: int, *, owner: str | None = None) -> bool:
        """Mark the job succeeded; False (nothing changed) when ``owner`` no longer runs it."""
        ts = now()
        res = self.conn.execute(sa.update(t.jobs).where(self._owned(job_id, owner)).values(
            status=JobStatus.SUCCEEDED.value, finished_at=ts, updated_at=ts, lease_until=None))
        return res.rowcount > 0

    def fail_job(self, job_id: int, error: str, *, retry_at: float | None,
                 owner: str | None = None) -> JobStatus:
        """Record a failure: requeue at ``retry_at``, or mark the job dead when None.

        When a newer job with the same dedupe key is already queued, this one is marked
        superseded instead of requeued (the queued one will do the same work). With ``owner``
        and the job no longer run by that worker, nothing changes and its status is returned.
        """
        ts = now()
        job = self.get_job(job_id)
        if job is None:
            return JobStatus.DEAD
        if owner is not None and (job.status is not JobStatus.RUNNING or job.locked_by != owner):
            return job.status
        status = JobStatus.DEAD
        if retry_at is not None:
            status = JobStatus.QUEUED
            if job.dedupe_key is not None:
                self._lock_keys([job.dedupe_key])
            if job.dedupe_key is not None and self.conn.execute(sa.select(_J.id).where(
                    _J.dedupe_key == job.dedupe_key, _J.status == JobStatus.QUEUED.value,
                    _J.id != job_id)).first():
                status = JobStatus.SUPERSEDED
        res = self.conn.execute(sa.update(t.jobs).where(self._owned(job_id, owner)).values(
            status=status.value, last_error=error[:4000], updated_at=ts, lease_until=None,
            run_after=retry_at if retry_at is not None else job.run_after,
            finished_at=None if status is JobStatus.QUEUED else ts))
        if res.rowcount == 0:  # taken over between the read and the update
            current = self.get_job(job_id)
            return current.status if current else JobStatus.DEAD
        return status

    def extend_lease(self, job_id: int, *, lease_s: float,
                     progress: dict[str, Any] | None = None, owner: str | None = None) -> bool:
        """Extend a running job's lease (and record progress); False when the job no longer
        runs (under ``owner``, when given): its lease ran out and the queue took it back."""
        ts = now()
        values: dict[str, Any] = {"lease_until": db_now(self.conn) + lease_s, "updated_at": ts}
        if progress is not None:
            values["progress"] = progress
        res = self.conn.execute(sa.update(t.jobs).where(
            self._owned(job_id, owner), _J.status == JobStatus.RUNNING.value).values(**values))
        return res.rowcount > 0

    def requeue_expired(self) -> int:
        """Running jobs whose lease ran out (their worker died) go back to the queue."""
        owners = {int(r.id): r.locked_by or "" for r in self.conn.execute(
            sa.select(_J.id, _J.locked_by).where(
                _J.status == JobStatus.RUNNING.value, _J.lease_until < db_now(self.conn)))}
        return self.requeue_running(owners, reason="lease expired: the worker running it stopped")

    def running_locks(self) -> dict[int, str]:
        """``{job id: locked_by}`` of the running jobs."""
        return {int(r.id): r.locked_by or "" for r in self.conn.execute(
            sa.select(_J.id, _J.locked_by).where(_J.status == JobStatus.RUNNING.value))}

    def requeue_running(self, owners: Mapping[int, str], *, reason: str) -> int:
        """Put running jobs back in the queue (dead when out of attempts): their worker is gone.

        ``owners`` maps each job id to the ``locked_by`` its caller saw: a job is requeued only
        while that same worker still holds it. Another worker may have requeued it and a third
        claimed it since the caller looked (under READ COMMITTED each statement sees the latest
        commit); requeueing it again would free its serial key while it runs. One whose dedupe
        key a queued job already holds is superseded by it instead (jobs are idempotent: the
        queued one does the same work, with newer inputs)."""
        ts = now()
        n = 0
        for chunk in chunks(list(owners)):
            rows = self.conn.execute(sa.select(
                _J.id, _J.attempts, _J.max_attempts, _J.dedupe_key, _J.locked_by).where(
                _J.id.in_(chunk), _J.status == JobStatus.RUNNING.value)).all()
            rows = [r for r in rows if (r.locked_by or "") == owners[r.id]]
            keys = [r.dedupe_key for r in rows if r.dedupe_key is not None]
            self._lock_keys(keys)
            taken = {k for (k,) in self.conn.execute(sa.select(_J.dedupe_key).where(
                _J.dedupe_key.in_(keys), _J.status == JobStatus.QUEUED.value))} if keys else set()
            for row in rows:
                if row.dedupe_key in taken:
                    status = JobStatus.SUPERSEDED
                elif row.attempts >= row.max_attempts:
                    status = JobStatus.DEAD
                else:
                    status = JobStatus.QUEUED
                res = self.conn.execute(sa.update(t.jobs).where(
                    _J.id == row.id, _J.status == JobStatus.RUNNING.value,
                    _J.locked_by.is_not_distinct_from(row.locked_by)).values(
                    status=status.value, last_error=reason, lease_until=None, locked_by=None,
                    updated_at=ts, finished_at=None if status is JobStatus.QUEUED else ts))
                n += res.rowcount
        return n

    def job_counts(self, project_id: int | None = None) -> dict[str, dict[str, int]]:
        """``{kind: {status: count}}``."""
        q = sa.select(_J.kind, _J.status, sa.func.count()).group_by(_J.kind, _J.status)
        if project_id is not None:
            q = q.where(_J.project_id == project_id)
        out: dict[str, dict[str, int]] = {}
        for kind, status, n in self.conn.execute(q):
            out.setdefault(kind, {})[status] = n
        return out

    def job_groups(self) -> list[JobGroup]:
        """Count, claims and earliest due time of the jobs of each (kind, status)."""
        q = sa.select(_J.kind, _J.status, sa.func.count(), sa.func.sum(_J.attempts),
                      sa.func.min(_J.run_after)).group_by(_J.kind, _J.status)
        return [JobGroup(kind=kind, status=status, count=int(n), attempts=int(attempts or 0),
                         earliest_run_after=float(due))
                for kind, status, n, attempts, due in self.conn.execute(q)]

    def job_durations(self, bounds: Sequence[float]) -> list[JobDurations]:
        """Run times of the finished jobs of each (kind, status), counted cumulatively at each of
        ``bounds`` (seconds, ascending), in one pass over the table."""
        took = _J.finished_at - _J.started_at
        within = [sa.func.sum(sa.case((took <= float(b), 1), else_=0)) for b in bounds]
        q = sa.select(_J.kind, _J.status, sa.func.count(), sa.func.sum(took), *within).where(
            _J.started_at.is_not(None), _J.finished_at.is_not(None)).group_by(_J.kind, _J.status)
        return [JobDurations(kind=row[0], status=row[1], count=int(row[2]),
                             sum_s=float(row[3] or 0.0),
                             cumulative=tuple(int(n or 0) for n in row[4:]))
                for row in self.conn.execute(q)]

    def list_jobs(self, *, project_id: int | None = None, status: JobStatus | None = None,
                  limit: int = 50) -> list[Job]:
        q = sa.select(t.jobs).order_by(_J.id.desc()).limit(limit)
        if project_id is not None:
            q = q.where(_J.project_id == project_id)
        if status is not None:
            q = q.where(_J.status == status.value)
        return [_job(r) for r in self.conn.execute(q)]
