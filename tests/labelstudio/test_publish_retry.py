"""Publishing under failure and retry: a version number is never handed out twice, saving a
queue twice is harmless, and a publish that failed half-way is resumed or rolled back."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import ToyEmbedder, WORDS


@pytest.fixture
def ls(fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 31):
        fake_ls.add_task(1, i, {"text": f"{WORDS[list(WORDS)[i % 3]]} movie number {i}"})
    return fake_ls


@pytest.fixture
def s(settings):  # noqa: ANN001, ANN201
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "publish_head_size": 4, "publish_tail_batch_size": 5, "cleanup_delay_s": 0.0})


def worker(storage: Storage, ls: FakeGateway, s) -> Worker:  # noqa: ANN001
    return Worker(storage, s, default_handlers(s), gateways=GatewayProvider(s, lambda *_: ls),
                  worker_id="w", resources=Resources(s, embedder=ToyEmbedder()))


def drain(w: Worker, storage: Storage, *, rounds: int = 50) -> None:
    """Run every job to its end, retries made due at once."""
    for _ in range(rounds):
        with storage.write() as tx:
            tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
        if w.run_once() is None:
            return
    raise AssertionError("jobs still running after %d rounds" % rounds)


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
        storage: Storage, ls: FakeGateway, s) -> None:  # noqa: ANN001
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
                                                    s) -> None:  # noqa: ANN001
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


def test_saving_a_queue_twice_is_harmless(storage: Storage, ls: FakeGateway, s) -> None:  # noqa: ANN001
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
