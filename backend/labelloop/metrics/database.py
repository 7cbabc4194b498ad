"""The metrics kept in the database, read at scrape time by :class:`StorageCollector`.

Jobs are run by any number of ``labelloop worker`` processes, possibly on other machines, and LLM
calls are logged by whichever process made them; the database is the one place that sees them
all. So nothing here is counted in memory: each scrape runs a handful of grouped queries
(:mod:`labelloop.storage.records_ops`) and turns their rows into metric families. The builders
are plain functions of those rows, so they are tested without a database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.storage.base import Storage
from labelloop.storage.records_ops import JobDurations, JobGroup, LlmUsageGroup, ProjectModels

log = logging.getLogger(__name__)

# Jobs last from milliseconds (a publish of a few tasks) to an hour (pre-labeling a big project).
JOB_DURATION_BOUNDS: tuple[float, ...] = (
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class StorageCollector(Collector):
    """Yields the database's metrics on every scrape; ``labelloop_storage_up`` says whether the
    database answered (when it does not, the other database metrics are left out, not zeroed)."""

    def __init__(self, storage: Storage, *, clock: Callable[[], float] = time.time,
                 bounds: Sequence[float] = JOB_DURATION_BOUNDS) -> None:
        self.storage = storage
        self.clock = clock
        self.bounds = tuple(bounds)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("labelloop_storage_up",
                               "1 when the database answered this scrape's queries, else 0")
        try:
            with self.storage.read() as tx:
                groups = tx.job_groups()
                durations = tx.job_durations(self.bounds)
                usage = tx.llm_usage_groups()
                models = tx.model_summaries()
        except Exception:  # a scrape must still answer: the in-process metrics are intact
            log.warning("metrics: reading the database failed", exc_info=True)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from job_families(groups, durations, now=self.clock(), bounds=self.bounds)
        yield from llm_families(usage)
        yield from model_families(models)


def job_families(groups: Sequence[JobGroup], durations: Sequence[JobDurations], *, now: float,
                 bounds: Sequence[float]) -> Iterator[Metric]:
    """Queue depth, failed attempts and queue delay per kind (every known kind, zeros included),
    and run times per kind and final status."""
    kinds = sorted({k.value for k in JobKind} | {g.kind for g in groups})
    statuses = [s.value for s in JobStatus]
    statuses += sorted({g.status for g in groups} - set(statuses))
    counts = {(g.kind, g.status): g.count for g in groups}

    jobs = GaugeMetricFamily("labelloop_jobs", "Jobs by kind and status; status=\"queued\" is the "
                             "queue depth", labels=["kind", "status"])
    failed = CounterMetricFamily("labelloop_job_failed_attempts", "Job attempts that did not "
                                 "succeed (the handler raised, or its worker died)",
                                 labels=["kind"])
    delay = GaugeMetricFamily("labelloop_job_queue_delay_seconds", "How long the queued job due "
                              "first has been due without a worker claiming it (0: none is due)",
                              labels=["kind"])
    for kind in kinds:
        for status in statuses:
            jobs.add_metric([kind, status], counts.get((kind, status), 0))
        mine = [g for g in groups if g.kind == kind]
        failed.add_metric([kind], sum(g.failed_attempts for g in mine))
        due = [g.earliest_run_after for g in mine if g.status == JobStatus.QUEUED.value]
        delay.add_metric([kind], max(0.0, now - min(due)) if due else 0.0)
    yield jobs
    yield failed
    yield delay

    run = HistogramMetricFamily("labelloop_job_duration_seconds", "Run time of finished jobs' "
                                "last attempt, by kind and final status", labels=["kind", "status"])
    for d in durations:
        buckets = [(floatToGoString(b), n) for b, n in zip(bounds, d.cumulative)]
        run.add_metric([d.kind, d.status], buckets + [("+Inf", d.count)], d.sum_s)
    yield run


def llm_families(usage: Sequence[LlmUsageGroup]) -> Iterator[Metric]:
    """LLM calls and their time per (endpoint, model, purpose, status); tokens and cost per
    (endpoint, model, purpose). Cache hits are not calls and cost nothing."""
    calls = CounterMetricFamily("labelloop_llm_calls", "LLM calls made (cache hits excluded)",
                                labels=["endpoint", "model", "purpose", "status"])
    seconds = CounterMetricFamily("labelloop_llm_call_seconds", "Time spent waiting for LLM "
                                  "calls", labels=["endpoint", "model", "purpose", "status"])
    tokens: dict[tuple[str, str, str, str], int] = {}
    cost: dict[tuple[str, str, str], float] = {}
    for u in usage:
        calls.add_metric([u.endpoint, u.model, u.purpose, u.status], u.calls)
        seconds.add_metric([u.endpoint, u.model, u.purpose, u.status], u.latency_s)
        key = (u.endpoint, u.model, u.purpose)
        tokens[(*key, "prompt")] = tokens.get((*key, "prompt"), 0) + u.prompt_tokens
        tokens[(*key, "completion")] = tokens.get((*key, "completion"), 0) + u.completion_tokens
        cost[key] = cost.get(key, 0.0) + u.cost_usd
    token_family = CounterMetricFamily("labelloop_llm_tokens", "LLM tokens, as the endpoint "
                                       "reported them", labels=["endpoint", "model", "purpose",
                                                                "type"])
    for labels, n in sorted(tokens.items()):
        token_family.add_metric(list(labels), n)
    cost_family = CounterMetricFamily("labelloop_llm_cost_usd", "LLM cost in US dollars, from "
                                      "the price table (0 for a model it has no price for)",
                                      labels=["endpoint", "model", "purpose"])
    for labels, usd in sorted(cost.items()):
        cost_family.add_metric(list(labels), usd)
    yield calls
    yield token_family
    yield cost_family
    yield seconds


def model_families(models: Sequence[ProjectModels]) -> Iterator[Metric]:
    """Model versions per project and kind, and each project's published version."""
    versions = GaugeMetricFamily("labelloop_model_versions", "Model versions recorded, by "
                                 "project and kind", labels=["project", "kind"])
    published = InfoMetricFamily("labelloop_published_model_version", "The version published "
                                 "as the project's queue in Label Studio", labels=["project"])
    published_at = GaugeMetricFamily("labelloop_published_model_timestamp_seconds", "When the "
                                     "published version was published (Unix time)",
                                     labels=["project"])
    for m in models:
        project = str(m.project_id)
        for kind, n in sorted(m.versions.items()):
            versions.add_metric([project, kind], n)
        if m.published_version is not None:
            published.add_metric([project], {"version": m.published_version})
        if m.published_at is not None:
            published_at.add_metric([project], m.published_at)
    yield versions
    yield published
    yield published_at
