from __future__ import annotations

import json

import pytest
from tests.conftest import CONFIG

from labelloop.errors import InvalidInput, MalformedBody
from labelloop.events.apply import ingest_webhook
from labelloop.jobs.types import JobStatus
from labelloop.settings import Settings
from labelloop.storage.base import Storage


def body(action: str, **payload: object) -> bytes:
    return json.dumps({"action": action, **payload}).encode()


def created(aid: int, task: int, choice: str = "positive", updated: str = "2026-01-01") -> bytes:
    return body("ANNOTATION_CREATED",
                annotation={"id": aid, "task": task, "completed_by": 1, "updated_at": updated,
                            "result": [{"from_name": "sentiment", "to_name": "text",
                                        "type": "choices", "value": {"choices": [choice]}}]},
                task={"id": task, "data": {"text": f"text {task}"}},
                project={"id": 1, "label_config": CONFIG, "title": "Reviews"})


def test_annotation_event_creates_project_task_annotation_and_retrain(
        storage: Storage, settings: Settings) -> None:
    res = ingest_webhook(storage, created(10, 5), settings)
    assert res.status == "applied" and res.changes == {"tasks_new": 1, "annotations_created": 1}
    with storage.read() as tx:
        project = tx.get_project(1)
        jobs = tx.list_jobs()
        assert tx.get_tasks(1)[0].data == {"text": "text 5"}
        assert [a.id for a in tx.get_annotations(1)] == [10]
    assert project is not None and project.supported and project.title == "Reviews"
    assert {j.kind.value for j in jobs} == {"retrain", "embed"}


def test_repeated_event_is_a_duplicate_and_changes_nothing(storage: Storage,
                                                           settings: Settings) -> None:
    ingest_webhook(storage, created(10, 5), settings)
    again = ingest_webhook(storage, created(10, 5), settings)
    assert again.status == "duplicate" and again.jobs == []
    with storage.read() as tx:
        assert [h.kind for h in tx.annotation_history(10)] == ["created"]
        assert tx.event_counts() == {"applied": 1, "duplicate": 1}


def test_update_delete_and_bulk(storage: Storage, settings: Settings) -> None:
    ingest_webhook(storage, created(10, 5), settings)
    upd = created(10, 5, "negative", updated="2026-01-02").replace(
        b"ANNOTATION_CREATED", b"ANNOTATION_UPDATED")
    assert ingest_webhook(storage, upd, settings).changes == {"annotations_updated": 1,
                                                              "tasks_new": 0}
    bulk = body("ANNOTATIONS_CREATED", annotation=[
        {"id": 11, "task": 6, "result": []}, {"id": 12, "task": 7, "result": []}],
        task=[{"id": 6, "data": {"text": "a"}}, {"id": 7, "data": {"text": "b"}}],
        project={"id": 1})
    assert ingest_webhook(storage, bulk, settings).changes["annotations_created"] == 2
    dele = body("ANNOTATIONS_DELETED", annotations=[{"id": 10}, {"id": 11}], project={"id": 1})
    assert ingest_webhook(storage, dele, settings).changes == {"annotations_deleted": 2}
    gone = body("TASKS_DELETED", tasks=[{"id": 7}], project={"id": 1})
    assert ingest_webhook(storage, gone, settings).changes == {"tasks_deleted": 1}
    with storage.read() as tx:
        assert [a.id for a in tx.get_annotations(1)] == [12]
        assert [h.kind for h in tx.annotation_history(10)] == ["created", "updated", "deleted"]
        assert sorted(t.id for t in tx.get_tasks(1)) == [5, 6]


def test_skip_is_recorded_as_skipped(storage: Storage, settings: Settings) -> None:
    skip = body("ANNOTATION_CREATED", annotation={"id": 20, "task": 5, "result": [],
                                                  "was_cancelled": True},
                task={"id": 5, "data": {"text": "x"}}, project={"id": 1})
    ingest_webhook(storage, skip, settings)
    with storage.read() as tx:
        assert [h.kind for h in tx.annotation_history(20)] == ["skipped"]


def test_bad_bodies_are_stored_then_refused(storage: Storage, settings: Settings) -> None:
    with pytest.raises(MalformedBody):
        ingest_webhook(storage, b"{not json", settings)
    with pytest.raises(InvalidInput):
        ingest_webhook(storage, body("ANNOTATION_CREATED", annotation={"id": 1}), settings)
    with storage.read() as tx:
        assert tx.event_counts() == {"invalid": 2}


def test_unknown_actions_are_stored_and_ignored(storage: Storage, settings: Settings) -> None:
    res = ingest_webhook(storage, body("REVIEW_CREATED", project={"id": 1}), settings)
    assert res.status == "ignored"
    with storage.read() as tx:
        assert tx.event_counts() == {"ignored": 1} and tx.get_project(1) is None


def test_start_training_asks_for_resync_when_credentials_exist(
        storage: Storage, tmp_path) -> None:
    from tests.conftest import make_settings
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10)
    res = ingest_webhook(storage, body("START_TRAINING", project={"id": 1,
                                                                   "label_config": CONFIG}), s)
    with storage.read() as tx:
        kinds = sorted(tx.get_job(j).kind.value for j in res.jobs)  # type: ignore[union-attr]
    assert kinds == ["resync", "retrain"]


def test_broken_config_in_webhook_does_not_lose_the_annotation(
        storage: Storage, settings: Settings) -> None:
    raw = json.loads(created(10, 5))
    raw["project"]["label_config"] = "<View><Text"
    ingest_webhook(storage, json.dumps(raw).encode(), settings)
    with storage.read() as tx:
        assert [a.id for a in tx.get_annotations(1)] == [10]
        p = tx.get_project(1)
    assert p is not None and not p.supported and "XML" in (p.unsupported_reason or "")


def test_retrain_is_due_at_once_after_n_label_changes(storage: Storage, tmp_path) -> None:
    import time

    from tests.conftest import make_settings
    s = make_settings(tmp_path, retrain_debounce_s=600, retrain_every_n=3)
    for i in range(2):
        ingest_webhook(storage, created(10 + i, 5 + i), s)
    with storage.read() as tx:
        (job,) = [j for j in tx.list_jobs() if j.kind.value == "retrain"]
    assert job.run_after > time.time() + 500  # debounced
    ingest_webhook(storage, created(12, 7), s)
    with storage.read() as tx:
        assert tx.get_job(job.id).run_after <= time.time()  # type: ignore[union-attr]


def test_project_updated_retrains_only_when_the_labeling_config_changed(
        storage: Storage, settings: Settings) -> None:
    """Publishing sets the project's model_version and Label Studio answers PROJECT_UPDATED:
    that must not queue another retrain (it would publish again, in a loop)."""
    ingest_webhook(storage, created(10, 5), settings)
    with storage.write() as tx:
        for job in tx.list_jobs():
            tx.finish_job(job.id)
    project = {"id": 1, "label_config": CONFIG, "title": "Reviews", "model_version": "lv-2"}
    ingest_webhook(storage, body("PROJECT_UPDATED", project=project), settings)
    with storage.read() as tx:
        assert tx.list_jobs(status=JobStatus.QUEUED) == []
    new_config = CONFIG.replace('<Choice value="neutral"/>', "")
    assert new_config != CONFIG
    ingest_webhook(storage, body("PROJECT_UPDATED", project={**project, "label_config": new_config}),
                   settings)
    with storage.read() as tx:
        assert [j.kind.value for j in tx.list_jobs(status=JobStatus.QUEUED)] == ["retrain"]
