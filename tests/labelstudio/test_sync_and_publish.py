from __future__ import annotations

import time

import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.types import JobStatus
from labelloop.labelstudio.publish import publish_queue
from labelloop.labelstudio.sync import SyncReport, resync_project
from labelloop.storage.base import Storage
from labelloop.storage.records import Prediction


@pytest.fixture
def ls(fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 8):
        fake_ls.add_task(1, i, {"text": f"text {i}"})
    return fake_ls


def test_resync_pulls_everything_in_pages(storage: Storage, ls: FakeGateway) -> None:
    ls.annotate(1, "positive", annotation_id=100)
    ls.annotate(2, None, annotation_id=101, cancelled=True)
    report = resync_project(storage, ls, 1, page_size=3)
    assert report.tasks_seen == 7 and report.tasks_new == 7
    assert report.annotations == {"created": 1, "skipped": 1}
    with storage.read() as tx:
        p = tx.get_project(1)
        assert p is not None and p.supported and p.last_synced_at
        assert {a.id for a in tx.get_annotations(1)} == {100, 101}
        assert tx.annotation_history(100)[0].source == "resync"
    # nothing changed: a second resync changes nothing
    assert resync_project(storage, ls, 1, page_size=3).annotations == {}


def test_resync_finds_updates_deletions_and_removed_tasks(storage: Storage,
                                                          ls: FakeGateway) -> None:
    a = ls.annotate(1, "positive", annotation_id=100)
    ls.annotate(3, "neutral", annotation_id=102)
    resync_project(storage, ls, 1)
    a["result"][0]["value"]["choices"] = ["negative"]
    a["updated_at"] = "2026-02-01T00:00:00Z"
    ls.tasks[3]["annotations"] = []
    del ls.tasks[7]
    report = resync_project(storage, ls, 1)
    assert report.annotations == {"updated": 1, "deleted": 1} and report.tasks_deleted == 1
    with storage.read() as tx:
        assert [h.kind for h in tx.annotation_history(102)] == ["created", "deleted"]
        assert 7 not in {t.id for t in tx.get_tasks(1)}


def test_interrupted_resync_deletes_nothing(storage: Storage, ls: FakeGateway) -> None:
    resync_project(storage, ls, 1)

    def broken(project_id: int, *, page_size: int = 500, after_id: int | None = None):
        yield {"id": 1, "project": 1, "data": {"text": "x"}, "annotations": []}
        raise LabelStudioUnavailable("iter_tasks: connection reset")

    ls.iter_tasks = broken  # type: ignore[method-assign]
    with pytest.raises(LabelStudioUnavailable):
        resync_project(storage, ls, 1, page_size=1)
    with storage.read() as tx:
        assert len(tx.get_tasks(1)) == 7


class _DropsAfter:
    """Label Studio that drops the connection after ``n`` tasks of a walk, recording where each
    walk started (``after_id``)."""

    def __init__(self, ls: FakeGateway, n: int | None) -> None:
        self.ls, self.n, self.starts = ls, n, []

    def __getattr__(self, name: str):
        return getattr(self.ls, name)

    def iter_tasks(self, project_id: int, *, page_size: int = 500,
                   after_id: int | None = None):
        self.starts.append(after_id)
        for k, raw in enumerate(self.ls.iter_tasks(project_id, page_size=page_size,
                                                   after_id=after_id)):
            if self.n is not None and k == self.n:
                raise LabelStudioUnavailable("iter_tasks: connection reset")
            yield raw


def test_interrupted_resync_resumes_after_its_last_stored_page(storage: Storage,
                                                               ls: FakeGateway) -> None:
    ls.annotate(2, "positive", annotation_id=100)
    ls.annotate(6, "negative", annotation_id=101)
    checkpoints: list[dict] = []
    dropping = _DropsAfter(ls, 5)
    with pytest.raises(LabelStudioUnavailable):
        resync_project(storage, dropping, 1, page_size=2,
                       on_page=lambda r: checkpoints.append(r.checkpoint()))
    # two pages (tasks 1-4) were stored before the drop; the fifth task was fetched, not stored
    assert [c["after_id"] for c in checkpoints] == [2, 4]
    with storage.read() as tx:
        assert tx.task_ids(1) == [1, 2, 3, 4]
    resumed = _DropsAfter(ls, None)
    report = resync_project(storage, resumed, 1, page_size=2,
                            resume=SyncReport.resume(checkpoints[-1]))
    assert resumed.starts == [4]  # no task before the cursor was fetched again
    assert report.tasks_seen == 7 and report.tasks_new == 7 and report.pages == 4
    assert report.annotations == {"created": 2} and report.began == checkpoints[0]["began"]
    with storage.read() as tx:
        assert tx.task_ids(1) == list(range(1, 8))
        assert {a.id for a in tx.get_annotations(1)} == {100, 101}


def test_resync_deletes_gone_tasks_page_by_page_and_the_rest_at_the_end(
        storage: Storage, ls: FakeGateway) -> None:
    resync_project(storage, ls, 1)
    ls.annotate(3, "neutral", annotation_id=102)
    resync_project(storage, ls, 1)
    for gone in (2, 3, 7):  # deleted in Label Studio, the webhooks lost
        del ls.tasks[gone]
    checkpoints: list[dict] = []
    with pytest.raises(LabelStudioUnavailable):
        resync_project(storage, _DropsAfter(ls, 3), 1, page_size=2,
                       on_page=lambda r: checkpoints.append(r.checkpoint()))
    with storage.read() as tx:
        # the first page (tasks 1, 4) proves 2 and 3 gone; 7 lies past the cursor: kept for now
        assert tx.task_ids(1) == [1, 4, 5, 6, 7]
        assert tx.get_annotations(1) == []
        assert [h.kind for h in tx.annotation_history(102)] == ["created", "deleted"]
    report = resync_project(storage, ls, 1, page_size=2, resume=SyncReport.resume(checkpoints[-1]))
    assert report.tasks_deleted == 3 and report.annotations == {"deleted": 1}
    with storage.read() as tx:
        assert tx.task_ids(1) == [1, 4, 5, 6]


def test_a_checkpoint_without_a_cursor_starts_a_fresh_walk() -> None:
    for cp in (None, {}, {"after_id": "7", "began": 1.0}, {"after_id": 7}):
        fresh = SyncReport.resume(cp)
        assert fresh.after_id is None and fresh.tasks_seen == 0


def test_publish_orders_the_queue_and_sets_sampling(storage: Storage, ls: FakeGateway,
                                                    settings) -> None:
    resync_project(storage, ls, 1)
    pre = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
            "value": {"choices": ["neutral"]}, "score": 0.6}]
    bad = [{"from_name": "nope", "to_name": "text", "type": "choices",
            "value": {"choices": ["neutral"]}}]
    with storage.write() as tx:
        tx.save_predictions([Prediction(5, 1, "llm", "llm-a", pre, 0.6),
                             Prediction(6, 1, "llm", "llm-a", bad, 0.6)])
    scores = {5: 0.1, 2: 0.2, 7: 0.3, 1: 0.4, 6: 0.5, 999: 0.0, 3: float("nan")}
    report = publish_queue(storage, ls, 1, scores, settings=settings)
    assert report.version == "labelloop-1" and report.published == 5 and report.skipped == 2
    assert ls.projects[1]["model_version"] == "labelloop-1"
    assert ls.projects[1]["sampling"] == "Uncertainty sampling"
    by_task = {p["task"]: p for p in ls.predictions}
    assert by_task[5]["result"] == pre and by_task[6]["result"] == []  # invalid never leaves
    served = []
    for _ in range(5):
        task = ls.next_task(1)
        served.append(task["id"])
        ls.annotate(task["id"], "positive")
    assert served == [5, 2, 7, 1, 6]
    with storage.read() as tx:
        assert tx.get_project(1).published_version == "labelloop-1"  # type: ignore[union-attr]


def test_publish_can_leave_sampling_alone(storage: Storage, ls: FakeGateway, settings) -> None:
    resync_project(storage, ls, 1)
    s = settings.model_copy(update={"set_uncertainty_sampling": False, "publish_batch_size": 2})
    publish_queue(storage, ls, 1, {1: 0.3, 2: 0.2, 3: 0.1}, settings=s)
    assert ls.projects[1]["sampling"] == "Sequential sampling"
    assert ls.calls.count("import_predictions") == 2  # batches of 2


def test_publish_with_nothing_to_publish_switches_nothing(storage: Storage, ls: FakeGateway,
                                                           settings) -> None:
    resync_project(storage, ls, 1)
    report = publish_queue(storage, ls, 1, {999: 0.1}, settings=settings)
    assert report.published == 0 and report.skipped == 1
    assert "update_project" not in ls.calls and ls.projects[1]["model_version"] == ""


def test_webhook_auth_is_set_on_labelloops_own_webhooks_only(ls: FakeGateway, settings) -> None:
    from labelloop.labelstudio.webhook_auth import ensure_webhook_auth

    ls.ml_backends = [{"id": 1, "project": 1, "url": "http://ll:9090"}]
    ls.webhooks = [{"id": 7, "project": 1, "url": "http://ll:9090/webhook", "headers": {}},
                   {"id": 8, "project": 1, "url": "http://other/hook", "headers": {}}]
    assert ensure_webhook_auth(ls, 1, settings) == 0  # basic auth off: nothing to do
    s = settings.model_copy(update={"basic_auth_user": "u",
                                    "basic_auth_password": SecretStr("p")})
    assert ensure_webhook_auth(ls, 1, s) == 1
    assert ls.webhooks[0]["headers"] == {"Authorization": "Basic dTpw"}  # base64("u:p")
    assert ls.webhooks[1]["headers"] == {}
    assert ensure_webhook_auth(ls, 1, s) == 0  # already right


def test_cleanup_is_serialised_with_publishing_and_delayed(settings) -> None:
    from labelloop.jobs.types import project_serial_key
    from labelloop.labelstudio.publish import cleanup_spec

    spec = cleanup_spec(4, settings)
    assert spec.serial_key == project_serial_key(4)
    assert spec.delay_s == settings.cleanup_delay_s == 300.0


class _SnapshotThenWebhooks:
    """Label Studio as a resync sees it: every page is read before the webhooks that arrive
    while the resync stores them (an annotation created on task 1, a task 8 added)."""

    def __init__(self, ls: FakeGateway, on_fetched) -> None:
        self.ls, self.on_fetched = ls, on_fetched

    def __getattr__(self, name: str):
        return getattr(self.ls, name)

    def iter_tasks(self, project_id: int, *, page_size: int = 500,
                   after_id: int | None = None):
        snapshot = list(self.ls.iter_tasks(project_id, page_size=page_size, after_id=after_id))
        self.on_fetched()
        yield from snapshot


def test_resync_never_deletes_what_webhooks_wrote_after_its_snapshot(
        storage: Storage, ls: FakeGateway, settings) -> None:
    from tests.events.test_apply import created

    from labelloop.events.apply import ingest_webhook

    resync_project(storage, ls, 1)

    def webhooks() -> None:
        ingest_webhook(storage, created(200, 1, "neutral"), settings)
        ingest_webhook(storage, created(201, 8, "negative"), settings)

    report = resync_project(storage, _SnapshotThenWebhooks(ls, webhooks), 1, page_size=3)
    assert report.annotations == {} and report.tasks_deleted == 0
    with storage.read() as tx:
        assert {a.id for a in tx.get_annotations(1)} == {200, 201}
        assert {t.id for t in tx.get_tasks(1)} == set(range(1, 9))
    # Label Studio really has them: the next resync keeps them as they are
    ls.add_task(1, 8, {"text": "text 8"})
    ls.annotate(1, "neutral", annotation_id=200)
    ls.annotate(8, "negative", annotation_id=201)
    assert resync_project(storage, ls, 1).tasks_deleted == 0
    with storage.read() as tx:
        assert {a.id for a in tx.get_annotations(1)} == {200, 201}


def test_a_later_resync_still_removes_what_label_studio_no_longer_has(
        storage: Storage, ls: FakeGateway, settings) -> None:
    from tests.events.test_apply import created

    from labelloop.events.apply import ingest_webhook

    ingest_webhook(storage, created(300, 2, "neutral"), settings)  # deleted in LS, webhook lost
    report = resync_project(storage, ls, 1)
    assert report.annotations == {"deleted": 1}
    with storage.read() as tx:
        assert tx.get_annotations(1) == []


def _claimed_resync(storage: Storage):
    """Project 1 stored, a resync job of it queued and claimed."""
    from labelloop.jobs.triggers import resync_spec

    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG)
        tx.enqueue(resync_spec(1))
        job = tx.claim("w", lease_s=60)
    assert job is not None
    return job


def _run_resync(job, storage: Storage, settings, gateway) -> None:
    """``handle_resync`` for ``job``, Label Studio being ``gateway``."""
    from labelloop.jobs.context import JobContext
    from labelloop.labelstudio.access import GatewayProvider
    from labelloop.labelstudio.sync import handle_resync
    from labelloop.loop.resources import Resources

    gateways = GatewayProvider(settings, factory=lambda *_: gateway)
    handle_resync(JobContext(job, storage, settings, gateways, lambda: None, Resources(settings)))


def test_resync_that_finds_new_tasks_queues_embed_and_prelabel(storage: Storage, ls: FakeGateway,
                                                               settings) -> None:
    """At set-up, the pre-label job may run before the resync has brought the tasks in (it then
    finds none): the resync that adds them queues embedding and pre-labeling again."""
    from labelloop.jobs.triggers import resync_spec
    from labelloop.jobs.types import JobKind

    s = settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "llm_model": "m", "openai_base_url": "http://llm/v1"})
    assert s.llm_configured
    job = _claimed_resync(storage)
    _run_resync(job, storage, s, ls)
    with storage.write() as tx:
        tx.finish_job(job.id)
        queued = {j.kind for j in tx.list_jobs(status=JobStatus.QUEUED)}
        assert queued == {JobKind.EMBED, JobKind.PRELABEL, JobKind.RETRAIN}
        for j in tx.list_jobs(status=JobStatus.QUEUED):
            tx.finish_job(j.id)
    # a second resync finds nothing new: nothing is queued
    with storage.write() as tx:
        tx.enqueue(resync_spec(1))
        job = tx.claim("w", lease_s=60)
    _run_resync(job, storage, s, ls)
    with storage.read() as tx:
        assert tx.list_jobs(status=JobStatus.QUEUED) == []


def test_a_train_resync_retrains_when_it_ends_even_without_changes(
        storage: Storage, ls: FakeGateway, settings) -> None:
    """Label Studio's "train": the resync carries the request and queues the retrain itself when
    it ends (a resync that finds nothing new queues nothing otherwise, as above)."""
    from labelloop.jobs.triggers import resync_spec
    from labelloop.jobs.types import JobKind

    s = settings.model_copy(update={"label_studio_url": "http://ls",
                                    "label_studio_api_key": SecretStr("k")})
    job = _claimed_resync(storage)
    _run_resync(job, storage, s, ls)
    with storage.write() as tx:
        tx.finish_job(job.id)
        for j in tx.list_jobs(status=JobStatus.QUEUED):
            tx.finish_job(j.id)
        tx.enqueue(resync_spec(1, then_retrain=True))
        job = tx.claim("w", lease_s=60)
    assert job is not None and job.payload == {"then_retrain": True}
    _run_resync(job, storage, s, ls)
    with storage.read() as tx:
        queued = tx.list_jobs(status=JobStatus.QUEUED)
    assert [j.kind for j in queued] == [JobKind.RETRAIN]
    assert queued[0].run_after <= time.time()  # due at once


def test_a_retried_resync_job_resumes_from_the_checkpoint_in_its_progress(
        storage: Storage, ls: FakeGateway, settings) -> None:
    s = settings.model_copy(update={"label_studio_url": "http://ls",
                                    "label_studio_api_key": SecretStr("k"), "page_size": 2})
    dropping = _DropsAfter(ls, 5)
    job = _claimed_resync(storage)
    with pytest.raises(LabelStudioUnavailable):
        _run_resync(job, storage, s, dropping)
    with storage.write() as tx:
        tx.fail_job(job.id, "Label Studio went away", retry_at=0.0)
        retried = tx.claim("w", lease_s=60)
    assert retried is not None and retried.id == job.id
    assert retried.progress["resync"]["after_id"] == 4
    dropping.n = None
    _run_resync(retried, storage, s, dropping)
    assert dropping.starts == [None, 4]
    with storage.read() as tx:
        assert tx.task_ids(1) == list(range(1, 8))
        assert tx.get_project(1).sync_error is None
        assert tx.get_job(job.id).progress["tasks_seen"] == 7
