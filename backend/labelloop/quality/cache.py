"""Reuse a project's quality report while its data has not changed.

Reading a large project's labels through the storage API costs far more than the statistics
(about 1 s for 10,000 tasks x 5 annotators on SQLite, against 0.2 s for the report; see
bench/bench_quality.py), and the dashboard asks every 30 s. :class:`ReportCache` keeps the last
report of each project with a :func:`fingerprint` of what it was computed from, and computes again
when the fingerprint changes or the report is older than ``max_age_s``.

The fingerprint is a handful of cheap reads that change whenever labelloop writes labels: the
project row (sync time, versions), task and annotation counts, webhook event counts, the
project's recent jobs (status and progress: LLM labels and predictions are written by jobs) and
the number of logged LLM calls. ``max_age_s`` bounds staleness for a write that bypasses all of
them (none does today).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labelloop.errors import UnknownProject
from labelloop.quality.service import project_quality
from labelloop.storage.base import Storage, Tx

log = logging.getLogger(__name__)

Fingerprint = tuple[Any, ...]


def fingerprint(tx: Tx, project_id: int) -> Fingerprint:
    """What changes when anything the report reads changes (see the module docstring)."""
    p = tx.get_project(project_id)
    if p is None:
        raise UnknownProject(f"project {project_id} is not known to labelloop")
    jobs = tuple((j.id, j.status.value, j.attempts, repr(j.progress), j.finished_at)
                 for j in tx.list_jobs(project_id=project_id, limit=10))
    return (p.updated_at, p.last_synced_at, p.model_version, p.published_version,
            repr(p.schema), tx.count_tasks(project_id), tx.count_annotations(project_id),
            tuple(sorted(tx.event_counts(project_id).items())), jobs, tx.llm_usage().calls)


@dataclass(frozen=True)
class _Entry:
    fingerprint: Fingerprint
    at: float
    report: dict[str, Any]


class ReportCache:
    """The last full quality report per project (all review items; sliced per request)."""

    def __init__(self, *, max_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.computed = 0  # reports computed so far (tests, logs)
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()  # one computation at a time: no duplicate work
        self._refreshing: set[int] = set()
        self._refresh_lock = threading.Lock()

    def _stale(self, hit: _Entry | None, fp: Fingerprint) -> bool:
        return hit is None or hit.fingerprint != fp or self.clock() - hit.at >= self.max_age_s

    def _compute(self, storage: Storage, project_id: int, fp: Fingerprint) -> _Entry:
        with self._lock:
            hit = self._entries.get(project_id)
            if self._stale(hit, fp):
                full = project_quality(storage, project_id, review_limit=None)
                full["computed_at"] = self.wall_clock()
                hit = self._entries[project_id] = _Entry(fp, self.clock(), full)
                self.computed += 1
            return hit  # type: ignore[return-value]

    def _refresh_in_background(self, storage: Storage, project_id: int,
                               fp: Fingerprint) -> None:
        with self._refresh_lock:
            if project_id in self._refreshing:
                return
            self._refreshing.add(project_id)

        def run() -> None:
            try:
                self._compute(storage, project_id, fp)
            except Exception:  # the next request computes (and reports) it again
                log.warning("project %s: background quality report failed", project_id,
                            exc_info=True)
            finally:
                with self._refresh_lock:
                    self._refreshing.discard(project_id)

        threading.Thread(target=run, name=f"quality-refresh-{project_id}", daemon=True).start()

    def report(self, storage: Storage, project_id: int, *, review_limit: int | None,
               background: bool = False) -> dict[str, Any]:
        """The quality report of ``project_id``, with ``computed_at`` (Unix time).

        ``background``: when the data changed since the last report, answer that report at once
        (marked ``"refreshing": true``) and recompute in a background thread, instead of making
        the caller wait (the dashboard; a large project takes over a second to read).
        """
        with storage.read() as tx:
            fp = fingerprint(tx, project_id)
        hit = self._entries.get(project_id)
        refreshing = False
        if self._stale(hit, fp):
            if background and hit is not None:
                self._refresh_in_background(storage, project_id, fp)
                refreshing = True
            else:
                hit = self._compute(storage, project_id, fp)
        assert hit is not None  # computed above when missing
        review = hit.report["review"]
        items = review["items"] if review_limit is None else review["items"][:review_limit]
        out = {**hit.report, "review": {**review, "limit": review_limit, "items": items}}
        if refreshing:
            out["refreshing"] = True
        return out
