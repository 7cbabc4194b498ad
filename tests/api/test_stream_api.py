"""POST /api/projects/{id}/stream over HTTP: the answers' shapes and statuses (idempotent
retries, partial batches, size limits, basic auth, unknown and unsupported projects), the
OpenAPI entry, and the worker woken once an export job is queued."""

from __future__ import annotations

from tests.conftest import CONFIG

from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind

SPANS = """<View><Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/></Labels></View>"""
REMOTE = ("192.0.2.7", 50000)
URL = "/api/projects/1/stream"


def items(start: int, n: int, **kw: object) -> list[dict]:
    return [{"key": f"k{i}", "data": {"text": f"text {i}"}, **kw}
            for i in range(start, start + n)]


def setup_project(client, pid: int = 1, config: str = CONFIG) -> None:
    storage = client.app.state.services.storage
    with storage.write() as tx:
        record_project(tx, pid, label_config=config)


def test_a_batch_and_its_retry(client_factory) -> None:
    client = client_factory(stream_budget="0.5", label_studio_url="http://ls",
                            label_studio_api_key="k", stream_decide="ingest")
    setup_project(client)
    r = client.post(URL, json={"items": items(0, 40)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"received", "selected", "duplicates"}
    assert body["received"] == 40 and body["duplicates"] == 0 and body["selected"]
    again = client.post(URL, json={"items": items(0, 40)})
    assert again.status_code == 200 and again.json() == {"received": 0, "selected": [],
                                                          "duplicates": 40}
    storage = client.app.state.services.storage
    with storage.read() as tx:
        assert len(tx.get_stream_items(1)) == 40
        kinds = [j.kind for j in tx.list_jobs(project_id=1)]
    assert kinds.count(JobKind.STREAM_EXPORT) == 1


def test_deferred_answers_at_once_with_the_items_stored_undecided(client_factory) -> None:
    client = client_factory(stream_budget="0.5", label_studio_url="http://ls",
                            label_studio_api_key="k")  # the default: stream_decide="deferred"
    setup_project(client)
    woken: list[int] = []
    client.app.state.services.stream.wake = lambda: woken.append(1)
    r = client.post(URL, json={"items": items(0, 40)})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 40, "selected": [], "duplicates": 0, "deciding": 40}
    assert woken == [1]  # the decide job was queued: the worker is woken
    again = client.post(URL, json={"items": items(0, 40) + items(40, 2)})
    assert again.json() == {"received": 2, "selected": [], "duplicates": 40, "deciding": 2}
    storage = client.app.state.services.storage
    with storage.read() as tx:
        stored = tx.get_stream_items(1)
        kinds = [j.kind for j in tx.list_jobs(project_id=1)]
        counts = tx.stream_counts(1)
    assert len(stored) == 42
    assert {(it.status, it.reason, it.selected) for it in stored} == {
        ("deciding", "deciding", False)}
    assert kinds.count(JobKind.STREAM_DECIDE) == 1 and JobKind.STREAM_EXPORT not in kinds
    assert (counts.received, counts.selected, counts.deciding) == (42, 0, 42)
    status = client.get("/api/projects/1/status").json()["stream"]
    assert status["deciding"] == 42 and status["selected"]["total"] == 0
    assert status["realised"]["items"] == 0  # undecided items are not in the rate


def test_a_partial_batch_is_a_422_naming_each_bad_item(client_factory) -> None:
    client = client_factory(stream_budget="1")
    setup_project(client)
    batch = items(0, 5)
    batch[1]["data"] = {"body": "no text field"}
    batch[2]["feedback"] = "angry"
    batch[4] = {"data": {"text": "no key"}}
    r = client.post(URL, json={"items": batch})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input" and "3 item(s) refused" in body["message"]
    assert [(e["index"], e["key"], e["field"]) for e in body["errors"]] == [
        (1, "k1", "data.text"), (2, "k2", "feedback"), (4, None, "key")]
    assert body["accepted"] == ["k0", "k3"] and body["received"] == 2
    assert body["duplicates"] == 0
    with client.app.state.services.storage.read() as tx:
        rows = tx.get_stream_items(1)
    assert sorted(i.key for i in rows) == ["k0", "k3"]
    assert body["selected"] == [i.key for i in rows if i.selected]


def test_size_limits(client_factory) -> None:
    client = client_factory(stream_max_batch=10, max_body_bytes=20_000)
    setup_project(client)
    r = client.post(URL, json={"items": items(0, 11)})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert "at most 10" in r.json()["message"]
    big = client.post(URL, json={"items": [{"key": "a", "data": {"text": "x" * 30_000}}]})
    assert big.status_code == 413
    with client.app.state.services.storage.read() as tx:
        assert tx.get_stream_items(1) == []


def test_bodies_that_are_not_a_batch(client_factory) -> None:
    client = client_factory()
    setup_project(client)
    assert client.post(URL, content=b"{not json").status_code == 400
    for body in ([], {"item": []}, {"items": "x"}):
        r = client.post(URL, json=body)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_input"), body


def test_unknown_and_unsupported_projects(client_factory) -> None:
    client = client_factory()
    r = client.post("/api/projects/7/stream", json={"items": items(0, 1)})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_project")
    setup_project(client, 2, SPANS)
    r = client.post("/api/projects/2/stream", json={"items": items(0, 1)})
    assert (r.status_code, r.json()["error"]) == (422, "unsupported_config")


def test_basic_auth_is_required_when_configured(client_factory) -> None:
    client = client_factory(client=REMOTE, basic_auth_user="u", basic_auth_password="p")
    setup_project(client)
    assert client.post(URL, json={"items": items(0, 1)}).status_code == 401
    assert client.post(URL, json={"items": items(0, 1)}, auth=("u", "x")).status_code == 401
    r = client.post(URL, json={"items": items(0, 1)}, auth=("u", "p"))
    assert r.status_code == 200 and r.json()["received"] == 1
    # without basic auth, a remote client is kept off labelloop's own API
    assert client_factory(client=REMOTE).post(URL, json={"items": []}).status_code == 403


def test_the_route_is_in_the_openapi_spec(client) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/projects/{project_id}/stream"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/StreamRequest")
    assert {"200", "401", "404", "413", "422"} <= set(op["responses"])
    item = spec["components"]["schemas"]["StreamItemIn"]
    assert set(item["properties"]) == {"key", "data", "prediction", "feedback", "correction"}


def test_the_worker_is_woken_after_a_selection(client_factory) -> None:
    client = client_factory(stream_budget="1", label_studio_url="http://ls",
                            label_studio_api_key="k", stream_decide="ingest")
    setup_project(client)
    woken: list[int] = []
    client.app.state.services.stream.wake = lambda: woken.append(1)
    r = client.post(URL, json={"items": items(0, 30)})
    assert r.json()["selected"] and woken == [1]
