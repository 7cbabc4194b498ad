"""Retention: what labelloop deletes, when, and what it never touches.

Deleted (settings ``LABELLOOP_RETENTION_*``), by the periodic ``retention`` job:

* **finished jobs** (succeeded, dead, superseded) older than ``retention_days`` or beyond the
  newest ``retention_keep_per_project`` finished jobs of their project;
* **webhook events** done with (applied, duplicate, ignored, invalid), by the same two rules;
* **LLM call records** older than ``retention_days``;
* **LLM labels** that a newer label of the same task supersedes (only a task's newest label is
  ever read: ``get_llm_labels``);
* **queue rows** of model versions older than the project's newest ``retention_keep_versions``,
  other than the published version, the one the project shows in Label Studio and one a queued
  or running publish job names (checked again in each deleting transaction: a version may be
  published after the run listed it); a task's audit draw is kept in its newest version's queue
  (the audit estimate needs every draw);
* **stream items** not selected (``ignored``) received before ``retention_days`` ago (a
  selected one is kept: it is, or becomes, a Label Studio task).

What ``/metrics`` counts in deleted jobs and calls is folded into ``metric_totals`` in the same
transaction as the deletion, so its counters never fall. Never deleted: tasks, annotations and
their history, embeddings, model predictions (retrains supersede their own), model versions,
the LLM response cache (an entry is what makes a repeated request free, and nothing tells which
will be requested again), queued and running jobs, events not done with, each task's newest LLM
label.

Every batch is one short write transaction of at most ``retention_batch_rows`` rows, found by a
read transaction before it: on SQLite the write lock is held for milliseconds, never for the
whole run. Last, on SQLite, the freed pages are given back to the file system in batches of as
many pages (databases created since incremental auto-vacuum was turned on; an older file keeps
its size and reuses its free pages).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    keep_days: float
    keep_per_project: int
    keep_versions: int
    batch_rows: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(keep_days=settings.retention_days,
                   keep_per_project=settings.retention_keep_per_project,
                   keep_versions=settings.retention_keep_versions,
                   batch_rows=settings.retention_batch_rows)


@dataclass(frozen=True)
class RetentionReport:
    """Rows deleted per kind, and the write transactions it took."""

    jobs: int = 0
    events: int = 0
    llm_calls: int = 0
    llm_labels: int = 0
    queue_rows: int = 0
    stream_items: int = 0
    pages_released: int = 0  # SQLite pages given back to the file system
    batches: int = 0

    def plus(self, **deleted: int) -> RetentionReport:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in deleted.items():
            values[k] += v
        values["batches"] += 1
        return RetentionReport(**values)

    @property
    def total(self) -> int:  # rows deleted
        return (self.jobs + self.events + self.llm_calls + self.llm_labels + self.queue_rows
                + self.stream_items)


Batch = Callable[[RetentionReport], None]


def run_retention(storage: Storage, policy: RetentionPolicy, *, now: float,
                  bounds: Sequence[float], pause_s: float = 0.0,
                  on_batch: Batch | None = None) -> RetentionReport:
    """Apply ``policy`` as of ``now`` (Unix seconds), batch after batch, until nothing is left.

    ``bounds``: the run-time buckets the job-duration histogram counts (the fold keeps them);
    ``pause_s``: a pause between batches, so other writers get the lock in between;
    ``on_batch``: called with the running report after every batch (progress, lease)."""
    before = now - policy.keep_days * DAY_S
    limit = policy.batch_rows
    report = RetentionReport()

    def step(**deleted: int) -> None:
        nonlocal report
        report = report.plus(**deleted)
        if on_batch is not None:
            on_batch(report)
        if pause_s:
            time.sleep(pause_s)

    drain = _Drain(storage, limit, step)
    keep = policy.keep_per_project
    drain("jobs", lambda tx: tx.expired_job_ids(before=before, keep_per_project=keep, limit=limit),
          lambda tx, ids: tx.delete_jobs(ids, bounds=bounds))
    drain("events",
          lambda tx: tx.expired_event_ids(before=before, keep_per_project=keep, limit=limit),
          lambda tx, ids: tx.delete_events(ids))
    drain("llm_calls", lambda tx: tx.expired_llm_call_ids(before=before, limit=limit),
          lambda tx, ids: tx.delete_llm_calls(ids))
    drain("llm_labels", lambda tx: tx.superseded_llm_labels(limit=limit),
          lambda tx, keys: tx.delete_llm_labels(keys))
    drain("stream_items", lambda tx: tx.expired_stream_item_ids(before=before, limit=limit),
          lambda tx, ids: tx.delete_stream_items(ids))
    with storage.read() as tx:
        versions = tx.stale_queue_versions(keep_versions=policy.keep_versions)
    for pid, version in versions:
        drain("queue_rows", partial(_stale_queue_rows, pid, version, limit),
              partial(_delete_queue_rows, pid, version))
    while True:  # the file shrinks back (SQLite databases created with incremental auto-vacuum)
        with storage.write() as tx:
            n = tx.release_free_pages(limit=limit)
        if n == 0:
            break
        step(pages_released=n)
    return report


def _stale_queue_rows(project_id: int, version: str, limit: int, tx: Tx) -> list[int]:
    return tx.stale_queue_task_ids(project_id, version, limit=limit)


def _delete_queue_rows(project_id: int, version: str, tx: Tx, task_ids: list[int]) -> int:
    return tx.delete_queue_rows(project_id, version, task_ids)


class _Drain:
    """Find at most ``limit`` keys (a read transaction), delete them (a write transaction),
    again until none are found, fewer than ``limit`` were, or none of them could go."""

    def __init__(self, storage: Storage, limit: int, step: Callable[..., None]) -> None:
        self.storage, self.limit, self.step = storage, limit, step

    def __call__(self, field: str, find: Callable[[Tx], list[Any]],
                 delete: Callable[[Tx, list[Any]], int]) -> None:
        while True:
            with self.storage.read() as tx:
                keys = find(tx)
            if not keys:
                return
            with self.storage.write() as tx:
                n = delete(tx, keys)
            self.step(**{field: n})
            if n == 0 or len(keys) < self.limit:
                return
