"""The metrics kept in the database, read at scrape time by :class:`StorageCollector`.

Jobs are run by any number of ``labelloop worker`` processes, possibly on other machines, and LLM
calls are logged by whichever process made them; the database is the one place that sees them
all. So nothing here is counted in memory: each scrape runs a handful of grouped queries
(:mod:`labelloop.storage.records_ops`) and turns their rows into metric families. The builders
are plain functions of those rows, so they are tested without a database.

The counters survive retention: what deleted jobs and LLM call records counted is kept in
``metric_totals`` (:mod:`labelloop.storage.tables_totals`), and each scrape adds it to what the
live rows count (:func:`with_folded`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

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
from labelloop.metrics.stream import read_streams, stream_families
from labelloop.storage.base import Storage
from labelloop.storage.records_ops import JobDurations, JobGroup, LlmUsageGroup, ProjectModels
from labelloop.storage.sql_retention import FoldedTotals

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
            # one snapshot: a retention deletion committed between the live rows' sums and
            # the folded totals would count its rows twice (and the next scrape fall back)
            with self.storage.read(snapshot=True) as tx:
                groups = tx.job_groups()
                durations = tx.job_durations(self.bounds)
                usage = tx.llm_usage_groups()
                models = tx.model_summaries()
                folded = tx.folded_totals(self.bounds)
                streams = read_streams(tx)
        except Exception:  # a scrape must still answer: the in-process metrics are intact
            log.warning("metrics: reading the database failed", exc_info=True)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        durations, usage = with_folded(durations, usage, folded)
        yield from job_families(groups, durations, now=self.clock(), bounds=self.bounds,
                                failed_before=folded.failed_attempts)
        yield from llm_families(usage)
        yield from model_families(models)
        yield from stream_families(streams)


def with_folded(durations: Sequence[JobDurations], usage: Sequence[LlmUsageGroup],
                folded: FoldedTotals) -> tuple[list[JobDurations], list[LlmUsageGroup]]:
    """The live rows' run times and LLM usage plus what deleted rows had counted, per label
    set (a label set only deleted rows had is kept: a counter never disappears)."""
    runs: dict[tuple[str, str], JobDurations] = {}
    for d in [*durations, *folded.durations]:
        if (old := runs.get((d.kind, d.status))) is not None:
            d = JobDurations(kind=d.kind, status=d.status, count=old.count + d.count,
                             sum_s=old.sum_s + d.sum_s, cumulative=tuple(
                                 a + b for a, b in zip(old.cumulative, d.cumulative)))
        runs[(d.kind, d.status)] = d
    calls: dict[tuple[str, str, str, str], LlmUsageGroup] = {}
    for u in [*usage, *folded.llm]:
        key = (u.endpoint, u.model, u.purpose, u.status)
        if (old_u := calls.get(key)) is not None:
            u = LlmUsageGroup(*key, calls=old_u.calls + u.calls,
                              prompt_tokens=old_u.prompt_tokens + u.prompt_tokens,
                              completion_tokens=old_u.completion_tokens + u.completion_tokens,
                              cost_usd=old_u.cost_usd + u.cost_usd,
                              latency_s=old_u.latency_s + u.latency_s)
        calls[key] = u
    return list(runs.values()), list(calls.values())


def job_families(groups: Sequence[JobGroup], durations: Sequence[JobDurations], *, now: float,
                 bounds: Sequence[float],
                 failed_before: Mapping[str, int] | None = None) -> Iterator[Metric]:
    """Queue depth, failed attempts and queue delay per kind (every known kind, zeros included),
    and run times per kind and final status. ``failed_before``: failed attempts of deleted jobs
    per kind (retention), added to the live rows' count."""
    failed_before = failed_before or {}
    kinds = sorted({k.value for k in JobKind} | {g.kind for g in groups} | set(failed_before))
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
        failed.add_metric([kind], sum(g.failed_attempts for g in mine)
                          + failed_before.get(kind, 0))
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
    for token_labels, n in sorted(tokens.items()):
        token_family.add_metric(list(token_labels), n)
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
