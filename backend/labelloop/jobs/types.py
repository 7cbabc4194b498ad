"""Jobs as typed records.

A :class:`JobSpec` is what a caller asks for; a :class:`Job` is a row of the jobs table. Each kind
has its own retry policy (:data:`POLICIES`). A ``dedupe_key`` makes enqueueing idempotent: while a
job with that key is still queued, enqueueing another returns the queued one. A ``serial_key``
keeps jobs that must not overlap (training and publishing one project) from running at once, on
any number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class JobKind(str, Enum):
    RESYNC = "resync"
    PUBLISH = "publish"
    PUBLISH_TAIL = "publish_tail"
    CLEANUP_VERSIONS = "cleanup_versions"
    PRELABEL = "prelabel"
    EMBED = "embed"
    RETRAIN = "retrain"
    CHECK_VERSION = "check_version"
    RETENTION = "retention"
    STREAM_EXPORT = "stream_export"
    DRIFT = "drift"
    FINE_TUNE = "fine_tune"
    STREAM_DECIDE = "stream_decide"
    TRIPLET_MINE = "triplet_mine"
    TRIPLET_FINETUNE = "triplet_finetune"


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Delay before retry number ``attempt`` (1-based); ``jitter`` in [0, 1) spreads retries."""
        base = min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, attempt - 1)))
        return base * (0.5 + jitter / 2)


POLICIES: dict[JobKind, RetryPolicy] = {
    JobKind.RESYNC: RetryPolicy(max_attempts=8, backoff_base_s=5.0),
    # The Label Studio side of a queue (publish, tail, clean-up) rides out an outage of 5-10 min
    # (publish: 7 delays from 2.5-5 s, doubling to the 300 s cap); each is safe to run again
    # after a failure at any step (docs/architecture.md, "Every job can run twice").
    JobKind.PUBLISH: RetryPolicy(max_attempts=8, backoff_base_s=5.0),
    JobKind.PUBLISH_TAIL: RetryPolicy(max_attempts=8, backoff_base_s=5.0),
    JobKind.CLEANUP_VERSIONS: RetryPolicy(max_attempts=8, backoff_base_s=30.0),
    JobKind.PRELABEL: RetryPolicy(max_attempts=5, backoff_base_s=10.0),
    JobKind.EMBED: RetryPolicy(max_attempts=3),
    JobKind.RETRAIN: RetryPolicy(max_attempts=3),
    JobKind.CHECK_VERSION: RetryPolicy(max_attempts=5, backoff_base_s=10.0),
    JobKind.RETENTION: RetryPolicy(max_attempts=3, backoff_base_s=60.0),
    # selected stream items wait in labelloop while Label Studio is down; a job that runs out of
    # attempts leaves them pending, and the next ingest (or the resync timer) asks again
    JobKind.STREAM_EXPORT: RetryPolicy(max_attempts=8, backoff_base_s=5.0),
    JobKind.DRIFT: RetryPolicy(max_attempts=3, backoff_base_s=30.0),
    # a round is minutes of CPU: retried once, then the next due round tries again
    JobKind.FINE_TUNE: RetryPolicy(max_attempts=2, backoff_base_s=60.0),
    # deferred stream decisions: items wait undecided meanwhile; the next ingest queues it again
    JobKind.STREAM_DECIDE: RetryPolicy(max_attempts=5, backoff_base_s=5.0),
    # mining ends by creating Label Studio tasks: it rides out an outage like the outbox
    JobKind.TRIPLET_MINE: RetryPolicy(max_attempts=8, backoff_base_s=5.0),
    JobKind.TRIPLET_FINETUNE: RetryPolicy(max_attempts=2, backoff_base_s=60.0),
}


@dataclass(frozen=True)
class JobSpec:
    kind: JobKind
    project_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    serial_key: str | None = None
    delay_s: float = 0.0

    @property
    def max_attempts(self) -> int:
        return POLICIES[self.kind].max_attempts


@dataclass(frozen=True)
class Job:
    id: int
    kind: JobKind
    project_id: int | None
    payload: dict[str, Any]
    status: JobStatus
    dedupe_key: str | None
    serial_key: str | None
    attempts: int
    max_attempts: int
    run_after: float
    last_error: str | None
    created_at: float
    finished_at: float | None
    progress: dict[str, Any] | None = None
    locked_by: str | None = None  # the worker that ran it last (``host:pid:incarnation:n``)
    started_at: float | None = None  # when the last claim took it


def project_serial_key(project_id: int) -> str:
    """The serial key of jobs that change what one project's queue looks like."""
    return f"project:{project_id}:queue"
