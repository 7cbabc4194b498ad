"""Head-first publishing: the head of the queue on the critical path, the rest in a
``publish_tail`` job that resumes after what Label Studio holds and gives way to newer queues."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.cleanup import handle_cleanup
from labelloop.labelstudio.publish import cleanup_spec, handle_publish, publish_queue, tail_spec
from labelloop.labelstudio.sync import resync_project
from labelloop.labelstudio.tail import handle_publish_tail
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmLabel

SCORES = {7: 0.0, 3: 0.1, 5: 0.2, 1: 0.3, 6: 0.4, 2: 0.5, 4: 0.6}  # served 7, 3, 5, 1, 6, 2, 4


@pytest.fixture
def ls(fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 8):
        fake_ls.add_task(1, i, {"text": f"text {i}"})
    return fake_ls


@pytest.fixture
def s(settings):
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "publish_head_size": 2, "publish_tail_batch_size": 2})


def run(storage: Storage, ls: FakeGateway, s, spec: JobSpec) -> None:
    with storage.write() as tx:
        tx.enqueue(spec)
        job = tx.claim("w", lease_s=60, kinds=[spec.kind])
    assert job is not None
    gateways = GatewayProvider(s, factory=lambda *_: ls)
    handler = {JobKind.PUBLISH: handle_publish, JobKind.PUBLISH_TAIL: handle_publish_tail,
               JobKind.CLEANUP_VERSIONS: handle_cleanup}
    try:
        handler[spec.kind](JobContext(job, storage, s, gateways, lambda: None, Resources(s)))
    except Exception as exc:
        with storage.write() as tx:  # as the worker does: retried at once here
            tx.fail_job(job.id, str(exc), retry_at=0.0)
        raise
    with storage.write() as tx:
        tx.finish_job(job.id)


def in_label_studio(ls: FakeGateway, version: str) -> list[int]:
    return [p["task"] for p in ls.predictions if p["model_version"] == version]


def queued(storage: Storage) -> Counter:
    with storage.read() as tx:
        return Counter(j.kind for j in tx.list_jobs(status=JobStatus.QUEUED))


def api_publish(storage: Storage, ls: FakeGateway, s) -> None:
    run(storage, ls, s, JobSpec(JobKind.PUBLISH, 1, payload={
        "scores": {str(k): v for k, v in SCORES.items()}, "version": "v1"}))


def test_publish_imports_only_the_head_and_switches_the_queue_to_it(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    report = publish_queue(storage, ls, 1, SCORES, settings=s, version="v1")
    assert (report.published, report.remaining) == (2, 5)
    assert in_label_studio(ls, "v1") == [7, 3]
    assert ls.projects[1]["model_version"] == "v1"
    assert ls.next_task(1)["id"] == 7
    with storage.read() as tx:
        lineage = tx.get_model_version(1, "v1").lineage  # type: ignore[union-attr]
    assert lineage["published_tasks"] == 2 and lineage["ranked_tasks"] == 7
    # head size 0: everything at once, nothing left over
    everything = s.model_copy(update={"publish_head_size": 0})
    report = publish_queue(storage, ls, 1, SCORES, settings=everything, version="v2")
    assert (report.published, report.remaining) == (7, 0)


def test_the_tail_job_publishes_the_rest_in_order_with_stored_prelabels(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, 2, "llm-x", ["neutral"], {"neutral": 0.9, "positive": 0.1},
                                     0.9, "logprobs")])
    api_publish(storage, ls, s)
    assert in_label_studio(ls, "v1") == [7, 3]
    assert queued(storage) == Counter({JobKind.PUBLISH_TAIL: 1, JobKind.CLEANUP_VERSIONS: 1})
    run(storage, ls, s, tail_spec(1))
    assert in_label_studio(ls, "v1") == [7, 3, 5, 1, 6, 2, 4]
    by_task = {p["task"]: p for p in ls.predictions}
    assert by_task[2]["result"][0]["value"]["choices"] == ["neutral"]  # the LLM's label
    assert by_task[4]["result"] == [] and by_task[4]["score"] == 0.6
    served = []
    while (task := ls.next_task(1)) is not None:
        served.append(task["id"])
        ls.annotate(task["id"], "positive")
    assert served == [7, 3, 5, 1, 6, 2, 4]


def test_a_failed_tail_resumes_after_what_label_studio_already_holds(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    api_publish(storage, ls, s)
    real_import, calls = ls.import_predictions, []

    def failing_second(project_id: int, predictions: list) -> int:
        calls.append(len(predictions))
        if len(calls) == 2:
            raise LabelStudioUnavailable("import_predictions: connection reset")
        return real_import(project_id, predictions)

    ls.import_predictions = failing_second  # type: ignore[method-assign]
    with pytest.raises(LabelStudioUnavailable):
        run(storage, ls, s, tail_spec(1))
    assert in_label_studio(ls, "v1") == [7, 3, 5, 1]
    ls.import_predictions = real_import  # type: ignore[method-assign]
    run(storage, ls, s, tail_spec(1))
    assert in_label_studio(ls, "v1") == [7, 3, 5, 1, 6, 2, 4]  # each task once


@pytest.mark.parametrize("newer", ["retrain queued", "another version published"])
def test_the_tail_gives_way_to_a_newer_queue(storage: Storage, ls: FakeGateway, s,
                                             newer: str) -> None:
    resync_project(storage, ls, 1)
    api_publish(storage, ls, s)
    if newer == "retrain queued":
        with storage.write() as tx:
            tx.enqueue(JobSpec(JobKind.RETRAIN, 1, dedupe_key="retrain:1", delay_s=30))
        run(storage, ls, s, tail_spec(1))
        assert in_label_studio(ls, "v1") == [7, 3]
    else:
        publish_queue(storage, ls, 1, {4: 0.0, 2: 0.1}, settings=s, version="v2")
        run(storage, ls, s, tail_spec(1))
        assert in_label_studio(ls, "v1") == [7, 3]  # v1's rest is not worth importing now
        assert in_label_studio(ls, "v2") == [4, 2]


def test_clean_up_gives_way_to_a_queued_retrain_and_comes_back(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    publish_queue(storage, ls, 1, SCORES, settings=s, version="labelloop-1")
    publish_queue(storage, ls, 1, SCORES, settings=s, version="labelloop-2")
    now = s.model_copy(update={"cleanup_delay_s": 0.0})
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RETRAIN, 1, dedupe_key="retrain:1"))
    run(storage, ls, now, cleanup_spec(1, now))
    assert ls.list_model_versions(1) == {"labelloop-1": 2, "labelloop-2": 2}
    assert queued(storage)[JobKind.CLEANUP_VERSIONS] == 1  # it comes back
    with storage.write() as tx:
        for job in tx.list_jobs(status=JobStatus.QUEUED):
            if job.kind is JobKind.RETRAIN:
                tx.finish_job(job.id)
    run(storage, ls, now, cleanup_spec(1, now))
    assert ls.list_model_versions(1) == {"labelloop-2": 2}


def quick_view(ls: FakeGateway, task: int, version: str = "v1") -> None:
    """What Label Studio stores when its quick view asks /predict for a task without a
    prediction: labelloop's answer, under the version the project shows, with its queue score."""
    ls.import_predictions(1, [{"task": task, "result": [], "score": SCORES[task],
                               "model_version": version}])


def test_a_quick_view_before_the_tail_makes_it_skip_no_task(
        storage: Storage, ls: FakeGateway, s) -> None:
    resync_project(storage, ls, 1)
    api_publish(storage, ls, s)
    quick_view(ls, 4)  # the last task of the order: Label Studio's count now runs ahead
    run(storage, ls, s, tail_spec(1))
    assert Counter(in_label_studio(ls, "v1")) == Counter([7, 3, 5, 1, 6, 2, 4, 4])
    served = []
    while (task := ls.next_task(1)) is not None:
        served.append(task["id"])
        ls.annotate(task["id"], "positive")
    assert served == [7, 3, 5, 1, 6, 2, 4]


@pytest.mark.parametrize("landed", [False, True])
def test_a_retried_tail_resumes_from_its_checkpoint_whatever_quick_views_added(
        storage: Storage, ls: FakeGateway, s, landed: bool) -> None:
    """The request in flight when the attempt failed is imported again unless Label Studio
    stored it all the same (a timeout after it landed); tasks done before are not redone, and
    quick views of tasks ahead move nothing."""
    resync_project(storage, ls, 1)
    api_publish(storage, ls, s)
    real_import, calls = ls.import_predictions, []

    def failing_second(project_id: int, predictions: list) -> int:
        calls.append(len(predictions))
        if len(calls) == 2:
            if landed:
                real_import(project_id, predictions)
            raise LabelStudioUnavailable("import_predictions: read timed out")
        return real_import(project_id, predictions)

    ls.import_predictions = failing_second  # type: ignore[method-assign]
    with pytest.raises(LabelStudioUnavailable):
        run(storage, ls, s, tail_spec(1))
    ls.import_predictions = real_import  # type: ignore[method-assign]
    quick_view(ls, 2)
    run(storage, ls, s, tail_spec(1))
    got = Counter(in_label_studio(ls, "v1"))
    assert set(got) == {7, 3, 5, 1, 6, 2, 4}  # no task skipped
    assert got[7] == got[3] == got[5] == got[1] == got[4] == 1  # nothing done redone
    assert got[6] == 1 and got[2] == 2  # the request in flight once; 2 also from the quick view
