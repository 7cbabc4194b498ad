"""The database collector's metric families, built from storage rows (no database needed)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.metrics.database import (
    StorageCollector,
    job_families,
    llm_families,
    model_families,
)
from labelloop.storage.records_ops import JobDurations, JobGroup, LlmUsageGroup, ProjectModels


def samples(families: Iterable[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families for s in f.samples}


def test_every_kind_and_status_has_a_series_and_unknown_ones_are_kept() -> None:
    groups = [JobGroup("embed", "queued", 4, 0, 90.0), JobGroup("future_kind", "paused", 1, 0, 0.0)]
    got = samples(job_families(groups, [], now=100.0, bounds=[1.0]))
    jobs = {dict(labels)["kind"] + "/" + dict(labels)["status"]: v
            for (name, labels), v in got.items() if name == "labelloop_jobs"}
    assert len(jobs) == (len(JobKind) + 1) * (len(JobStatus) + 1)
    assert jobs["embed/queued"] == 4 and jobs["future_kind/paused"] == 1
    assert jobs["retrain/queued"] == 0 and jobs["embed/running"] == 0


def test_queue_delay_is_time_past_due_of_the_earliest_queued_job() -> None:
    groups = [JobGroup("embed", "queued", 2, 0, 40.0), JobGroup("embed", "running", 1, 1, 10.0),
              JobGroup("retrain", "queued", 1, 0, 130.0)]  # not due yet
    got = samples(job_families(groups, [], now=100.0, bounds=[]))
    delay = {dict(labels)["kind"]: v for (name, labels), v in got.items()
             if name == "labelloop_job_queue_delay_seconds"}
    assert delay["embed"] == 60.0  # the running job's earlier run_after does not count
    assert delay["retrain"] == 0.0 and delay["publish"] == 0.0


def test_failed_attempts_sum_over_statuses() -> None:
    groups = [JobGroup("resync", "succeeded", 3, 5, 0.0), JobGroup("resync", "dead", 1, 8, 0.0),
              JobGroup("resync", "running", 2, 3, 0.0)]
    got = samples(job_families(groups, [], now=0.0, bounds=[]))
    assert got["labelloop_job_failed_attempts_total", (("kind", "resync"),)] == 2 + 8 + 1
    assert got["labelloop_job_failed_attempts_total", (("kind", "embed"),)] == 0


def test_duration_histogram_has_cumulative_buckets_count_and_sum() -> None:
    d = JobDurations("embed", "succeeded", 3, 4007.3, (1, 2, 2))
    got = samples(job_families([], [d], now=0.0, bounds=[1.0, 10.0, 3600.0]))
    labels = (("kind", "embed"), ("status", "succeeded"))
    buckets = {dict(ls)["le"]: v for (name, ls), v in got.items()
               if name == "labelloop_job_duration_seconds_bucket"}
    assert buckets == {"1.0": 1, "10.0": 2, "3600.0": 2, "+Inf": 3}
    assert got["labelloop_job_duration_seconds_count", labels] == 3
    assert got["labelloop_job_duration_seconds_sum", labels] == 4007.3


def test_llm_tokens_and_cost_sum_over_statuses() -> None:
    usage = [LlmUsageGroup("e", "m", "label", "ok", 2, 30, 6, 1.5, 2.0),
             LlmUsageGroup("e", "m", "label", "error", 1, 5, 0, 0.25, 0.5)]
    got = samples(llm_families(usage))
    key = (("endpoint", "e"), ("model", "m"), ("purpose", "label"))
    assert got["labelloop_llm_calls_total", (*key, ("status", "error"))] == 1
    assert got["labelloop_llm_call_seconds_total", (*key, ("status", "ok"))] == 2.0
    assert got["labelloop_llm_tokens_total", (*key, ("type", "prompt"))] == 35
    assert got["labelloop_llm_tokens_total", (*key, ("type", "completion"))] == 6
    assert got["labelloop_llm_cost_usd_total", key] == 1.75


def test_model_families_leave_out_what_is_unknown() -> None:
    got = samples(model_families([ProjectModels(1, {"queue": 2}, "lab-2", 123.0),
                                  ProjectModels(2, {"retrain": 1})]))
    assert got["labelloop_model_versions", (("kind", "queue"), ("project", "1"))] == 2
    assert got["labelloop_published_model_version_info",
               (("project", "1"), ("version", "lab-2"))] == 1
    assert got["labelloop_published_model_timestamp_seconds", (("project", "1"),)] == 123.0
    assert not any(name.startswith("labelloop_published") and ("project", "2") in labels
                   for name, labels in got)


class _DownStorage:
    url = "sqlite:///gone"
    dialect = "sqlite"

    @contextmanager
    def read(self) -> Iterator[object]:
        raise OSError("database is gone")
        yield  # pragma: no cover


def test_a_database_that_does_not_answer_is_reported_not_raised() -> None:
    registry = CollectorRegistry()
    registry.register(StorageCollector(_DownStorage()))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    names = {f.name: f for f in text_string_to_metric_families(text)}
    assert names["labelloop_storage_up"].samples[0].value == 0
    assert "labelloop_jobs" not in names


def test_what_deleted_rows_counted_is_added_to_the_live_rows() -> None:
    from labelloop.metrics.database import with_folded
    from labelloop.storage.sql_retention import FoldedTotals

    live = [JobDurations("embed", "succeeded", 2, 3.0, (1, 2))]
    usage = [LlmUsageGroup("e", "m", "label", "ok", 3, 30, 3, 0.5, 1.0)]
    folded = FoldedTotals(
        failed_attempts={"embed": 4, "gone_kind": 1},
        durations=[JobDurations("embed", "succeeded", 5, 50.0, (0, 3)),
                   JobDurations("retrain", "dead", 1, 9.0, (0, 1))],
        llm=[LlmUsageGroup("e", "m", "label", "ok", 7, 70, 7, 1.5, 2.0),
             LlmUsageGroup("e", "m", "label", "error", 1, 5, 0, 0.0, 60.0)])
    durations, merged = with_folded(live, usage, folded)
    got = samples([*job_families([JobGroup("embed", "dead", 1, 2, 0.0)], durations, now=0.0,
                                 bounds=[1.0, 10.0], failed_before=folded.failed_attempts),
                   *llm_families(merged)])
    assert got["labelloop_job_failed_attempts_total", (("kind", "embed"),)] == 2 + 4
    assert got["labelloop_job_failed_attempts_total", (("kind", "gone_kind"),)] == 1
    embed = (("kind", "embed"), ("status", "succeeded"))
    assert got["labelloop_job_duration_seconds_count", embed] == 7
    assert got["labelloop_job_duration_seconds_sum", embed] == 53.0
    assert got["labelloop_job_duration_seconds_bucket", (*embed[:1], ("le", "10.0"),
                                                         embed[1])] == 5
    assert got["labelloop_job_duration_seconds_count", (("kind", "retrain"),
                                                        ("status", "dead"))] == 1
    ok = (("endpoint", "e"), ("model", "m"), ("purpose", "label"), ("status", "ok"))
    assert got["labelloop_llm_calls_total", ok] == 10
    assert got["labelloop_llm_cost_usd_total", ok[:3]] == 2.0
    assert got["labelloop_llm_tokens_total", (*ok[:3], ("type", "prompt"))] == 105
