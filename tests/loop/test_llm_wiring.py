"""The LLM inside the service: the pre-label job and live /predict, against the test LLM server
(a real HTTP server, called through the real openai client)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CONFIG, make_settings
from tests.fakes.llm_server import FakeLLM

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.llm import LabelRequest
from labelloop.loop.prelabel import handle_prelabel
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage

TEXTS = {f"review {i}: {w}": lab for i in range(12)
         for w, lab in [("loved it", "positive"), ("hated it", "negative")]}


@pytest.fixture
def llm():
    with FakeLLM(TEXTS, labels=["positive", "negative", "neutral"]) as server:
        yield server


def llm_settings(tmp_path, llm, **kw):
    return make_settings(tmp_path, openai_base_url=llm.url, openai_api_key="sk-test-123456",
                         llm_model="fake-model", **kw)


def seed(storage: Storage) -> list[int]:
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG, supported=True,
                        schema=parse_label_config(CONFIG).to_json())
        tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(TEXTS)])
    return list(range(1, len(TEXTS) + 1))


def prelabel_worker(storage: Storage, s) -> Worker:
    return Worker(storage, s, {JobKind.PRELABEL: handle_prelabel},
                  gateways=GatewayProvider(s), resources=Resources(s))


def run_prelabel(storage: Storage, worker: Worker) -> int:
    """Queue a pre-label job for project 1 and let ``worker`` run it; its id."""
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.PRELABEL, 1))
    worker.run_once()
    return jid


def test_prelabel_job_labels_every_task_once(storage, tmp_path, llm) -> None:
    s = llm_settings(tmp_path, llm)
    ids = seed(storage)
    worker = prelabel_worker(storage, s)
    jid = run_prelabel(storage, worker)
    with storage.read() as tx:
        job = tx.get_job(jid)
        labels = tx.get_llm_labels(1)
        retrain = [j for j in tx.list_jobs() if j.kind is JobKind.RETRAIN]
    assert job.status is JobStatus.SUCCEEDED, job.last_error  # type: ignore[union-attr]
    assert set(labels) == set(ids) and retrain
    right = sum(labels[i].labels == [TEXTS[t]] for i, t in zip(ids, TEXTS))
    assert right == len(ids)  # the test server answers the gold label (noise=0)
    assert all(0 < labels[i].confidence <= 1 for i in ids)
    calls = llm.calls
    run_prelabel(storage, worker)  # again: everything is labeled, no call is made
    assert llm.calls == calls


def test_prelabel_job_runs_in_chunks_and_reports_progress_while_labeling(
        storage, tmp_path, llm, monkeypatch) -> None:
    from labelloop.jobs.context import JobContext
    from labelloop.loop import prelabel

    monkeypatch.setattr(prelabel, "CHUNK", 5)
    monkeypatch.setattr(prelabel, "PROGRESS_EVERY_S", 0.0)  # report after every outcome
    reported: list[dict] = []
    original = JobContext.progress

    def progress(self, **info) -> None:
        reported.append(info)
        original(self, **info)

    monkeypatch.setattr(JobContext, "progress", progress)
    s = llm_settings(tmp_path, llm)
    ids = seed(storage)
    worker = prelabel_worker(storage, s)
    jid = run_prelabel(storage, worker)
    with storage.read() as tx:
        job = tx.get_job(jid)
        labels = tx.get_llm_labels(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job.last_error
    assert set(labels) == set(ids)  # 24 tasks in chunks of 5: none left out
    counts = [r["labeled"] for r in reported]
    assert counts == sorted(counts) and counts[-1] == len(ids)
    assert len(set(counts)) == len(ids)  # every outcome was counted as it came
    assert job.progress["labeled"] == len(ids) and job.progress["tasks"] == len(ids)


@pytest.mark.parametrize("failing", ["capability check", "labeling calls"])
def test_a_prelabel_job_whose_calls_failed_is_retried_for_those_tasks_only(
        storage, tmp_path, llm, failing) -> None:
    """An LLM call that fails after its retries (here: a 500, no retry) is not an answer: the
    task is not stored as done, the job fails retryably, and its next attempt asks again for
    those tasks only. When the endpoint's capability check is what failed, no task is done."""
    s = llm_settings(tmp_path, llm, llm_max_retries=0, llm_breaker_failures=100,
                     llm_concurrency=1)
    ids = seed(storage)
    worker = prelabel_worker(storage, s)
    if failing == "labeling calls":  # the endpoint's capabilities known (and stored) first
        warm = worker.resources.labeler(storage).label_many_sync(
            parse_label_config(CONFIG), [LabelRequest(999, "review 0: loved it")])
        assert warm[0].labels == ["positive"]
    llm.inject("500", times=1 if failing == "capability check" else 3)
    jid = run_prelabel(storage, worker)
    with storage.read() as tx:
        job = tx.get_job(jid)
        first = tx.get_llm_labels(1)
    assert job is not None and job.status is JobStatus.QUEUED
    assert "got no answer from the LLM" in (job.last_error or "") and "HTTP 500" in job.last_error
    assert all(label.labels for label in first.values())  # no failed call stored as done
    assert len(first) == (0 if failing == "capability check" else len(ids) - 3)
    with storage.write() as tx:
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0")
    calls = llm.calls
    worker.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
        labels = tx.get_llm_labels(1)
    assert job.status is JobStatus.SUCCEEDED, job.last_error  # type: ignore[union-attr]
    assert set(labels) == set(ids) and all(label.labels for label in labels.values())
    if failing == "labeling calls":
        assert llm.calls - calls == 3  # only the three unanswered tasks were asked again


def test_predict_calls_the_llm_for_unlabeled_tasks_and_stores_the_answers(
        tmp_path, llm) -> None:
    from labelloop.api.app import Overrides, create_app
    s = llm_settings(tmp_path, llm)
    with TestClient(create_app(s, Overrides(start_worker=False))) as client:
        seed(client.app.state.services.storage)
        tasks = [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(list(TEXTS)[:6])]
        res = client.post("/predict", json={"tasks": tasks, "project": "1.1"}).json()
        schema = parse_label_config(CONFIG)
        for task, entry in zip(tasks, res["results"]):
            validate_result(schema, entry["result"])
            region = entry["result"][0]
            assert region["value"]["choices"] == [TEXTS[task["data"]["text"]]]
            assert 0 < region["score"] <= 1 and entry["model_version"].startswith("llm-")
        calls = llm.calls
        again = client.post("/predict", json={"tasks": tasks, "project": "1.1"}).json()
        assert again["results"] == res["results"] and llm.calls == calls  # stored: no call


def test_predict_within_budget_answers_what_is_ready(tmp_path) -> None:
    from labelloop.api.app import Overrides, create_app
    with FakeLLM(TEXTS, labels=["positive", "negative", "neutral"], latency_s=3.0) as slow:
        s = llm_settings(tmp_path, slow, predict_llm_budget_s=0.5, llm_max_retries=0)
        with TestClient(create_app(s, Overrides(start_worker=False))) as client:
            seed(client.app.state.services.storage)
            tasks = [{"id": 1, "data": {"text": next(iter(TEXTS))}}]
            r = client.post("/predict", json={"tasks": tasks, "project": "1.1"})
    assert r.status_code == 200 and r.json()["results"] == [[]]


def test_llm_answers_outside_the_label_set_never_reach_label_studio(tmp_path) -> None:
    from labelloop.api.app import Overrides, create_app
    with FakeLLM(TEXTS, labels=["positive", "negative", "neutral"]) as bad:
        bad.inject("outside", times=None)
        s = llm_settings(tmp_path, bad)
        with TestClient(create_app(s, Overrides(start_worker=False))) as client:
            seed(client.app.state.services.storage)
            tasks = [{"id": 1, "data": {"text": next(iter(TEXTS))}}]
            res = client.post("/predict", json={"tasks": tasks, "project": "1.1"}).json()
            with client.app.state.services.storage.read() as tx:
                stored = tx.get_llm_labels(1)
    assert res["results"] == [[]]
    assert stored[1].labels is None and stored[1].failure


def test_a_span_project_is_pre_labeled_once_not_again_on_every_job(storage, tmp_path,
                                                                   monkeypatch) -> None:
    """The job skips tasks already labeled under the version the labels are stored with (the
    span prompts' own version): a second job asks the LLM nothing."""
    from tests.predict.spans_seed import NER_CONFIG

    from labelloop.llm.labeler import LLMLabeler

    texts = ["Anna lives in Paris.", "Carl works at Acme.", "Nothing here."]
    entities = {texts[0]: [("Anna", "Person"), ("Paris", "Location")],
                texts[1]: [("Carl", "Person"), ("Acme", "Organization")], texts[2]: []}
    asked: list[int] = []
    real = LLMLabeler.label_many_sync

    def counting(self, schema, items, **kw):  # type: ignore[no-untyped-def]
        asked.extend(r.task_id for r in items)
        return real(self, schema, items, **kw)

    monkeypatch.setattr(LLMLabeler, "label_many_sync", counting)
    with FakeLLM({}, entities=entities, confidence=0.9) as llm:
        s = llm_settings(tmp_path, llm)
        with storage.write() as tx:
            tx.save_project(1, label_config=NER_CONFIG, supported=True,
                            schema=parse_label_config(NER_CONFIG).to_json())
            tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(texts)])
        worker = prelabel_worker(storage, s)
        first = run_prelabel(storage, worker)
        with storage.read() as tx:
            assert tx.get_job(first).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
            assert set(tx.get_llm_labels(1)) == {1, 2, 3}
        assert sorted(asked) == [1, 2, 3]
        run_prelabel(storage, worker)
    assert sorted(asked) == [1, 2, 3]  # the second job found every task labeled
