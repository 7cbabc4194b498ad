"""The production stream's metric families (issue 17 §5): from rows, and through ``/metrics``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from labelloop.metrics.stream import ProjectStream, stream_families
from labelloop.storage.records_stream import StreamCounts
from tests.api.test_metrics_endpoint import scrape
from tests.api.test_status_stream import drift_record, seed_stream
from tests.metrics.test_metric_families import samples
from tests.quality.seed import new_project


def test_items_by_status_selected_by_reason_and_the_drift_gauges() -> None:
    counts = StreamCounts(received=100, selected=7, pending=3, sending=1, created=3,
                          by_reason={"uncertain": 4, "audit": 3, "below_threshold": 90,
                                     "budget_cap": 3})
    got = samples(stream_families([
        ProjectStream(4, counts, drift_record(4, drifting=True, statistic=0.02)),
        ProjectStream(5, StreamCounts(received=3, by_reason={"below_threshold": 3}), None)]))
    items = {dict(ls)["status"]: v for (name, ls), v in got.items()
             if name == "labelloop_stream_items" and dict(ls)["project"] == "4"}
    assert items == {"ignored": 93, "pending": 3, "sending": 1, "created": 3, "deciding": 0}
    selected = {dict(ls)["reason"]: v for (name, ls), v in got.items()
                if name == "labelloop_stream_selected_total"}
    assert selected == {"uncertain": 4, "audit": 3}  # reasons that took no item are left out
    assert got["labelloop_stream_drift_statistic", (("project", "4"),)] == 0.02
    assert got["labelloop_stream_drift_threshold", (("project", "4"),)] == 0.0031
    assert got["labelloop_stream_drifting", (("project", "4"),)] == 1.0
    # a project not measured yet has items but no drift series (not a zero)
    assert got["labelloop_stream_items", (("project", "5"), ("status", "ignored"))] == 3
    assert ("labelloop_stream_drifting", (("project", "5"),)) not in got


def test_items_waiting_for_the_deferred_decision_are_not_counted_ignored() -> None:
    counts = StreamCounts(received=100, selected=4, pending=4, deciding=30,
                          by_reason={"uncertain": 4, "below_threshold": 66, "deciding": 30})
    got = samples(stream_families([ProjectStream(4, counts, None)]))
    items = {dict(ls)["status"]: v for (name, ls), v in got.items()
             if name == "labelloop_stream_items"}
    assert items["ignored"] == 66 and items["deciding"] == 30
    selected = {dict(ls)["reason"]: v for (name, ls), v in got.items()
                if name == "labelloop_stream_selected_total"}
    assert selected == {"uncertain": 4}  # waiting is not a selection


def test_metrics_endpoint_reads_them_from_the_database(client: TestClient) -> None:
    storage = client.app.state.services.storage
    new_project(storage, 1)
    new_project(storage, 2)
    assert not any(name.startswith("labelloop_stream") for name, _ in scrape(client))
    seed_stream(storage, 2, drift=drift_record(2))
    m = scrape(client)
    assert m["labelloop_stream_items", (("project", "2"), ("status", "pending"))] == 40
    assert m["labelloop_stream_items", (("project", "2"), ("status", "ignored"))] == 1140
    assert m["labelloop_stream_selected_total", (("project", "2"), ("reason", "feedback"))] == 15
    assert m["labelloop_stream_drifting", (("project", "2"),)] == 0.0
    assert m["labelloop_stream_drift_statistic", (("project", "2"),)] == 0.0012
    assert not any(dict(ls).get("project") == "1" for name, ls in m
                   if name.startswith("labelloop_stream"))
