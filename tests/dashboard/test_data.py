"""The dashboard's data endpoint, its pieces, and the static files it is served from."""

from __future__ import annotations

from importlib import resources

import pytest

from labelloop.dashboard.data import learning_curve, queue_head
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.quality.seed import annotation, new_project, seed_project


def test_learning_curve_reads_retrain_lineage_in_order() -> None:
    versions = [
        {"version": "m0", "kind": "retrain", "created_at": 1.0,
         "lineage": {"n_labeled": 8, "cv_accuracy": None, "cv_macro_f1": None,
                     "llm_human_agreement": None, "strategy": "cold_start", "n_ranked": 92}},
        {"version": "q0", "kind": "queue", "created_at": 2.0, "lineage": {"model": "m0"}},
        {"version": "m1", "kind": "retrain", "created_at": 3.0,
         "lineage": {"n_labeled": 50, "cv_accuracy": 0.7, "cv_macro_f1": 0.6,
                     "llm_human_agreement": 0.8, "strategy": "default", "n_ranked": 50,
                     "trained_at": 3.0}},
        {"version": "m2", "kind": "retrain", "created_at": 4.0,  # model_lineage's own shape
         "lineage": {"n_train": 70, "cv": {"accuracy": 0.75, "macro_f1": 0.7}}},
    ]
    got = learning_curve(versions)
    assert [p["version"] for p in got] == ["m0", "m1", "m2"]
    assert got[0]["cv_accuracy"] is None and got[0]["strategy"] == "cold_start"
    assert (got[1]["n_labeled"], got[1]["cv_accuracy"], got[1]["llm_human_agreement"]) == (
        50.0, 0.7, 0.8)
    assert (got[2]["n_labeled"], got[2]["cv_accuracy"], got[2]["cv_macro_f1"]) == (70.0, 0.75,
                                                                                   0.7)
    assert learning_curve([{"kind": "retrain", "lineage": {"cv_accuracy": "high"}}])[0][
        "cv_accuracy"] is None


def test_queue_head_skips_tasks_labelled_since_publishing(storage: Storage) -> None:
    new_project(storage, 1, n_tasks=5)
    t = [100_000 + i for i in range(5)]
    with storage.write() as tx:
        tx.upsert_tasks(1, [{"id": t[0], "data": {"text": "  long\n text " * 40}}])
        tx.save_queue([QueueEntry(1, "q1", tid, r, r / 10, reason, audit=reason == "audit")
                       for r, (tid, reason) in enumerate(zip(t, ["disagreement", "audit",
                                                                 "uncertainty", "rest",
                                                                 "rest"]))])
        tx.upsert_annotations([annotation(1, t[1], 1, "positive")], source="webhook")
        tx.upsert_annotations([annotation(2, t[2], 1, None, cancelled=True)], source="webhook")
    with storage.read() as tx:
        q = queue_head(tx, 1, "q1", "text", limit=3)
        assert queue_head(tx, 1, None, "text")["head"] == []
    assert [(e["task_id"], e["reason"]) for e in q["head"]] == [
        (t[0], "disagreement"), (t[2], "uncertainty"), (t[3], "rest")]  # t1 labelled; t2 skipped
    assert q["labelled_since"] == 1 and q["size"] == 5 and q["audit"] == 1
    assert q["reasons"] == {"rest": 2, "disagreement": 1, "audit": 1, "uncertainty": 1}
    assert q["head"][0]["text"].startswith("long text long") and len(q["head"][0]["text"]) == 140


def test_dashboard_endpoint_bundles_status_curve_queue_usage_and_quality(
    storage: Storage, client_factory
) -> None:
    s = seed_project(storage, n_tasks=100, seed=2)
    client = client_factory()
    d = client.get("/api/projects/1/dashboard").json()
    assert set(d) == {"generated_at", "project", "learning_curve", "queue", "llm_usage",
                      "quality"}
    assert [p["version"] for p in d["learning_curve"]] == [v["version"]
                                                           for v in s.retrain_versions]
    assert d["queue"]["version"] == "queue-3" and len(d["queue"]["head"]) == 15
    assert d["llm_usage"]["calls"] == 100 and d["llm_usage"]["tokens"] == 100 * 432
    assert d["quality"] == client.get("/api/projects/1/quality",
                                      params={"review_limit": 15}).json()
    running = [j for j in d["project"]["recent_jobs"] if j["status"] == "running"]
    assert running[0]["progress"] == {"done": 120, "total": 400}
    assert client.get("/api/projects/5/dashboard").status_code == 404


def test_dashboard_endpoint_keeps_working_for_an_unsupported_config(
    storage: Storage, client_factory
) -> None:
    new_project(storage, 1, n_tasks=2, config="<View><Image name='i' value='$i'/></View>")
    d = client_factory().get("/api/projects/1/dashboard").json()
    assert d["quality"]["error"] == "unsupported_config"
    assert d["queue"]["version"] is None and d["learning_curve"] == []


def test_page_and_static_files_are_served_and_nothing_else(client_factory) -> None:
    client = client_factory()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for ref in ("dashboard/static/dashboard.js", "dashboard/static/dashboard.css"):
        assert ref in page.text
        r = client.get(f"/{ref}")
        assert r.status_code == 200 and len(r.content) > 1000
    assert client.get("/dashboard/static/dashboard.js").headers["content-type"].startswith(
        "text/javascript")
    for bad in ("../__init__.py", "..%2Frouter.py", "nope.js", ".hidden.css", "router.py"):
        assert client.get(f"/dashboard/static/{bad}").status_code == 404, bad


@pytest.mark.parametrize("name", ["index.html", "dashboard.js", "dashboard.css"])
def test_static_files_ship_as_package_data_without_external_urls(name: str) -> None:
    text = resources.files("labelloop.dashboard").joinpath("static", name).read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text and "//cdn" not in text
