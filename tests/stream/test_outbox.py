"""The stream's outbox (labelloop.stream.outbox) against the fake Label Studio: selected items
become tasks once each, in batches, through lost answers and outages; predictions are valid or
absent; the tasks join labelloop's own tasks table; the periodic timer re-queues waiting work."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.events.projects import record_project
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker, WorkerPool
from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.prelabel import MachineLabel
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.llm.types import LabelOutcome
from labelloop.loop.resources import Resources
from labelloop.models import fit_local_model
from labelloop.models.artifact import dump_local_model
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records_stream import StreamItem, StreamItemRow
from labelloop.stream.ingest import stream_export_spec
from labelloop.stream.outbox_plan import (
    KEY_FIELD,
    plan_recovery,
    recovery_floor,
    stream_key_of,
    task_body,
)
from labelloop.stream.outbox_predict import predict_items, prediction_entry

SCHEMA = parse_label_config(CONFIG)


def settings_for(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {"label_studio_url": "http://ls",
                               "label_studio_api_key": SecretStr("k"),
                               "stream_export_batch": 10, "job_backoff_scale": 0.0}
    return make_settings(tmp_path, **{**base, **kw})


def setup(storage: Storage, ls: FakeGateway, n: int, *, pid: int = 1, start: int = 0) -> None:
    """Project ``pid`` in labelloop and in the fake, with ``n`` selected stream items."""
    if pid not in ls.projects:
        ls.add_project(pid, CONFIG)
    with storage.write() as tx:
        record_project(tx, pid, label_config=CONFIG)
        tx.add_stream_items(pid, [
            StreamItemRow(key=f"k{i}", data={"text": f"{list(WORDS.values())[i % 3]} item {i}"},
                          prediction=None, feedback=None, correction=None, selected=True,
                          reason="uncertain") for i in range(start, start + n)], at=1.0)


def worker(storage: Storage, ls: FakeGateway | None, s: Settings, **kw: object) -> Worker:
    provider = GatewayProvider(s, (lambda *_: ls) if ls is not None else None)
    return Worker(storage, s, default_handlers(s), gateways=provider, worker_id="w",
                  resources=Resources(s, embedder=ToyEmbedder(), **kw))  # type: ignore[arg-type]


def run_export(storage: Storage, w: Worker, pid: int = 1) -> JobStatus:
    """Queue the export, make it due, run it once; the job's status afterwards."""
    with storage.write() as tx:
        jid, _ = tx.enqueue(stream_export_spec(pid))
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
    while True:  # other jobs the export queued (embed) may come first: run until it ran
        job = w.run_once()
        assert job is not None
        if job.id == jid:
            break
    with storage.read() as tx:
        return tx.get_job(jid).status  # type: ignore[union-attr]


def items(storage: Storage, pid: int = 1) -> list[StreamItem]:
    with storage.read() as tx:
        return tx.get_stream_items(pid)


def ls_keys(ls: FakeGateway, pid: int = 1) -> Counter[str]:
    return Counter(stream_key_of(t) for t in ls.tasks.values() if t["project"] == pid)


def assert_created_once(storage: Storage, ls: FakeGateway, n: int) -> None:
    got = items(storage)
    assert Counter(it.status for it in got) == {"created": n}
    keys = ls_keys(ls)
    assert keys == Counter({it.key: 1 for it in got}), keys
    for it in got:  # each item links the task that carries its key, in data and meta
        task = ls.tasks[it.ls_task_id]  # type: ignore[index]
        assert task["meta"] == {KEY_FIELD: it.key} and task["data"][KEY_FIELD] == it.key
        assert task["data"]["text"] == it.data["text"]


def test_pending_items_are_created_once_in_batches(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 25)
    w = worker(storage, ls, s)
    assert run_export(storage, w) is JobStatus.SUCCEEDED
    assert [len(b) for b in ls.imports] == [10, 10, 5]
    assert_created_once(storage, ls, 25)
    assert run_export(storage, w) is JobStatus.SUCCEEDED  # again: nothing left to send
    assert len(ls.imports) == 3 and ls.calls.count("iter_tasks") == 0
    # labelloop's own tasks table knows them at once, with the key, and the new-task jobs run
    with storage.read() as tx:
        tasks = {t.id: t for t in tx.get_tasks(1)}
        kinds = {j.kind for j in tx.list_jobs()}
    assert set(tasks) == {it.ls_task_id for it in items(storage)}
    assert {t.meta[KEY_FIELD] for t in tasks.values()} == {f"k{i}" for i in range(25)}  # type: ignore[index]
    assert JobKind.EMBED in kinds


def test_an_answer_lost_after_the_tasks_were_stored_creates_nothing_twice(
        storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 10)
    w = worker(storage, ls, s)
    assert run_export(storage, w) is JobStatus.SUCCEEDED  # a first batch, created: the floor
    floor = max(it.ls_task_id for it in items(storage))  # type: ignore[type-var]
    ls.add_task(1, floor + 500, {"text": "someone else's task"})  # tasks not from the stream
    setup(storage, ls, 25, start=10)
    ls.lose_answer_next = 1
    assert run_export(storage, w) is JobStatus.QUEUED  # stored in LS, answer lost: retried
    assert Counter(it.status for it in items(storage)) == {"created": 10, "sending": 10,
                                                           "pending": 15}
    seen: list[int | None] = []
    scan = ls.iter_tasks
    ls.iter_tasks = lambda pid, **kw: (seen.append(kw.get("after_id")), scan(pid, **kw))[1]  # type: ignore[method-assign]
    assert run_export(storage, w) is JobStatus.SUCCEEDED
    assert seen == [floor]  # the scan starts above the last task created before that attempt
    assert [len(b) for b in ls.imports] == [10, 10, 10, 5]  # the lost batch was not sent again
    assert Counter(it.status for it in items(storage)) == {"created": 35}
    keys = ls_keys(ls)
    assert keys.pop(None) == 1 and set(keys.values()) == {1} and len(keys) == 35
    with storage.read() as tx:  # the recovered tasks joined labelloop's tasks table too
        assert {t.id for t in tx.get_tasks(1)} >= {it.ls_task_id for it in items(storage)}


def test_an_import_refused_before_storing_is_sent_again(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 5)
    w = worker(storage, ls, s)
    ls.fail_next = 1  # a 503 before anything was stored
    assert run_export(storage, w) is JobStatus.QUEUED
    assert {it.status for it in items(storage)} == {"sending"}  # outcome unknown to labelloop
    assert run_export(storage, w) is JobStatus.SUCCEEDED
    assert_created_once(storage, ls, 5)
    assert all(it.attempts == 2 for it in items(storage))


def test_label_studio_down_for_several_attempts_then_back(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 23)
    w = worker(storage, ls, s)
    with storage.write() as tx:
        jid, _ = tx.enqueue(stream_export_spec(1))
    down = 4
    for attempt in range(down):  # every call answers 503; then it is back
        ls.fail_next = 10**6
        with storage.write() as tx:
            tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
        assert w.run_once() is not None
        assert not ls.tasks and all(it.status != "created" for it in items(storage))
        with storage.read() as tx:
            job = tx.get_job(jid)
        assert job.status is JobStatus.QUEUED and job.attempts == attempt + 1  # type: ignore[union-attr]
    ls.fail_next = 0
    with storage.write() as tx:
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
    while (job := w.run_once()) is not None and job.id != jid:
        pass
    with storage.read() as tx:
        assert tx.get_job(jid).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert_created_once(storage, ls, 23)


def test_without_label_studio_access_items_wait_and_each_run_says_why(
        storage, tmp_path, caplog) -> None:
    s = make_settings(tmp_path)  # no Label Studio URL nor key
    ls = FakeGateway()
    setup(storage, ls, 3, pid=7)
    w = worker(storage, None, s)
    with caplog.at_level(logging.WARNING, logger="labelloop.stream.outbox"):
        assert run_export(storage, w, pid=7) is JobStatus.SUCCEEDED
        assert run_export(storage, w, pid=7) is JobStatus.SUCCEEDED
    assert {it.status for it in items(storage, 7)} == {"pending"}
    said = [r for r in caplog.records if "wait in labelloop" in r.getMessage()]
    # no state kept between runs (the job is rare: ingest queues none without access)
    assert len(said) == 2 and all("LABEL_STUDIO_URL" in r.getMessage() for r in said)


def test_label_studio_refusing_one_item_parks_it_and_sends_the_others(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 10)
    ls.refuse_keys = {"k3"}  # a 400 for any import holding it, before anything is stored
    w = worker(storage, ls, s)
    assert run_export(storage, w) is JobStatus.SUCCEEDED
    status = {it.key: it.status for it in items(storage)}
    assert status.pop("k3") == "failed" and set(status.values()) == {"created"}
    assert ls_keys(ls) == Counter({k: 1 for k in status})
    # halves until the refused item is alone: 10 -> 5+5 -> (2+3) -> ...; few calls, not 10
    assert sum(len(b) for b in ls.imports) == 9 and len(ls.imports) <= 5
    with storage.read() as tx:
        assert tx.stream_counts(1).failed == 1
    assert run_export(storage, w) is JobStatus.SUCCEEDED  # never sent again
    assert sum(len(b) for b in ls.imports) == 9


def test_the_periodic_timer_queues_an_export_for_projects_with_waiting_items(
        storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 4, pid=1)
    with storage.write() as tx:
        record_project(tx, 2, label_config=CONFIG)  # nothing waiting
    pool = WorkerPool(storage, s, default_handlers(s), gateways=GatewayProvider(s, lambda *_: ls),
                      threads=1)
    assert pool.enqueue_periodic_resync() == 2
    pool.enqueue_periodic_resync()  # deduplicated while queued
    with storage.read() as tx:
        exports = [j for j in tx.list_jobs() if j.kind is JobKind.STREAM_EXPORT]
    assert [(j.project_id, j.dedupe_key) for j in exports] == [(1, "stream_export:1")]


# --- predictions -----------------------------------------------------------------------------


def store_model(storage: Storage, version: str = "labelloop-3") -> None:
    texts = [f"{w} thing {i}" for i in range(10) for w in WORDS.values()]
    y = np.array([i % 3 for i in range(30)])
    model = fit_local_model(ToyEmbedder().encode(texts), y, labels=list(WORDS))
    with storage.write() as tx:
        tx.add_model_version(1, version, kind="retrain")
        tx.save_model_artifact(1, version, "local", dump_local_model(model))


def test_tasks_carry_the_served_models_prediction(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 6)
    store_model(storage)
    assert run_export(storage, worker(storage, ls, s)) is JobStatus.SUCCEEDED
    by_task = {p["task"]: p for p in ls.predictions}
    for it in items(storage):
        pred = by_task[it.ls_task_id]
        assert pred["model_version"] == "labelloop-3" and 0 < pred["score"] <= 1
        validate_result(SCHEMA, pred["result"])
        want = list(WORDS)[int(it.key[1:]) % 3]  # the toy embedder's word direction
        assert pred["result"][0]["value"]["choices"] == [want]


class ScriptedLabeler:
    """An LLM labeler answering each item with ``labels`` (or raising)."""

    def __init__(self, labels: list[str] | None, *, raises: bool = False) -> None:
        self.labels, self.raises, self.asked = labels, raises, 0

    def version_for(self, schema) -> str:
        return "llm-test"

    def label_many_sync(self, schema, items, **kw):
        self.asked += len(items)
        if self.raises:
            raise ConnectionError("the LLM endpoint is unreachable")
        return [LabelOutcome(it.task_id, self.labels, None, 0.8, "logprobs") for it in items]


@pytest.mark.parametrize("labels", [["positive"], ["bogus"], None])
def test_llm_pre_labels_are_sent_only_when_valid(storage, tmp_path, labels) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 4)
    llm = ScriptedLabeler(labels)
    assert run_export(storage, worker(storage, ls, s, labeler=llm)) is JobStatus.SUCCEEDED
    assert llm.asked == 4
    assert_created_once(storage, ls, 4)
    for p in ls.predictions:  # whatever went out is valid
        validate_result(SCHEMA, p["result"])
    sent = [p for p in ls.predictions if p["model_version"] == "llm-test"]
    if labels == ["positive"]:
        assert len(sent) == 4 and all(p["score"] == 0.8 for p in sent)
        assert {p["result"][0]["value"]["choices"][0] for p in sent} == {"positive"}
        with storage.read() as tx:  # stored as the new tasks' LLM labels: not asked again
            stored = tx.get_llm_labels(1, model_version="llm-test")
        assert set(stored) == {it.ls_task_id for it in items(storage)}
    else:
        assert sent == []


def test_a_failed_llm_call_is_a_skip_not_a_failure(storage, tmp_path) -> None:
    ls, s = FakeGateway(), settings_for(tmp_path)
    setup(storage, ls, 3)
    llm = ScriptedLabeler(None, raises=True)
    assert run_export(storage, worker(storage, ls, s, labeler=llm)) is JobStatus.SUCCEEDED
    assert_created_once(storage, ls, 3)
    assert ls.predictions == []


def test_prediction_entry_validates_against_config_and_text() -> None:
    ok = MachineLabel(("negative",), "model", "v1", 0.7)
    entry = prediction_entry(SCHEMA, ok, text="x")
    assert entry is not None and entry["model_version"] == "v1" and entry["score"] == 0.7
    validate_result(SCHEMA, entry["result"])
    assert entry["result"][0]["value"] == {"choices": ["negative"]}
    assert prediction_entry(SCHEMA, MachineLabel(("nope",), "llm", "v"), text="x") is None
    assert prediction_entry(SCHEMA, None, text="x") is None
    item = StreamItem(1, 1, "k", {"text": "t"}, None, None, None, True, "uncertain", None, None,
                      None, None, None, 0.0, "pending")
    assert predict_items(None, [item], storage=None, classifier=None,  # type: ignore[arg-type]
                         labeler=None).entries == {}


# --- the pure plan ---------------------------------------------------------------------------


def item(i: int, *, status: str = "sending", sent_at: float | None = 5.0,
         task: int | None = None) -> StreamItem:
    return StreamItem(i, 1, f"k{i}", {"text": "t"}, None, None, None, True, "uncertain", None,
                      None, None, None, None, 0.0, status, task, sent_at, 1)  # type: ignore[arg-type]


def test_recovery_floor_is_the_last_task_created_before_the_attempt() -> None:
    created = [item(1, status="created", sent_at=1.0, task=100),
               item(2, status="created", sent_at=2.0, task=140),
               item(3, status="created", sent_at=9.0, task=300)]  # a later attempt: not a floor
    assert recovery_floor([item(4, sent_at=5.0), item(5, sent_at=6.0)], created) == 140
    assert recovery_floor([item(4, sent_at=1.0)], created) is None  # nothing before it
    assert recovery_floor([item(4, sent_at=None)], created) is None
    assert recovery_floor([], created) is None


def test_plan_recovery_and_the_task_body() -> None:
    plan = plan_recovery([item(1), item(2), item(3)], {"k1": [12], "k3": [30, 31]})
    assert plan.created == {1: 12, 3: 30} and plan.pending == [2] and plan.extra == {"k3": [31]}
    body = task_body(item(7), [{"result": [], "score": None, "model_version": "v"}])
    assert body["data"] == {"text": "t", KEY_FIELD: "k7"} and body["meta"] == {KEY_FIELD: "k7"}
    assert stream_key_of(body) == "k7" and stream_key_of({"data": {"text": "x"}}) is None
    assert stream_key_of({"data": {KEY_FIELD: "d"}, "meta": {}}) == "d"
    assert "predictions" not in task_body(item(7))


def test_an_export_job_spec_is_deduplicated_per_project() -> None:
    spec = stream_export_spec(3)
    assert spec == JobSpec(JobKind.STREAM_EXPORT, 3, dedupe_key="stream_export:3",
                           serial_key="stream_export:3")
