"""POST /api/projects/{id}/triplets/corpus and GET /api/projects/{id}/triplets over HTTP: the
answers, bad input refused with a clear 4xx, the first mining round queued (never run in the
request), the status of a project with judged triplets and a fine-tune round."""

from __future__ import annotations

import pytest
from tests.conftest import CONFIG
from tests.triplets.configs import TRIPLET_CONFIG

from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind
from labelloop.loop.encoders import ENCODER_KIND
from labelloop.storage.records import Annotation
from labelloop.storage.records_triplets import TripletTaskRow

URL = "/api/projects/1/triplets/corpus"


def setup_project(client, pid: int = 1, config: str = TRIPLET_CONFIG) -> None:
    with client.app.state.services.storage.write() as tx:
        record_project(tx, pid, label_config=config)


def items(n: int, start: int = 0) -> list[dict]:
    return [{"text": f"text {i}", "group": f"g{i % 3}"} for i in range(start, start + n)]


def test_corpus_posts_store_once_and_queue_the_first_round_once(client) -> None:
    setup_project(client)
    woken: list[int] = []
    client.app.state.services.wake = lambda: woken.append(1)
    r = client.post(URL, json={"items": items(5) + [{"text": "no group"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"added": 6, "duplicates": 0, "corpus": 6, "mining": True}
    again = client.post(URL, json={"items": items(3, start=4)})
    assert again.json() == {"added": 2, "duplicates": 1, "corpus": 8, "mining": True}
    with client.app.state.services.storage.read() as tx:
        jobs = [j for j in tx.list_jobs(project_id=1) if j.kind is JobKind.TRIPLET_MINE]
        corpus = tx.get_corpus(1)
    assert len(jobs) == 1 and jobs[0].payload == {"round": 1}  # deduplicated while queued
    assert woken == [1, 1]
    assert [c.group for c in corpus][-3:] == [None, "g2", "g0"]


def test_a_corpus_too_small_to_mine_queues_nothing(client) -> None:
    setup_project(client)
    r = client.post(URL, json={"items": items(2)})
    assert r.json()["mining"] is False
    with client.app.state.services.storage.read() as tx:
        assert not tx.list_jobs(project_id=1)


@pytest.mark.parametrize("body, status, where", [
    ({"items": []}, 422, "items"),
    ({"items": [{"text": ""}]}, 422, "items[0].text"),
    ({"items": [{"text": "a", "group": ""}]}, 422, "items[0].group"),
    ({"items": [{"text": "a", "label": "x"}]}, 422, "items[0].label"),
    ({"items": [{"text": 3}]}, 422, "items[0].text"),
    ({"texts": ["a"]}, 422, "items"),
    (["a"], 400, "JSON object"),
    ({"items": [{"text": "   "}]}, 422, "items[0].text: empty"),
])
def test_bad_corpus_bodies_are_refused_saying_where(client, body, status, where) -> None:
    setup_project(client)
    r = client.post(URL, json=body)
    assert r.status_code == status, r.text
    assert where in r.json()["message"]
    with client.app.state.services.storage.read() as tx:
        assert tx.get_corpus(1) == []


def test_not_json_is_a_400(client) -> None:
    setup_project(client)
    r = client.post(URL, content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_body"


def test_unknown_and_non_triplet_projects(client) -> None:
    r = client.post(URL, json={"items": items(3)})
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"
    assert client.get("/api/projects/1/triplets").status_code == 404
    setup_project(client, config=CONFIG)
    r = client.post(URL, json={"items": items(3)})
    assert r.status_code == 422 and r.json()["error"] == "unsupported_config"
    assert "not a triplet project" in r.json()["message"]
    assert client.get("/api/projects/1/triplets").status_code == 422


def test_status_reports_tasks_judgements_llm_agreement_and_rounds(client) -> None:
    setup_project(client)
    client.post(URL, json={"items": items(9)})
    storage = client.app.state.services.storage
    with storage.write() as tx:
        c = [it.id for it in tx.get_corpus(1)]
        ids = tx.add_triplet_tasks(1, [
            TripletTaskRow(c[0], c[3], c[1], round=1, llm_judgement="first",
                           llm_confidence=0.9, llm_version="llm-x"),
            TripletTaskRow(c[1], c[4], c[2], round=1, llm_judgement="second"),
            TripletTaskRow(c[2], c[5], c[0], round=1)], at=1.0)
        tx.mark_triplets_created(1, {ids[0]: 100, ids[1]: 101})
        tx.ensure_tasks(1, [100, 101])
        tx.upsert_annotations([
            Annotation(1, 100, 1, 7, [{"from_name": "closer", "to_name": "anchor",
                                       "type": "choices", "value": {"choices": ["first"]}}],
                       False, False, None, "2026-01-01T00:00:00Z"),
            Annotation(2, 101, 1, 7, [{"from_name": "closer", "to_name": "anchor",
                                       "type": "choices", "value": {"choices": ["first"]}}],
                       False, False, None, "2026-01-01T00:00:00Z")], source="test")
        tx.add_model_version(1, "encoder-abc", kind=ENCODER_KIND, lineage={
            "kind": ENCODER_KIND, "task": "triplets", "round": 1, "judgements": 2,
            "train_triplets": 2, "before": {"recall_at_10": 0.5, "mrr": 0.4},
            "after": {"recall_at_10": 0.75, "mrr": 0.5}, "adopted": True,
            "training": {"steps": 3, "cpu_seconds": 1.5}})
    r = client.get("/api/projects/1/triplets")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["corpus"]["items"] == 9 and body["corpus"]["grouped"] == 9
    assert body["tasks"] == {"pending": 1, "sending": 0, "created": 2, "failed": 0}
    assert body["judgements"] == {"total": 2, "first": 2, "second": 0, "tie": 0}
    assert body["llm"] == {"pre_judged": 2, "compared": 2, "agreement": 0.5}
    assert body["mining_rounds"] == 1
    assert body["recall_at_10"] == 0.75 and body["mrr"] == 0.5
    (only,) = body["rounds"]
    assert only["version"] == "encoder-abc" and only["adopted"] and only["steps"] == 3


def test_the_routes_are_in_the_openapi_description(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/api/projects/{project_id}/triplets/corpus"]
    assert "get" in paths["/api/projects/{project_id}/triplets"]
