"""The production stream in ``/status`` and ``/api/projects/{id}/status`` (issue 17 §5)."""

from __future__ import annotations

import calendar
import time
from types import SimpleNamespace

import pytest
from tests.conftest import make_settings
from tests.quality.seed import new_project

from labelloop.storage.base import Storage
from labelloop.storage.records_stream import DriftRecord, StreamCounts, StreamItemRow
from labelloop.stream import status as status_module
from labelloop.stream.status import drift_sentence, drift_summary, stream_summary

# 1,200 items: the first 200, then the newest 1,000 (50 selected: 5 %)
FIRST = [("uncertain", True)] * 10 + [("below_threshold", False)] * 190
NEWEST = ([("uncertain", True)] * 30 + [("feedback", True)] * 15 + [("audit", True)] * 5
          + [("budget_cap", False)] * 10 + [("below_threshold", False)] * 940)
TODAY = float(int(time.time() // 86400) * 86400)
SENTENCE = ("Recent traffic (the last 500 items, 12:01–12:09 UTC) looks like the labelled set "
            "(MMD² 0.0012 below its threshold 0.0031, p = 0.41); predicted labels moved by 4 % "
            "(χ² p = 0.30).")


def pin_status_clock(monkeypatch: pytest.MonkeyPatch, *, at: float = TODAY + 13 * 3600) -> None:
    """The status' clock pinned to 13:00 UTC on ``TODAY``: read from the wall clock, a run that
    crosses midnight UTC between this module's import and the status call prints dates in the
    drift window (it did in CI), and the sentences below say "today"."""
    monkeypatch.setattr(status_module, "time", SimpleNamespace(
        time=lambda: at, strftime=time.strftime, gmtime=time.gmtime))


@pytest.fixture(autouse=True)
def _status_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    pin_status_clock(monkeypatch)


def drift_record(project_id: int = 1, *, day: float = TODAY, drifting: bool = False,
                 **kw: object) -> DriftRecord:
    base: dict[str, object] = {
        "project_id": project_id, "measured_at": day + 12 * 3600 + 600, "window_items": 500,
        "window_from": day + 12 * 3600 + 60, "window_to": day + 12 * 3600 + 540,
        "reference_items": 300, "statistic": 0.0012, "threshold": 0.0031, "p_value": 0.41,
        "drifting": drifting, "label_shift": 0.04, "label_p_value": 0.3,
        "details": {"reference_set": "labelled", "bandwidth": 1.1}}
    base.update(kw)
    return DriftRecord(**base)  # type: ignore[arg-type]


def seed_stream(storage: Storage, project_id: int = 1, *, drift: DriftRecord | None = None) -> None:
    """1,200 stream items (60 selected: uncertain 40, feedback 15, audit 5); 20 of the selected
    sent to Label Studio, 15 of them created; and ``drift`` as the latest measurement."""
    rows = [StreamItemRow(key=f"item-{i}", data={"text": f"text {i}"}, prediction=None,
                          feedback="negative" if reason == "feedback" else None,
                          correction=None, selected=sel, reason=reason)
            for i, (reason, sel) in enumerate(FIRST + NEWEST)]
    with storage.write() as tx:
        ids = tx.add_stream_items(project_id, rows[:200], at=TODAY)
        ids += tx.add_stream_items(project_id, rows[200:], at=TODAY + 60)
        chosen = [i for i, r in zip(ids, rows) if r.selected]
        tx.mark_stream_sending(project_id, chosen[:20], at=TODAY + 61)
        tx.mark_stream_created(project_id, {i: 9000 + i for i in chosen[:15]})
        if drift is not None:
            tx.save_drift(drift)


def test_project_status_has_the_stream_block_in_figures_and_words(storage: Storage,
                                                                   client_factory) -> None:
    new_project(storage, 1)
    seed_stream(storage, drift=drift_record())
    st = client_factory(stream_budget="5%").get("/api/projects/1/status").json()["stream"]
    assert st["received"] == 1200
    assert st["selected"] == {"total": 60,
                              "by_reason": {"uncertain": 40, "feedback": 15, "audit": 5}}
    assert st["decisions"]["below_threshold"] == 1130 and st["decisions"]["budget_cap"] == 10
    assert (st["pending"], st["sending"], st["created"]) == (40, 5, 15)
    assert st["budget"] == {"setting": "5%", "mode": "share", "value": 0.05,
                            "words": "5 % of items"}
    assert st["realised"] == {"items": 1000, "selected": 50, "rate": 0.05}
    d = st["drift"]
    assert d["state"] == "stable" and d["sentence"] == SENTENCE
    assert d["window"] == {"items": 500, "from": TODAY + 43260, "to": TODAY + 43740}
    assert (d["statistic"], d["threshold"], d["p_value"]) == (0.0012, 0.0031, 0.41)
    assert d["label_shift"] == 0.04 and d["measured_at"] == TODAY + 43800


def test_every_project_in_status_has_one_and_an_empty_stream_is_not_measured(
        storage: Storage, client_factory) -> None:
    new_project(storage, 1)
    new_project(storage, 2)
    seed_stream(storage, 2, drift=drift_record(2, drifting=True, statistic=0.021,
                                               p_value=0.004975, label_shift=0.18))
    projects = {p["id"]: p["stream"] for p in client_factory().get("/status").json()["projects"]}
    empty = projects[1]
    assert empty["received"] == 0 and empty["selected"]["total"] == 0
    assert empty["realised"]["rate"] is None
    assert empty["drift"]["state"] == "not measured yet" and empty["drift"]["statistic"] is None
    assert empty["drift"]["sentence"] == ("Drift is not measured yet: it needs 50 stream items "
                                          "with text (0 so far).")
    d = projects[2]["drift"]
    assert d["state"] == "drifting"
    assert d["sentence"].startswith(
        "Recent traffic (the last 500 items, 12:01–12:09 UTC) has drifted from the labelled set "
        "(MMD² 0.0210 above its threshold 0.0031, p = 0.005); predicted labels moved by 18 %")


def test_the_sentence_in_other_cases() -> None:
    day = float(calendar.timegm((2026, 3, 2, 0, 0, 0)))
    rec = drift_record(day=day, label_shift=None, label_p_value=None,
                       window_from=day - 120, p_value=0.0004,
                       details={"reference_set": "tasks"})
    assert drift_sentence(rec, now=day + 50_000) == (
        "Recent traffic (the last 500 items, 2026-03-01 23:58–2026-03-02 12:09 UTC) looks like "
        "the project's tasks (MMD² 0.0012 below its threshold 0.0031, p < 0.001); predicted "
        "labels not compared (no screening-model labels or no human labels). Fewer than 50 "
        "tasks are labelled: the project's tasks stand in for the labelled set.")
    # on another day than the window's, the dates are said
    assert "2026-03-02 12:01–2026-03-02 12:09 UTC" in drift_sentence(drift_record(day=day),
                                                                      now=day + 3 * 86400)
    later = drift_summary(None, received=1234, every_n=500, now=0.0)
    assert later["sentence"] == ("Drift is not measured yet: 1,234 stream items so far; it is "
                                 "measured every 500 new items.")


def test_a_daily_budget_in_words(tmp_path) -> None:
    s = make_settings(tmp_path, stream_budget="200/day")
    block = stream_summary(StreamCounts(received=10, selected=2, pending=2,
                                        by_reason={"audit": 2, "below_threshold": 8}), None,
                           recent_items=10, recent_selected=2, settings=s, now=0.0)
    assert block["budget"]["words"] == "200 items a day" and block["realised"]["rate"] == 0.2
    assert block["selected"]["by_reason"] == {"audit": 2}
