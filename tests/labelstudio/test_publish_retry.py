"""Publishing under failure and retry: a version number is never handed out twice, saving a
queue twice is harmless, and a publish that failed half-way is resumed or rolled back."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry


@pytest.fixture
def ls(fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 31):
        fake_ls.add_task(1, i, {"text": f"{WORDS[list(WORDS)[i % 3]]} movie number {i}"})
    return fake_ls


@pytest.fixture
def s(settings):
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "publish_head_size": 4, "publish_tail_batch_size": 5, "cleanup_delay_s": 0.0})


def worker(storage: Storage, ls: FakeGateway, s) -> Worker:
    return Worker(storage, s, default_handlers(s), gateways=GatewayProvider(s, lambda *_: ls),
                  worker_id="w", resources=Resources(s, embedder=ToyEmbedder()))


def drain(w: Worker, storage: Storage, *, rounds: int = 50) -> None:
    """Run every job to its end, retries made due at once."""
    for _ in range(rounds):
        with storage.write() as tx:
            tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
        if w.run_once() is None:
            return
    raise AssertionError(f"jobs still running after {rounds} rounds")


def jobs_by_status(storage: Storage) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with storage.read() as tx:
        for job in tx.list_jobs():
            out.setdefault(job.status.value, []).append(
                f"{job.kind.value}: {job.last_error or ''}")
    return out


def api_publish_spec(scores: dict[int, float], version: str | None = None) -> JobSpec:
    return JobSpec(JobKind.PUBLISH, 1, payload={"scores": {str(k): v for k, v in scores.items()},
                                                "version": version},
                   serial_key=project_serial_key(1))


def test_a_retrain_after_a_failed_api_publish_takes_a_new_version(
        storage: Storage, ls: FakeGateway, s) -> None:
    """The reported bug: an API publish allocated labelloop-1 and stored its queue, Label Studio
    answered 500, and every later retrain picked labelloop-1 again and died on the queue's key."""
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s)
    with storage.write() as tx:
        tx.enqueue(api_publish_spec({i: i / 30 for i in range(1, 31)}))
    ls.fail_next = 1
    assert w.run_once() is not None
    with storage.write() as tx:  # the publish waits for its retry; a retrain comes first
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 1e12 WHERE kind = 'publish'")
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key=project_serial_key(1)))
    w.run_once()
    status = jobs_by_status(storage)
    assert "retrain: " in status["succeeded"], status
    with storage.read() as tx:
        published = tx.get_project(1).published_version  # type: ignore[union-attr]
    assert published == "labelloop-2" and ls.projects[1]["model_version"] == published
    drain(w, storage)
    status = jobs_by_status(storage)
    assert "dead" not in status, status


def test_a_version_number_is_never_handed_out_twice(storage: Storage, ls: FakeGateway,
                                                    s) -> None:
    from labelloop.labelstudio.publish import next_version
    resync_project(storage, ls, 1)
    with storage.write() as tx:
        assert next_version(tx, 1, "labelloop") == "labelloop-1"
        tx.save_queue([QueueEntry(1, "labelloop-1", 1, 0, 0.0, "api")])  # queue only
        assert next_version(tx, 1, "labelloop") == "labelloop-2"
        tx.add_model_version(1, "labelloop-7+x", kind="queue")  # a version named by hand
        tx.add_model_version(1, "other-9", kind="queue")  # another prefix counts for nothing
        assert next_version(tx, 1, "labelloop") == "labelloop-8"
        tx.save_project(1, published_version="labelloop-11")
        assert next_version(tx, 1, "labelloop") == "labelloop-12"


def test_saving_a_queue_twice_is_harmless(storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    entries = [QueueEntry(1, "v1", t, r, r / 3, "api", t == 2) for r, t in enumerate([3, 2, 1])]
    with storage.write() as tx:
        tx.save_queue(entries)
    with storage.write() as tx:
        tx.save_queue([QueueEntry(1, "v1", 3, 0, 0.5, "uncertainty")] + entries[1:])
        tx.add_second_annotation_requests(1, [(4, "disagreement")])
    with storage.write() as tx:
        tx.add_second_annotation_requests(1, [(4, "disagreement")])
    with storage.read() as tx:
        queue = tx.get_queue(1, "v1")
    assert [(e.task_id, e.rank, e.score, e.reason, e.audit) for e in queue] == [
        (3, 0, 0.5, "uncertainty", False), (2, 1, 1 / 3, "api", True), (1, 2, 2 / 3, "api", False)]


def test_a_retrain_survives_label_studio_refusing_second_annotations(
        storage: Storage, ls: FakeGateway, s, monkeypatch) -> None:
    """Asking for second annotations is a Label Studio call inside the retrain: when it fails,
    the retrain goes on without them (the next one asks again) instead of redoing its work."""
    from labelloop.loop import retrain

    def refused(*_: object, **__: object) -> list[int]:
        raise LabelStudioUnavailable("request_annotations: Label Studio answered 500")

    monkeypatch.setattr(retrain, "reopen_for_second_opinion", refused)
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s)
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key=project_serial_key(1)))
    drain(w, storage)
    status = jobs_by_status(storage)
    assert set(status) == {"succeeded"}, status
    assert ls.projects[1]["model_version"] == "labelloop-1"


def retrain_whose_publish_fails(storage: Storage, ls: FakeGateway, s) -> Worker:
    """A project's first retrain, run with Label Studio refusing its publish's first call:
    labelloop-1 is recorded and its publish handed over to a publish job."""
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s)
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key=project_serial_key(1)))
    ls.fail_next = 1
    w.run_once()
    return w


def test_a_retrain_whose_publish_fails_hands_it_to_a_publish_job(
        storage: Storage, ls: FakeGateway, s) -> None:
    w = retrain_whose_publish_fails(storage, ls, s)
    with storage.read() as tx:
        (publish,) = tx.list_jobs(status=JobStatus.QUEUED)
        assert tx.get_model_version(1, "labelloop-1") is not None  # model and queue kept
        assert len(tx.get_queue(1, "labelloop-1")) == 30
    assert publish.kind is JobKind.PUBLISH
    assert publish.payload == {"version": "labelloop-1", "stored": True}
    drain(w, storage)
    assert set(jobs_by_status(storage)) == {"succeeded"}
    assert ls.projects[1]["model_version"] == "labelloop-1"
    held = [p["task"] for p in ls.predictions if p["model_version"] == "labelloop-1"]
    assert sorted(held) == list(range(1, 31))  # head and tail, each task once


def test_a_handed_over_publish_never_sets_a_newer_queue_back(
        storage: Storage, ls: FakeGateway, s) -> None:
    w = retrain_whose_publish_fails(storage, ls, s)
    with storage.write() as tx:
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 1e12 WHERE kind = 'publish'")
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key=project_serial_key(1)))
    w.run_once()  # labelloop-2 published
    assert ls.projects[1]["model_version"] == "labelloop-2"
    drain(w, storage)
    assert ls.projects[1]["model_version"] == "labelloop-2"
    assert set(ls.list_model_versions(1)) == {"labelloop-2"}


@pytest.mark.parametrize("fail", ["import", "switch"])
def test_an_api_publish_retried_after_label_studio_did_the_work_doubles_nothing(
        storage: Storage, ls: FakeGateway, s, fail: str) -> None:
    """The answer is lost after Label Studio stored the import (or switched the project): the
    retry keeps the version it allocated and what Label Studio holds of it."""
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s.model_copy(update={"publish_head_size": 0}))
    real = ls.import_predictions if fail == "import" else ls.update_project
    calls: list[int] = []

    def lost_answer(*args: object, **kw: object) -> object:
        out = real(*args, **kw)  # type: ignore[operator]
        calls.append(1)
        if len(calls) == 1:
            raise LabelStudioUnavailable("read timed out")
        return out

    setattr(ls, "import_predictions" if fail == "import" else "update_project", lost_answer)
    with storage.write() as tx:
        tx.enqueue(api_publish_spec({i: i / 30 for i in range(1, 31)}))
    drain(w, storage)
    assert set(jobs_by_status(storage)) == {"succeeded"}
    held = [p["task"] for p in ls.predictions if p["model_version"] == "labelloop-1"]
    assert sorted(held) == list(range(1, 31))
    assert ls.projects[1]["model_version"] == "labelloop-1"
    with storage.read() as tx:
        assert [v.version for v in tx.list_model_versions(1)] == ["labelloop-1"]


def test_an_api_publish_under_a_name_already_used_replaces_it(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s.model_copy(update={"publish_head_size": 0}))
    for scores in ({1: 0.1, 2: 0.2, 3: 0.3}, {4: 0.1, 2: 0.2, 1: 0.3}):
        with storage.write() as tx:
            tx.enqueue(api_publish_spec(scores, "mine"))
        drain(w, storage)
    assert sorted((p["task"], p["score"]) for p in ls.predictions
                  if p["model_version"] == "mine") == [(1, 0.3), (2, 0.2), (4, 0.1)]
    with storage.read() as tx:
        assert [e.task_id for e in tx.get_queue(1, "mine")] == [4, 2, 1]


def test_a_stale_handed_over_publish_does_not_stop_the_newer_queues_tail(
        storage: Storage, ls: FakeGateway, s) -> None:
    w = retrain_whose_publish_fails(storage, ls, s)  # labelloop-1's publish handed over, due much later
    with storage.write() as tx:
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 1e12 WHERE kind = 'publish'")
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, serial_key=project_serial_key(1)))
    while w.run_once() is not None:  # labelloop-2, its tail, its clean-up
        pass
    held = [p["task"] for p in ls.predictions if p["model_version"] == "labelloop-2"]
    assert sorted(held) == list(range(1, 31))


def test_a_publish_records_the_number_it_takes_before_label_studio_sees_it(
        storage: Storage, ls: FakeGateway, s) -> None:
    from labelloop.labelstudio.publish import publish_queue
    resync_project(storage, ls, 1)
    one_by_one = s.model_copy(update={"publish_batch_size": 1})
    real, calls = ls.import_predictions, []

    def second_fails(project_id: int, predictions: list) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise LabelStudioUnavailable("import_predictions: Label Studio answered 500")
        return real(project_id, predictions)

    ls.import_predictions = second_fails  # type: ignore[method-assign]
    with pytest.raises(LabelStudioUnavailable):
        publish_queue(storage, ls, 1, {1: 0.1, 2: 0.2}, settings=one_by_one)
    assert ls.list_model_versions(1) == {"labelloop-1": 1}  # half of it landed
    report = publish_queue(storage, ls, 1, {1: 0.1, 2: 0.2}, settings=one_by_one)
    assert report.version == "labelloop-2"  # not mixed into what labelloop-1 left
    assert ls.list_model_versions(1) == {"labelloop-1": 1, "labelloop-2": 2}


def test_every_job_of_the_chain_run_again_after_it_succeeded_changes_nothing(
        storage: Storage, ls: FakeGateway, s) -> None:
    """As when a worker's lease ran out while it finished: the queue hands the same job to
    another worker, which runs it again from the top."""
    resync_project(storage, ls, 1)
    w = worker(storage, ls, s)
    with storage.write() as tx:
        tx.enqueue(api_publish_spec({i: i / 30 for i in range(1, 31)}))
    drain(w, storage)

    def state() -> tuple:
        with storage.read() as tx:
            versions = [(v.version, v.published_at is not None) for v in
                        tx.list_model_versions(1)]
            queue = [(e.task_id, e.rank) for e in tx.get_queue(1, "labelloop-1")]
        held = sorted((p["task"], p["model_version"]) for p in ls.predictions)
        return versions, queue, held, ls.projects[1]["model_version"]

    before = state()
    assert before[2] == [(t, "labelloop-1") for t in range(1, 31)]
    with storage.write() as tx:  # every job, as it stood, queued again
        tx.conn.exec_driver_sql("UPDATE jobs SET status = 'queued', run_after = 0")
    drain(w, storage)
    assert set(jobs_by_status(storage)) == {"succeeded"}
    assert state() == before
