"""The retention job: deletes what :mod:`labelloop.storage.retention` says may go.

Queued by every pool's scheduler every ``retention_interval_s`` (first 5 minutes after start);
one at a time across every process (its dedupe and serial key), not tied to a project.
"""

from __future__ import annotations

import logging
import time

from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.metrics.database import JOB_DURATION_BOUNDS
from labelloop.storage.retention import RetentionPolicy, RetentionReport, run_retention

log = logging.getLogger(__name__)

PAUSE_S = 0.05  # between batches: webhooks and claims get the SQLite write lock in between


def retention_spec() -> JobSpec:
    return JobSpec(JobKind.RETENTION, None, dedupe_key="retention", serial_key="retention")


def handle_retention(ctx: JobContext) -> None:
    started = time.perf_counter()
    last = 0.0

    def progress(report: RetentionReport) -> None:
        nonlocal last
        if time.monotonic() - last >= 2.0:  # progress is a write: at most every 2 s
            last = time.monotonic()
            ctx.progress(step="retention", deleted=report.total, batches=report.batches)

    report = run_retention(ctx.storage, RetentionPolicy.from_settings(ctx.settings),
                           now=time.time(), bounds=JOB_DURATION_BOUNDS, pause_s=PAUSE_S,
                           on_batch=progress)
    log.info("retention: deleted %d finished job(s), %d webhook event(s), %d LLM call "
             "record(s), %d superseded LLM label(s), %d old queue row(s), %d ignored stream "
             "item(s), %d free page(s) released, in %d batch(es), %.1fs", report.jobs,
             report.events, report.llm_calls, report.llm_labels, report.queue_rows,
             report.stream_items, report.pages_released, report.batches,
             time.perf_counter() - started)
