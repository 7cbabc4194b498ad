"""/setup and /predict answer under the version the project shows in Label Studio once labelloop
has published: Label Studio stores each /predict answer under the answer's own model_version, so
any other version (the LLM's, an older model's) became a stray version in its dropdown."""

from __future__ import annotations

from fastapi.testclient import TestClient

from labelloop.events.projects import record_project
from labelloop.storage.records import Prediction
from labelloop.storage.sql_queue import QueueEntry
from tests.conftest import CONFIG

REGION = {"from_name": "sentiment", "to_name": "text", "type": "choices",
          "value": {"choices": ["negative"]}}


def tasks(*ids: int) -> list[dict]:
    return [{"id": i, "data": {"text": f"t{i}"}, "project": 1} for i in ids]


def prepare(client: TestClient, *, shows: str | None, published: str | None = "labelloop-2") -> None:
    storage = client.app.state.services.storage  # type: ignore[attr-defined]
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
        tx.save_project(1, published_version=published, model_version=shows)
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"t{i}"}, "meta": {}} for i in (1, 2, 3)])
        tx.save_predictions([
            Prediction(1, 1, "llm", "llm-gpt-p1", [{**REGION, "score": 0.8}], 0.8),
            Prediction(2, 1, "model", "labelloop-1", [{**REGION, "score": 0.6}], 0.6),
            Prediction(3, 1, "model", "labelloop-1", [REGION], None)])
        for version in ("labelloop-1", "labelloop-2"):
            tx.save_queue([QueueEntry(1, version, 1, 0, 0.25 if version == "labelloop-1"
                                      else 0.35, "uncertain")])


def predict(client: TestClient, *ids: int) -> dict:
    r = client.post("/predict", json={"tasks": tasks(*ids), "project": "1.17"})
    assert r.status_code == 200
    return r.json()


def test_predict_answers_under_the_version_the_project_shows(client: TestClient) -> None:
    prepare(client, shows="labelloop-1")  # a user moved the project back to labelloop-1
    res = predict(client, 1, 2, 3)
    assert [e["model_version"] for e in res["results"]] == ["labelloop-1"] * 3
    assert res["model_version"] == "labelloop-1"
    # the score: the task's place in that version's queue, else its pre-label's confidence
    # (never null); each region keeps its own confidence
    assert [e["score"] for e in res["results"]] == [0.25, 0.6, 1.0]
    assert res["results"][0]["result"][0]["score"] == 0.8
    assert client.post("/setup", json={"project": "1.17", "schema": CONFIG}).json() == \
        {"model_version": "labelloop-1"}


def test_predict_answers_under_the_published_version_when_the_project_shows_another(
        client: TestClient) -> None:
    for shows in ("gold-v1", None, "labelloop"):
        prepare(client, shows=shows)
        res = predict(client, 1)
        assert res["results"][0]["model_version"] == "labelloop-2"
        assert res["results"][0]["score"] == 0.35
        assert client.post("/setup", json={"project": "1.17", "schema": CONFIG}).json() == \
            {"model_version": "labelloop-2"}


def test_before_the_first_publish_answers_keep_their_own_version(client: TestClient) -> None:
    prepare(client, shows="labelloop", published=None)  # the backend title, as registered
    res = predict(client, 1, 2)
    assert [e["model_version"] for e in res["results"]] == ["llm-gpt-p1", "labelloop-1"]
    assert client.post("/setup", json={"project": "1.17", "schema": CONFIG}).json() == \
        {"model_version": "labelloop-0"}


def test_no_prediction_stays_no_prediction(client: TestClient) -> None:
    prepare(client, shows="labelloop-2")
    storage = client.app.state.services.storage  # type: ignore[attr-defined]
    with storage.write() as tx:
        tx.upsert_tasks(1, [{"id": 9, "data": {"text": "t9"}, "meta": {}}])
    assert predict(client, 9)["results"] == [[]]
