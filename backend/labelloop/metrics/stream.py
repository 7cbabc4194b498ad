"""The production stream's metrics (issue 17), read in the database collector's one snapshot.

Per project with stream items: items by status (``ignored`` = received and not selected), the
selected items by decision reason, and the latest drift measurement (MMD², its permutation
threshold, 0/1 drifting, when it was measured). :func:`stream_families` is a plain function of
the rows, tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from labelloop.storage.base import Tx
from labelloop.storage.records_stream import DriftRecord, StreamCounts
from labelloop.stream.status import selected_by_reason

ITEM_STATUSES = ("ignored", "pending", "sending", "created", "deciding")


@dataclass(frozen=True)
class ProjectStream:
    project_id: int
    counts: StreamCounts
    drift: DriftRecord | None


def read_streams(tx: Tx) -> list[ProjectStream]:
    """Every project that received stream items, with its counts and latest drift record."""
    out = []
    for p in tx.list_projects():
        counts = tx.stream_counts(p.id)
        if counts.received:
            out.append(ProjectStream(p.id, counts, tx.latest_drift(p.id)))
    return out


def stream_families(streams: Sequence[ProjectStream]) -> Iterator[Metric]:
    items = GaugeMetricFamily("labelloop_stream_items", "Production stream items by project and "
                              "status (ignored: not selected; pending: waiting to become a Label "
                              "Studio task; sending; created; deciding: stored, not decided "
                              "yet)", labels=["project", "status"])
    selected = CounterMetricFamily("labelloop_stream_selected", "Stream items selected for "
                                   "labelling, by project and decision reason",
                                   labels=["project", "reason"])
    statistic = GaugeMetricFamily("labelloop_stream_drift_statistic", "MMD² between the recent "
                                  "stream items' embeddings and the labelled set's, last "
                                  "measured", labels=["project"])
    threshold = GaugeMetricFamily("labelloop_stream_drift_threshold", "The drift statistic's "
                                  "permutation threshold at the configured alpha",
                                  labels=["project"])
    drifting = GaugeMetricFamily("labelloop_stream_drifting", "1 when the last drift measurement "
                                 "found recent traffic unlike the labelled set, else 0",
                                 labels=["project"])
    measured = GaugeMetricFamily("labelloop_stream_drift_timestamp_seconds", "When drift was "
                                 "last measured (Unix time)", labels=["project"])
    for s in streams:
        project, c = str(s.project_id), s.counts
        by_status = {"ignored": max(0, c.received - c.selected - c.deciding),
                     "pending": c.pending, "sending": c.sending, "created": c.created,
                     "deciding": c.deciding}
        for status in ITEM_STATUSES:
            items.add_metric([project, status], by_status[status])
        for reason, n in sorted(selected_by_reason(c).items()):
            selected.add_metric([project, reason], n)
        if s.drift is not None:
            statistic.add_metric([project], s.drift.statistic)
            threshold.add_metric([project], s.drift.threshold)
            drifting.add_metric([project], 1.0 if s.drift.drifting else 0.0)
            measured.add_metric([project], s.drift.measured_at)
    yield items
    yield selected
    yield statistic
    yield threshold
    yield drifting
    yield measured
