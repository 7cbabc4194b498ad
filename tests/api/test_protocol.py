from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CONFIG

from labelloop.storage.records import Prediction

NER = """<View><Text name="text" value="$text"/>
<Labels name="ents" toName="text"><Label value="PER"/><Label value="ORG"/></Labels></View>"""
BOXES = """<View><Image name="image" value="$image"/>
<RectangleLabels name="box" toName="image"><Label value="cat"/></RectangleLabels></View>"""


def setup(client: TestClient, xml: str = CONFIG, project: str = "1.1700000000", **kw: object):
    return client.post("/setup", json={"project": project, "schema": xml,
                                       "hostname": "http://ls.example", "access_token": "tok" * 4,
                                       "extra_params": None, **kw})


def test_health_is_up(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "UP"


def test_setup_records_project_and_answers_model_version(client: TestClient) -> None:
    r = setup(client)
    assert r.status_code == 200 and r.json() == {"model_version": "labelloop-0"}
    st = client.get("/api/projects/1/status").json()
    assert st["supported"] and st["schema"]["from_name"] == "sentiment"
    assert [c["output"] for c in st["schema"]["choices"]] == ["positive", "negative", "neutral"]


def test_setup_accepts_unsupported_config_and_reports_it(client: TestClient) -> None:
    r = setup(client, BOXES, project="2.17")
    assert r.status_code == 200
    st = client.get("/api/projects/2/status").json()
    assert st["supported"] is False and "RectangleLabels 'box'" in st["unsupported_reason"]
    res = client.post("/predict", json={"tasks": [{"id": 1, "data": {"image": "/x.png"}}],
                                        "project": "2.17"}).json()
    assert res["results"] == [[]]  # no prediction rather than a wrong one
    assert any(p["id"] == 2 and not p["supported"] for p in client.get("/status").json()["projects"])


def test_setup_serves_a_span_config(client: TestClient) -> None:
    assert setup(client, NER, project="3.17").status_code == 200
    st = client.get("/api/projects/3/status").json()
    assert st["supported"] is True and st["schema"]["task_type"] == "text_spans"
    assert st["schema"]["from_name"] == "ents" and st["schema"]["to_name"] == "text"
    assert [c["output"] for c in st["schema"]["choices"]] == ["PER", "ORG"]


def test_setup_ignores_sent_credentials_unless_trusted(client_factory) -> None:
    c = client_factory()
    setup(c)
    assert c.get("/api/projects/1/status").json()["label_studio_api"] is False
    trusted = client_factory(trust_setup_credentials=True)
    setup(trusted, project="5.1")
    assert trusted.get("/api/projects/5/status").json()["label_studio_api"] is True
    kinds = {j["kind"] for j in trusted.get("/api/jobs?project=5").json()["jobs"]}
    assert "resync" in kinds


@pytest.mark.parametrize("payload, status, needle", [
    ({"schema": CONFIG}, 422, "project"),
    ({"project": "1.1"}, 422, "schema"),
    ({"project": "x.1", "schema": CONFIG}, 422, "project"),
    ({"project": "1.1", "schema": "<View><Text"}, 422, "XML"),
    ({"project": "1.1", "schema": CONFIG, "extra_params": [1]}, 422, "extra_params"),
])
def test_setup_bad_input(client: TestClient, payload: dict, status: int, needle: str) -> None:
    r = client.post("/setup", json=payload)
    assert r.status_code == status and needle in r.json()["message"]


def test_predict_answers_stored_predictions_one_per_task_in_order(client: TestClient) -> None:
    setup(client)
    tasks = [{"id": i, "data": {"text": f"t{i}"}, "project": 1} for i in (3, 1, 2)]
    assert client.post("/predict", json={"tasks": tasks, "project": "1.17"}).json()["results"] \
        == [[], [], []]
    good = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": ["negative"]}, "score": 0.8}]
    bad = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
            "value": {"choices": ["angry"]}}]
    storage = client.app.state.services.storage
    with storage.write() as tx:
        tx.save_predictions([Prediction(1, 1, "llm", "llm-x", good, 0.8),
                             Prediction(2, 1, "llm", "llm-x", bad, 0.9)])
    res = client.post("/predict", json={"tasks": tasks, "project": "1.17"}).json()
    assert res["results"] == [[], {"result": good, "score": 0.8, "model_version": "llm-x"}, []]
    assert res["count"] == {"tasks": 3, "predictions": 1}


def test_predict_registers_unknown_project_from_label_config(client: TestClient) -> None:
    r = client.post("/predict", json={"tasks": [{"id": 1, "data": {"text": "a"}}],
                                      "project": "9.1", "label_config": CONFIG})
    assert r.status_code == 200
    st = client.get("/api/projects/9/status").json()
    assert st["tasks"] == 1 and st["supported"]


@pytest.mark.parametrize("payload, status, needle", [
    ({"tasks": []}, 422, "tasks"),
    ({"tasks": "1"}, 422, "tasks"),
    ({"tasks": [{"data": {}}], "project": "1.1"}, 422, "tasks[0]"),
    ({"tasks": [{"id": 1, "data": "x"}], "project": "1.1"}, 422, "data"),
    ({"tasks": [{"id": 1, "data": {}}]}, 422, "project"),
    ({"tasks": [{"id": 1, "data": {}}], "project": "77.1"}, 404, "unknown"),
    ({"tasks": [{"id": 1, "data": {}}], "project": "1.1", "label_config": 5}, 422, "label_config"),
])
def test_predict_bad_input(client: TestClient, payload: dict, status: int, needle: str) -> None:
    setup(client)
    r = client.post("/predict", json=payload)
    assert r.status_code == status, r.text
    assert needle in r.json()["message"]


@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook"])
def test_malformed_json_is_400_everywhere(client: TestClient, path: str) -> None:
    r = client.post(path, content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_body"


def test_webhook_acknowledges_and_stores(client: TestClient) -> None:
    r = client.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 1},
                                      "tasks": [{"id": 4, "data": {"text": "x"}}]})
    assert r.status_code == 200 and r.json()["status"] == "applied"
    r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "annotation": {"id": 1}})
    assert r.status_code == 422 and "task" in r.json()["message"]
    assert client.get("/status").json()["events"] == {"applied": 1, "invalid": 1}


def test_versions_lists_base_version(client: TestClient) -> None:
    assert client.get("/versions").json() == {"versions": ["labelloop-0"]}


def test_oversized_body_is_413(client_factory) -> None:
    c = client_factory(max_body_bytes=2048)
    r = c.post("/webhook", content=b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(10):
            yield b"y" * 1000

    r = c.post("/webhook", content=chunks())
    assert r.status_code == 413
    assert c.get("/status").json()["events"] == {}


def test_basic_auth_on_every_endpoint(client_factory) -> None:
    c = client_factory(basic_auth_user="ls", basic_auth_password="s3cret")
    for method, path in [("get", "/health"), ("post", "/setup"), ("post", "/predict"),
                         ("post", "/webhook"), ("get", "/versions"), ("get", "/status")]:
        r = getattr(c, method)(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Basic")
    assert c.get("/health", auth=("ls", "wrong")).status_code == 401
    assert c.get("/health", auth=("ls", "s3cret")).status_code == 200


def test_secrets_never_reach_the_log(client_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    c = client_factory(trust_setup_credentials=True, label_studio_api_key="LSKEY-very-secret-1",
                       label_studio_url="http://ls", openai_api_key="sk-abcdefghijklmnop")
    setup(c, access_token="SETUPTOKEN-123456")
    c.get("/status")
    from labelloop.logs import redact
    text = caplog.text + redact("Authorization: Token SETUPTOKEN-123456")
    for secret in ("LSKEY-very-secret-1", "sk-abcdefghijklmnop", "SETUPTOKEN-123456"):
        assert secret not in text
    assert "SETUPTOKEN" not in c.get("/status").text


def test_unknown_project_status_is_404(client: TestClient) -> None:
    r = client.get("/api/projects/404/status")
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"


def test_publish_endpoint_validates_and_enqueues(client_factory) -> None:
    c = client_factory(label_studio_url="http://ls", label_studio_api_key="k" * 12)
    setup(c)
    assert c.post("/api/projects/1/queue", json={"scores": {"a": 1}}).status_code == 422
    assert c.post("/api/projects/1/queue", json={"scores": {"1": "x"}}).status_code == 422
    assert c.post("/api/projects/3/queue", json={"scores": {"1": 1}}).status_code == 404
    r = c.post("/api/projects/1/queue", json={"scores": {"1": 0.5, "2": 0.1}})
    assert r.status_code == 202 and r.json()["created"]
    no_ls = client_factory()
    setup(no_ls, project="8.1")
    r = no_ls.post("/api/projects/8/queue", json={"scores": {"1": 0.5}})
    assert r.status_code == 503 and "LABEL_STUDIO_URL" in r.json()["message"]


def test_setup_again_while_the_first_resync_runs_queues_no_second_one(client_factory) -> None:
    """Label Studio calls /setup on every settings page load; a big project's first resync takes
    minutes, and each call used to queue another full resync behind the running one."""
    from labelloop.jobs.types import JobKind, JobStatus

    c = client_factory(trust_setup_credentials=True)
    setup(c, project="5.1")
    storage = c.app.state.services.storage
    with storage.write() as tx:
        job = tx.claim("w", lease_s=60, kinds=[JobKind.RESYNC])
    assert job is not None and job.kind is JobKind.RESYNC
    for _ in range(3):
        assert setup(c, project="5.1").status_code == 200
    with storage.read() as tx:
        resyncs = [j for j in tx.list_jobs(project_id=5) if j.kind is JobKind.RESYNC]
    assert [j.status for j in resyncs] == [JobStatus.RUNNING]
    with storage.write() as tx:  # the resync ended without syncing (it failed): /setup retries
        tx.fail_job(job.id, "boom", retry_at=None)
    setup(c, project="5.1")
    with storage.read() as tx:
        queued = tx.list_jobs(project_id=5, status=JobStatus.QUEUED)
    assert [j.kind for j in queued if j.kind is JobKind.RESYNC] == [JobKind.RESYNC]
