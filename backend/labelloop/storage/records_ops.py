"""Aggregates read for operations (``GET /metrics``): a few grouped rows, never one per job.

Each record is one ``GROUP BY`` row of a single query: the answer stays small however many rows
the tables hold (the query itself still reads them all, in the database, not in Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobGroup:
    """The jobs of one kind in one status."""

    kind: str
    status: str
    count: int
    attempts: int  # claims of these jobs, summed
    earliest_run_after: float  # when the one due first was (or will be) due

    @property
    def failed_attempts(self) -> int:
        """Claims that did not end in success: the handler raised, or its worker died.

        A succeeded job's last claim succeeded and a running job's is still under way; every
        other claim failed. The sum only grows while rows are kept, so it is a counter.
        """
        ongoing_or_ok = self.count if self.status in ("succeeded", "running") else 0
        return self.attempts - ongoing_or_ok


@dataclass(frozen=True)
class JobDurations:
    """Run times of finished jobs of one kind and final status.

    A run time is ``finished_at - started_at`` of the job's last claim: earlier failed attempts
    are not timed. Jobs finished before ``started_at`` was recorded (migration 6) are left out.
    """

    kind: str
    status: str
    count: int
    sum_s: float
    cumulative: tuple[int, ...]  # jobs that ran at most ``bounds[i]`` seconds, per bound


@dataclass(frozen=True)
class LlmUsageGroup:
    """Totals of the logged LLM calls of one (endpoint, model, purpose, status)."""

    endpoint: str
    model: str
    purpose: str
    status: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float


@dataclass(frozen=True)
class ProjectModels:
    """A project's model versions: how many of each kind, and the one published as its queue."""

    project_id: int
    versions: dict[str, int] = field(default_factory=dict)  # {kind: count}
    published_version: str | None = None
    published_at: float | None = None
