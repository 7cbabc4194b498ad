"""Every hostile input of issue 18 as a regression test: a 4xx that says what is wrong, never a
5xx, and nothing a webhook client sends is silently lost or stored whole when it is not applied.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CONFIG

from labelloop.events.parse import MAX_STUB_CHARS

TOO_BIG = 2**63  # one past the largest id
DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
PROJECT_PATHS = ["/api/projects/{}/status", "/api/projects/{}/quality",
                 "/api/projects/{}/dashboard"]


def setup(client: TestClient, project: object = "1.1700000000") -> None:
    r = client.post("/setup", json={"project": project, "schema": CONFIG})
    assert r.status_code == 200, r.text


def _events(client: TestClient) -> list[dict]:
    import sqlalchemy as sa

    from labelloop.storage import tables as t

    storage = client.app.state.services.storage
    with storage.read() as tx:
        rows = tx.conn.execute(sa.select(t.webhook_events).order_by(t.webhook_events.c.id))
        return [dict(r._mapping) for r in rows]


# --- ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PROJECT_PATHS)
@pytest.mark.parametrize("pid", [str(TOO_BIG), str(10**30), "-5", "0", "١٢", "²", "1e3", "12.0",
                                 "9" * 5000])
def test_project_ids_in_paths_are_positive_63_bit_ascii(client: TestClient, path: str,
                                                        pid: str) -> None:
    r = client.get(path.format(pid))
    assert r.status_code == 422, (pid, r.text[:200])
    assert r.json()["error"] == "invalid_input" and "project_id" in r.json()["message"]


@pytest.mark.parametrize("method, path", [("post", "/api/projects/{}/resync"),
                                          ("post", "/api/projects/{}/queue")])
def test_project_ids_in_post_paths(client: TestClient, method: str, path: str) -> None:
    r = getattr(client, method)(path.format(TOO_BIG), json={"scores": {"1": 1}})
    assert r.status_code == 422, r.text


def test_the_largest_id_is_an_id(client: TestClient) -> None:
    r = client.get(f"/api/projects/{TOO_BIG - 1}/status")
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"


@pytest.mark.parametrize("query", [f"project={TOO_BIG}", "project=-5", "project=١٢",
                                   f"limit={10**30}", "limit=0", "limit=١"])
def test_ids_and_counts_in_query_strings(client: TestClient, query: str) -> None:
    r = client.get(f"/api/jobs?{query}")
    assert r.status_code == 422, r.text


def test_review_limit_in_arabic_indic_digits_is_refused(client: TestClient) -> None:
    setup(client)
    r = client.get("/api/projects/1/quality", params={"review_limit": "١"})
    assert r.status_code == 422 and "review_limit" in r.json()["message"]


@pytest.mark.parametrize("project", [10**30, TOO_BIG, -5, 0, "١٢", "١٢.1700000000", "-5.17",
                                     True, 12.0, "12 ", "²"])
def test_project_ids_in_bodies(client: TestClient, project: object) -> None:
    r = client.post("/setup", json={"project": project, "schema": CONFIG})
    assert r.status_code == 422 and "project" in r.json()["message"], r.text
    r = client.post("/predict", json={"project": project, "label_config": CONFIG,
                                      "tasks": [{"id": 1, "data": {"text": "a"}}]})
    assert r.status_code == 422 and "project" in r.json()["message"], r.text
    r = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project})
    assert r.status_code == 422, r.text
    assert client.get("/status").json()["projects"] == []


def test_label_studio_project_key_still_parses(client: TestClient) -> None:
    setup(client, f"{TOO_BIG - 1}.1700000000")
    assert client.get(f"/api/projects/{TOO_BIG - 1}/status").status_code == 200


@pytest.mark.parametrize("task_id", [10**30, -5, "١٢", 0])
def test_task_and_annotation_ids_in_bodies(client: TestClient, task_id: object) -> None:
    setup(client)
    r = client.post("/predict", json={"project": "1.1", "tasks": [{"id": task_id, "data": {}}]})
    assert r.status_code == 422 and "tasks[0].id" in r.json()["message"], r.text
    r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": 1,
                                      "annotation": {"id": task_id, "task": 1, "result": []}})
    assert r.status_code == 422, r.text
    r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": 1,
                                      "annotation": {"id": 1, "task": task_id, "result": []}})
    assert r.status_code == 422, r.text


# --- JSON: depth, finiteness, sizes ------------------------------------------------------------
@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT, b'{"a":' * 65 + b"1" + b"}" * 65])
@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook", "/api/projects/1/queue"])
def test_deep_nesting_is_400(client_factory, path: str, body: bytes) -> None:
    # no Label Studio configured and no project known: the body is refused first
    client = client_factory()
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"] == "malformed_body" and "nested" in r.json()["message"]


def test_nesting_up_to_the_cap_is_read(client: TestClient) -> None:
    setup(client)
    deep = {"a": 1}
    for _ in range(55):  # 4 levels above data's, 56 in it: 60 of the 64
        deep = {"a": deep}
    r = client.post("/predict", json={"project": "1.1", "tasks": [
        {"id": 1, "data": {"text": "x", "deep": deep}}]})
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize("score", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400",
                                   b"1" + b"0" * 400])
def test_non_finite_numbers_are_refused(client: TestClient, score: bytes) -> None:
    setup(client)
    for path, body in [("/api/projects/1/queue", b'{"scores": {"1": %s}}' % score),
                       ("/predict", b'{"project": "1.1", "tasks": [{"id": 1, "data": '
                                    b'{"text": "a", "x": %s}}]}' % score),
                       ("/webhook", b'{"action": "ANNOTATION_CREATED", "project": 1, '
                                    b'"annotation": {"id": 1, "task": 1, "result": [], '
                                    b'"lead_time": %s}}' % score)]:
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert "finite" in r.json()["message"]


@pytest.mark.parametrize("key", ["²", "١٢", "-5", "0", "9" * 5000, str(TOO_BIG), " 1", "1.0"])
def test_queue_keys_are_task_ids(client_factory, key: str) -> None:
    client = client_factory(label_studio_url="http://ls", label_studio_api_key="k" * 12)
    setup(client)
    r = client.post("/api/projects/1/queue", json={"scores": {key: 1.0}})
    assert r.status_code in (400, 422), r.text[:300]  # 400: a key over 1,024 characters


def test_queue_values_and_fields(client_factory) -> None:
    client = client_factory(label_studio_url="http://ls", label_studio_api_key="k" * 12)
    setup(client)
    for body in [{"scores": {"1": True}}, {"scores": {"1": "1"}}, {"scores": {}},
                 {"scores": {"1": 1}, "version": ""}, {"scores": {"1": 1}, "version": "x" * 500},
                 {"scores": {"1": 1}, "version": "a b"}, {"scores": [1]}]:
        r = client.post("/api/projects/1/queue", json=body)
        assert r.status_code == 422, (body, r.text[:300])
    r = client.post("/api/projects/1/queue", json={"scores": {"1": 1e308, "2": -1e308}})
    assert r.status_code == 202, r.text


def test_keys_and_strings_are_bounded(client: TestClient) -> None:
    setup(client)
    r = client.post("/predict", json={"project": "1.1", "tasks": [
        {"id": 1, "data": {"k" * 1025: "x"}}]})
    assert r.status_code == 400 and "key" in r.json()["message"]


def test_bad_body_answers_before_label_studio_or_the_project(client_factory) -> None:
    no_ls = client_factory()
    r = no_ls.post("/api/projects/77/queue", json={"scores": {"²": 1}})
    assert r.status_code == 422, r.text  # not 404 (unknown project), not 503 (no Label Studio)
    r = no_ls.post("/api/projects/77/queue", content=b"[" * 5000,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = no_ls.post("/predict", json={"project": "77.1", "tasks": [{"id": -1}]})
    assert r.status_code == 422


def test_lone_surrogates_and_nul_in_stored_fields_get_no_5xx(client: TestClient) -> None:
    def post(path: str, body: dict) -> int:  # ASCII JSON: the escapes reach the server as sent
        return client.post(path, content=json.dumps(body).encode(),
                           headers={"content-type": "application/json"}).status_code

    assert post("/setup", {"project": "1.1",
                           "schema": CONFIG.replace("positive", "pos\udc80\x00")}) == 200
    assert post("/setup", {"project": "2.1", "schema": "\udc80"}) == 422  # not XML
    assert post("/setup", {"project": "4.1", "schema": CONFIG, "hostname": "\udc80\x00"}) == 200
    assert post("/webhook", {"action": "\udc80"}) == 422
    assert post("/webhook", {"action": "PROJECT_UPDATED",
                             "project": {"id": 3, "title": "t\x00\udc80"}}) == 200
    assert post("/webhook", {"action": "ANNOTATION_CREATED", "project": 3, "annotation": {
        "id": 1, "task": 1, "updated_at": "\udc80", "result": [{"value": "\x00\udc80"}]}}) == 200
    assert post("/webhook", {"action": "PROJECT_UPDATED",
                             "project": {"id": 3, "label_config": 5}}) == 422
    titles = {p["id"]: p["title"] for p in client.get("/status").json()["projects"]}
    assert titles[3] == "t\ufffd"


# --- webhooks: stubs, the event size cap -------------------------------------------------------
def test_a_deeply_nested_webhook_is_400_and_recorded_as_a_stub(client: TestClient) -> None:
    r = client.post("/webhook", content=DEEP_LIST, headers={"content-type": "application/json"})
    assert r.status_code == 400  # was 503, and nothing stored
    (row,) = _events(client)
    assert row["status"] == "invalid" and "nested" in row["error"]
    stub = json.loads(row["body"])
    assert stub["size"] == len(DEEP_LIST) and stub["head"] == "[" * 1024
    assert len(row["body"]) < 2048 and stub["sha256"] == row["body_hash"]


@pytest.mark.parametrize("body", [b"x" * 200_000, b"\xff\xfe" * 100_000, b"\x01" * 200_000,
                                  json.dumps({"action": "SOMETHING_NEW",
                                              "blob": "y" * 200_000}).encode()])
def test_bodies_not_applied_are_stored_as_bounded_stubs(client: TestClient, body: bytes) -> None:
    r = client.post("/webhook", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400)  # 200: an action labelloop ignores
    (row,) = _events(client)
    assert row["status"] in ("invalid", "ignored")
    assert len(row["body"]) <= MAX_STUB_CHARS and json.loads(row["body"])["size"] == len(body)


def test_duplicates_are_stubs_and_applied_events_verbatim(client: TestClient) -> None:
    event = json.dumps({"action": "TASKS_CREATED", "project": {"id": 1},
                        "tasks": [{"id": 4, "data": {"text": "x" * 5000}}]})
    for _ in range(2):
        assert client.post("/webhook", content=event).status_code == 200
    applied, duplicate = _events(client)
    assert applied["status"] == "applied" and applied["body"] == event
    assert duplicate["status"] == "duplicate" and len(duplicate["body"]) < 2048


def test_events_over_the_cap_are_413_and_stubs(client_factory) -> None:
    client = client_factory(webhook_max_event_bytes=4096)
    event = json.dumps({"action": "TASKS_CREATED", "project": {"id": 1},
                        "tasks": [{"id": 4, "data": {"text": "x" * 10_000}}]}).encode()
    r = client.post("/webhook", content=event)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert "LABELLOOP_WEBHOOK_MAX_EVENT_BYTES" in r.json()["message"]

    def chunks():  # streamed, without Content-Length
        for i in range(0, len(event), 1000):
            yield event[i:i + 1000]

    assert client.post("/webhook", content=chunks()).status_code == 413
    rows = _events(client)
    assert [(r["status"], "LABELLOOP_WEBHOOK_MAX_EVENT_BYTES" in r["error"]) for r in rows] \
        == [("invalid", True)] * 2
    import hashlib
    for row in rows:
        stub = json.loads(row["body"])
        assert stub["size"] == len(event) and stub["sha256"] == hashlib.sha256(event).hexdigest()
        assert stub["head"] == event[:1024].decode() and len(row["body"]) < 2048
    assert client.get("/api/projects/1/status").status_code == 404  # nothing applied
    small = json.dumps({"action": "TASKS_CREATED", "project": {"id": 1},
                        "tasks": [{"id": 4, "data": {"text": "x"}}]})
    assert client.post("/webhook", content=small).status_code == 200


def test_twenty_megabyte_posts_do_not_grow_the_database(client: TestClient) -> None:
    body = b'{"action": "NOT_LABELLOOPS", "x": "' + b"z" * (20 * 2**20) + b'"}'
    for _ in range(2):
        assert client.post("/webhook", content=body).status_code == 413  # over the 16 MiB cap
    assert sum(len(r["body"]) for r in _events(client)) < 4096


# --- the spec: request bodies and error answers -------------------------------------------------
def test_openapi_documents_every_body_and_error(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(spec)
    for path in ("/setup", "/predict", "/webhook", "/api/projects/{project_id}/queue"):
        assert "requestBody" in spec["paths"][path]["post"], path
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
            assert {"401", "413"} <= set(errors), (method, path)
            for status, r in errors.items():
                ref = r["content"]["application/json"]["schema"]["$ref"]
                assert is_error_body(spec, ref), (method, path, status, ref)


def is_error_body(spec: dict, ref: str) -> bool:
    """``ErrorBody`` itself, or a schema that extends it (every ErrorBody field, with the same
    schema, and every required one required: the stream's partial-batch 422 adds its counts)."""
    schemas = spec["components"]["schemas"]
    base, got = schemas["ErrorBody"], schemas[ref.rsplit("/", 1)[-1]]
    return ref == "#/components/schemas/ErrorBody" or (
        all(got.get("properties", {}).get(k) == v for k, v in base["properties"].items())
        and set(base.get("required", [])) <= set(got.get("required", [])))


def test_422_body_matches_the_spec(client: TestClient) -> None:
    import jsonschema_rs

    spec = client.get("/openapi.json").json()
    validator = jsonschema_rs.validator_for(spec["components"]["schemas"]["ErrorBody"])
    for r in (client.get("/api/projects/-5/status"), client.post("/setup", json={})):
        assert r.status_code == 422
        validator.validate(r.json())
        assert r.json()["detail"][0]["loc"] and r.json()["detail"][0]["msg"]


def test_405_says_which_methods_are_allowed(client: TestClient) -> None:
    r = client.delete("/setup")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_hostile_inputs_on_postgresql(postgres_server, tmp_path) -> None:
    """What PostgreSQL refuses and SQLite takes: ids past 2^31-1 (INTEGER), NUL and lone
    surrogates in text and JSON, strings past a VARCHAR's size."""
    from tests.conftest import LOOPBACK_CLIENT, make_settings

    from labelloop.api.app import Overrides, create_app
    from labelloop.storage.base import open_storage

    storage = open_storage(postgres_server.new_database())
    app = create_app(make_settings(tmp_path), Overrides(storage=storage, start_worker=False,
                                                        preload_libraries=False))
    big = 2**63 - 1
    try:
        with TestClient(app, client=LOOPBACK_CLIENT) as client:
            def post(path: str, body: dict) -> int:
                return client.post(path, content=json.dumps(body).encode(),
                                   headers={"content-type": "application/json"}).status_code

            assert post("/setup", {"project": f"{big}.1", "schema": CONFIG}) == 200
            assert post("/setup", {"project": "1.1", "schema": CONFIG + "\x00"}) == 200
            assert post("/predict", {"project": "1.1", "tasks": [
                {"id": big, "data": {"text": "a\x00\udc80"}}]}) == 200
            assert post("/webhook", {"action": "ANNOTATION_CREATED", "project": 1, "annotation": {
                "id": big, "task": big, "completed_by": big,
                "result": [{"value": "\x00\udc80"}]}}) == 200
            assert post("/webhook", {"action": "PROJECT_UPDATED", "project": {
                "id": 1, "title": "t\x00", "model_version": "v" * 201}}) == 200
            assert client.get(f"/api/projects/{big}/status").status_code == 200
            assert client.get(f"/api/jobs?project={big}").status_code == 200
            assert client.get("/api/projects/1/status").json()["annotations"] == 1
    finally:
        storage.close()
