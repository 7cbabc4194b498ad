"""Retention in SQL: find what may go (read transactions), delete it in bounded batches (short
write transactions), folding what ``/metrics`` counts into ``metric_totals`` first.

Each ``*_expired``/``superseded_*`` method only reads and returns at most ``limit`` keys; each
``delete_*`` method takes those keys and deletes, in one statement, the rows that still qualify
(a finished job stays finished, a superseded LLM label stays superseded), returning what it
deleted so that exactly the deleted rows are folded. Nothing here decides *what* the policy is:
see :mod:`labelloop.storage.retention`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.storage import tables as t
from labelloop.storage.records_ops import JobDurations, LlmUsageGroup
from labelloop.storage.sql_util import chunks, dialect_insert, now
from labelloop.storage.tables_llm import llm_calls, llm_labels
from labelloop.storage.tables_queue import queue_entries
from labelloop.storage.tables_totals import metric_totals

_J = t.jobs.c
_W = t.webhook_events.c
_K = llm_calls.c
_L = llm_labels.c
_Q = queue_entries.c
_V = t.model_versions.c
_T = metric_totals.c

FINISHED = (JobStatus.SUCCEEDED.value, JobStatus.DEAD.value, JobStatus.SUPERSEDED.value)
# Webhook events that are done with (stored and applied, or refused); any other status is kept.
EVENT_DONE = ("applied", "duplicate", "ignored", "invalid")


@dataclass(frozen=True)
class FoldedTotals:
    """What deleted rows had counted: the collector adds these to the live rows' sums."""

    failed_attempts: dict[str, int]  # {kind: claims that did not succeed}
    durations: list[JobDurations]
    llm: list[LlmUsageGroup]


def _key(*labels: object) -> str:
    return json.dumps([str(x) for x in labels], separators=(",", ":"))


def _newest_n(id_col: sa.ColumnElement[int], part: sa.ColumnElement[object],
              where: sa.ColumnElement[bool]) -> sa.Subquery:
    """Ids with their rank among the rows of the same ``part``, newest (highest id) first."""
    rank = sa.func.row_number().over(partition_by=part, order_by=id_col.desc()).label("rank")
    return sa.select(id_col.label("id"), rank).where(where).subquery()


class RetentionTx:
    conn: sa.Connection

    # --- finding what may go (read transactions) -----------------------------------------------
    def expired_job_ids(self, *, before: float, keep_per_project: int, limit: int) -> list[int]:
        """Finished jobs that finished before ``before`` or are beyond the newest
        ``keep_per_project`` finished ones of their project (the oldest first)."""
        done = _J.status.in_(FINISHED)
        ranked = _newest_n(_J.id, _J.project_id, done)
        old = sa.select(_J.id).where(done, _J.finished_at < before)
        many = sa.select(ranked.c.id).where(ranked.c.rank > keep_per_project)
        q = sa.union(old, many).subquery()
        return [int(i) for (i,) in self.conn.execute(
            sa.select(q.c.id).order_by(q.c.id).limit(limit))]

    def expired_event_ids(self, *, before: float, keep_per_project: int,
                          limit: int) -> list[int]:
        """Webhook events done with (:data:`EVENT_DONE`) received before ``before`` or beyond
        the newest ``keep_per_project`` of their project."""
        done = _W.status.in_(EVENT_DONE)
        ranked = _newest_n(_W.id, _W.project_id, done)
        old = sa.select(_W.id).where(done, _W.received_at < before)
        many = sa.select(ranked.c.id).where(ranked.c.rank > keep_per_project)
        q = sa.union(old, many).subquery()
        return [int(i) for (i,) in self.conn.execute(
            sa.select(q.c.id).order_by(q.c.id).limit(limit))]

    def expired_llm_call_ids(self, *, before: float, limit: int) -> list[int]:
        return [int(i) for (i,) in self.conn.execute(
            sa.select(_K.id).where(_K.at < before).order_by(_K.id).limit(limit))]

    def superseded_llm_labels(self, *, limit: int) -> list[tuple[int, int, str]]:
        """``(project, task, model version)`` of LLM labels a newer label of the same task
        supersedes (only a task's newest label is ever read)."""
        rank = sa.func.row_number().over(
            partition_by=(_L.project_id, _L.task_id),
            order_by=(_L.created_at.desc(), _L.model_version.desc())).label("rank")
        q = sa.select(_L.project_id, _L.task_id, _L.model_version, rank).subquery()
        return [(int(p), int(tk), str(v)) for p, tk, v in self.conn.execute(
            sa.select(q.c.project_id, q.c.task_id, q.c.model_version).where(q.c.rank > 1)
            .limit(limit))]

    def stale_queue_versions(self, *, keep_versions: int) -> list[tuple[int, str]]:
        """``(project, version)`` whose queue rows may go: recorded model versions older than
        the project's newest ``keep_versions``, other than the published one and the one the
        project shows in Label Studio. A queue of a version not recorded (yet) is never
        listed."""
        rank = sa.func.row_number().over(partition_by=_V.project_id,
                                         order_by=_V.id.desc()).label("rank")
        ranked = sa.select(_V.project_id, _V.version, rank).subquery()
        published = {(int(p), v) for p, *vs in self.conn.execute(sa.select(
            t.projects.c.id, t.projects.c.published_version, t.projects.c.model_version))
            for v in vs}
        old = self.conn.execute(sa.select(ranked.c.project_id, ranked.c.version).where(
            ranked.c.rank > keep_versions))
        with_rows = {(int(p), v) for p, v in self.conn.execute(
            sa.select(_Q.project_id, _Q.model_version).distinct())}
        return sorted((int(p), v) for p, v in old
                      if (int(p), v) not in published and (int(p), v) in with_rows
                      and not self.queue_in_use(int(p), v))

    def stale_queue_task_ids(self, project_id: int, version: str, *, limit: int) -> list[int]:
        """Tasks of ``version``'s queue whose rows may go: every row but an audit draw that no
        newer version's queue records (``audit_task_ids`` needs one row per drawn task)."""
        vid = self.conn.execute(sa.select(_V.id).where(
            _V.project_id == project_id, _V.version == version)).scalar()
        if vid is None:
            return []
        newer_versions = sa.select(_V.version).where(_V.project_id == project_id, _V.id > vid)
        other = queue_entries.alias("other")
        audit_elsewhere = sa.exists().where(
            other.c.project_id == project_id, other.c.task_id == _Q.task_id,
            other.c.audit.is_(True), other.c.model_version.in_(newer_versions))
        return [int(i) for (i,) in self.conn.execute(sa.select(_Q.task_id).where(
            _Q.project_id == project_id, _Q.model_version == version,
            sa.or_(_Q.audit.is_(False), audit_elsewhere)).limit(limit))]

    # --- deleting (write transactions) ---------------------------------------------------------
    def delete_jobs(self, ids: Sequence[int], *, bounds: Sequence[float]) -> int:
        """Delete these jobs if still finished, after adding their failed attempts and run
        times to the totals."""
        rows = [row for chunk in chunks(list(ids)) for row in self.conn.execute(
            sa.delete(t.jobs).where(_J.id.in_(chunk), _J.status.in_(FINISHED)).returning(
                _J.kind, _J.status, _J.attempts, _J.started_at, _J.finished_at))]
        adds: dict[tuple[str, str], float] = {}
        for kind, status, attempts, started, finished in rows:
            failed = int(attempts or 0) - (1 if status == JobStatus.SUCCEEDED.value else 0)
            _add(adds, "job_failed_attempts", _key(kind), failed)
            if started is None or finished is None:
                continue
            took = float(finished) - float(started)
            _add(adds, "job_runs", _key(kind, status), 1)
            _add(adds, "job_run_seconds", _key(kind, status), took)
            for b in bounds:
                if took <= b:
                    _add(adds, "job_runs_le", _key(kind, status, float(b)), 1)
        self._fold(adds)
        return len(rows)

    def delete_events(self, ids: Sequence[int]) -> int:
        n = 0
        for chunk in chunks(list(ids)):
            n += self.conn.execute(sa.delete(t.webhook_events).where(
                _W.id.in_(chunk), _W.status.in_(EVENT_DONE))).rowcount
        return n

    def delete_llm_calls(self, ids: Sequence[int]) -> int:
        """Delete these call records after adding their calls, tokens, cost and time."""
        rows = [row for chunk in chunks(list(ids)) for row in self.conn.execute(
            sa.delete(llm_calls).where(_K.id.in_(chunk)).returning(
                _K.endpoint, _K.model, _K.purpose, _K.status, _K.prompt_tokens,
                _K.completion_tokens, _K.cost_usd, _K.latency_s))]
        adds: dict[tuple[str, str], float] = {}
        for e, m, p, st, pt, ct, cost, lat in rows:
            key = _key(e, m, p, st)
            _add(adds, "llm_calls", key, 1)
            _add(adds, "llm_prompt_tokens", key, int(pt or 0))
            _add(adds, "llm_completion_tokens", key, int(ct or 0))
            _add(adds, "llm_cost_usd", key, float(cost or 0.0))
            _add(adds, "llm_call_seconds", key, float(lat or 0.0))
        self._fold(adds)
        return len(rows)

    def delete_llm_labels(self, keys: Sequence[tuple[int, int, str]]) -> int:
        """Delete these LLM labels while a newer label of the same task exists."""
        newer = llm_labels.alias("newer")
        still_superseded = sa.exists().where(
            newer.c.project_id == _L.project_id, newer.c.task_id == _L.task_id,
            newer.c.created_at > _L.created_at)
        n = 0
        for chunk in chunks(list(keys)):
            n += self.conn.execute(sa.delete(llm_labels).where(
                sa.tuple_(_L.project_id, _L.task_id, _L.model_version).in_(chunk),
                still_superseded)).rowcount
        return n

    def queue_in_use(self, project_id: int, version: str) -> bool:
        """Whether ``version``'s queue is still read: the project's published version, the one
        it shows in Label Studio, or one a queued or running publish job names (a retrain's
        publish that failed and was handed over; the API's publish of a named version)."""
        project = self.conn.execute(sa.select(
            t.projects.c.published_version, t.projects.c.model_version).where(
            t.projects.c.id == project_id)).first()
        if project is not None and version in tuple(project):
            return True
        payloads = self.conn.execute(sa.select(_J.payload).where(
            _J.project_id == project_id, _J.kind == JobKind.PUBLISH.value,
            _J.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value))))
        return any((p or {}).get("version") == version for (p,) in payloads)

    def delete_queue_rows(self, project_id: int, version: str, task_ids: Sequence[int]) -> int:
        """Delete these rows of ``version``'s queue unless it is in use now (published or
        about to be since the stale versions were listed: :meth:`queue_in_use`)."""
        if self.queue_in_use(project_id, version):
            return 0
        n = 0
        for chunk in chunks(list(task_ids)):
            n += self.conn.execute(sa.delete(queue_entries).where(
                _Q.project_id == project_id, _Q.model_version == version,
                _Q.task_id.in_(chunk))).rowcount
        return n

    def release_free_pages(self, *, limit: int) -> int:
        """SQLite: give up to ``limit`` free pages back to the file system (databases created
        with ``auto_vacuum=INCREMENTAL``, see engine.py); the number released. PostgreSQL's
        autovacuum does its own: 0."""
        if self.conn.dialect.name != "sqlite":
            return 0
        if self.conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:
            return 0
        free = int(self.conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
        for _ in range(min(free, limit)):  # the driver steps the pragma once: one page a call
            self.conn.exec_driver_sql("PRAGMA incremental_vacuum(1)")
        return free - int(self.conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)

    # --- the totals ----------------------------------------------------------------------------
    def _fold(self, adds: dict[tuple[str, str], float]) -> None:
        """Add to the running totals (insert, or add to the stored value)."""
        if not adds:
            return
        ts = now()
        stmt = dialect_insert(self.conn.dialect.name, metric_totals)
        stmt = stmt.on_conflict_do_update(
            index_elements=["metric", "labels"],
            set_={"value": metric_totals.c.value + stmt.excluded.value, "updated_at": ts})
        self.conn.execute(stmt, [{"metric": m, "labels": k, "value": v, "updated_at": ts}
                                 for (m, k), v in sorted(adds.items())])

    def folded_totals(self, bounds: Sequence[float]) -> FoldedTotals:
        """The totals of deleted rows, as the collector's records (run-time buckets at
        ``bounds``; a bound the fold did not count at takes the count of the nearest lower
        one, never more than is known)."""
        values: dict[str, dict[tuple[str, ...], float]] = {}
        for m, labels, v in self.conn.execute(sa.select(_T.metric, _T.labels, _T.value)):
            values.setdefault(m, {})[tuple(json.loads(labels))] = float(v)
        failed = {k[0]: int(v) for k, v in values.get("job_failed_attempts", {}).items()}
        le = values.get("job_runs_le", {})
        durations = []
        for (kind, status), n in sorted(values.get("job_runs", {}).items()):
            counted = sorted((float(b), c) for (k, s, b), c in le.items()
                             if (k, s) == (kind, status))
            cumulative = tuple(int(max([c for b2, c in counted if b2 <= b], default=0))
                               for b in bounds)
            durations.append(JobDurations(
                kind=kind, status=status, count=int(n), cumulative=cumulative,
                sum_s=values.get("job_run_seconds", {}).get((kind, status), 0.0)))
        llm = []
        for key, n in sorted(values.get("llm_calls", {}).items()):
            e, m, p, st = key
            llm.append(LlmUsageGroup(
                endpoint=e, model=m, purpose=p, status=st, calls=int(n),
                prompt_tokens=int(values.get("llm_prompt_tokens", {}).get(key, 0)),
                completion_tokens=int(values.get("llm_completion_tokens", {}).get(key, 0)),
                cost_usd=values.get("llm_cost_usd", {}).get(key, 0.0),
                latency_s=values.get("llm_call_seconds", {}).get(key, 0.0)))
        return FoldedTotals(failed_attempts=failed, durations=durations, llm=llm)


def _add(adds: dict[tuple[str, str], float], metric: str, key: str, value: float) -> None:
    adds[(metric, key)] = adds.get((metric, key), 0.0) + value
