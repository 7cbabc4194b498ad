"""labelloop against a real Label Studio 1.23.2: registration, webhooks, crash recovery, queue.

Each test starts `labelloop serve` as a subprocess with the Label Studio URL and legacy token in
its environment, registers it as the project's ML backend through the SDK, and checks labelloop's
own database (SQLite in WAL mode is readable while the server runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.e2e.ls_harness import choice_result

from labelloop.storage import open_storage
from labelloop.storage.base import Storage

pytestmark = pytest.mark.e2e


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def storage_of(proc) -> Storage:
    return open_storage(f"sqlite:///{proc.data_dir / 'labelloop.db'}")


def connect(label_studio, labelloop_process, project_id: int, **env: str):
    proc = labelloop_process({
        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
        "LABELLOOP_RETRAIN_DEBOUNCE_S": "3600", "LABELLOOP_RESYNC_INTERVAL_S": "0",
        "LABELLOOP_JOB_POLL_INTERVAL_S": "0.2", **env})
    label_studio.sdk.ml.create(project=project_id, url=proc.url, title="labelloop",
                               auth_method="NONE")
    return proc


def n_tasks(storage: Storage, project_id: int) -> int:
    with storage.read() as tx:
        return len(tx.get_tasks(project_id))


def job_status(storage: Storage, job_id: int) -> str:
    with storage.read() as tx:
        return tx.get_job(job_id).status.value  # type: ignore[union-attr]


def annotations_in(storage: Storage, project_id: int) -> dict[int, list[str]]:
    with storage.read() as tx:
        return {a.id: a.result[0]["value"]["choices"] if a.result else []
                for a in tx.get_annotations(project_id)}


def test_register_setup_webhook_and_first_resync(label_studio, new_project,
                                                 labelloop_process) -> None:
    p = new_project(12)
    proc = connect(label_studio, labelloop_process, p.id)
    status = httpx.get(f"{proc.url}/api/projects/{p.id}/status").json()
    assert status["supported"] and status["schema"]["from_name"] == "sentiment"
    hooks = label_studio.sdk.webhooks.list(project=p.id)
    assert any(h.url == f"{proc.url}/webhook" for h in hooks)
    # credentials configured: the first /setup queued a resync that pulled every task
    st = storage_of(proc)
    try:
        wait_for("the first resync", lambda: n_tasks(st, p.id) == 12)
        with st.read() as tx:
            assert tx.get_project(p.id).last_synced_at is not None  # type: ignore[union-attr]
    finally:
        st.close()


def resyncs_settled(storage: Storage, project_id: int) -> bool:
    """The first resync is done and no other is queued or running."""
    with storage.read() as tx:
        project = tx.get_project(project_id)
        counts = tx.job_counts(project_id).get("resync", {})
    return project is not None and project.last_synced_at is not None and \
        not counts.get("queued") and not counts.get("running")


def test_annotations_created_updated_deleted_are_stored_with_history(
        label_studio, new_project, labelloop_process) -> None:
    p = new_project(5)
    proc = connect(label_studio, labelloop_process, p.id)
    sdk = label_studio.sdk
    st = storage_of(proc)
    try:
        # the start-up resyncs would otherwise race the webhooks for who records "created" first
        wait_for("the start-up resyncs", lambda: resyncs_settled(st, p.id))
        a1 = sdk.annotations.create(id=p.task_ids[0], result=choice_result("positive"))
        a2 = sdk.annotations.create(id=p.task_ids[1], result=choice_result("negative"))
        # webhooks are sent inside Label Studio's own request: stored before create() returns
        assert annotations_in(st, p.id) == {a1.id: ["positive"], a2.id: ["negative"]}
        sdk.annotations.update(id=a1.id, result=choice_result("neutral"))
        sdk.annotations.delete(id=a2.id)
        assert annotations_in(st, p.id) == {a1.id: ["neutral"]}
        with st.read() as tx:
            assert [h.kind for h in tx.annotation_history(a1.id)] == ["created", "updated"]
            assert [h.kind for h in tx.annotation_history(a2.id)] == ["created", "deleted"]
            assert all(h.source == "webhook" for h in tx.annotation_history(a1.id))
    finally:
        st.close()


def test_kill9_while_annotating_loses_nothing(label_studio, new_project,
                                              labelloop_process) -> None:
    p = new_project(10)
    proc = connect(label_studio, labelloop_process, p.id)
    sdk = label_studio.sdk
    before = sdk.annotations.create(id=p.task_ids[0], result=choice_result("positive"))
    proc.kill9()
    # while labelloop is down: Label Studio's webhooks fail, the annotations are saved in LS only
    made = {before.id: ["positive"]}
    for i, tid in enumerate(p.task_ids[1:6]):
        label = ("positive", "negative", "neutral")[i % 3]
        made[sdk.annotations.create(id=tid, result=choice_result(label)).id] = [label]
    sdk.annotations.update(id=before.id, result=choice_result("negative"))
    made[before.id] = ["negative"]
    proc.start()
    st = storage_of(proc)
    try:
        got = wait_for("the start-up resync", lambda: annotations_in(st, p.id) == made
                       and annotations_in(st, p.id))
        assert got == made
        with st.read() as tx:
            assert [h.source for h in tx.annotation_history(before.id)] == ["webhook", "resync"]
    finally:
        st.close()


def test_published_order_is_what_label_studio_serves(label_studio, new_project,
                                                     labelloop_process) -> None:
    p = new_project(8)
    proc = connect(label_studio, labelloop_process, p.id)
    order = [p.task_ids[i] for i in (5, 2, 7, 0, 3, 6, 1, 4)]
    scores = {str(tid): rank / len(order) for rank, tid in enumerate(order)}
    st = storage_of(proc)
    try:
        wait_for("the first resync", lambda: n_tasks(st, p.id) == 8)
        r = httpx.post(f"{proc.url}/api/projects/{p.id}/queue", json={"scores": scores})
        assert r.status_code == 202
        job = r.json()["job"]
        wait_for("the publish job", lambda: job_status(st, job) == "succeeded", timeout=120)
        with st.read() as tx:
            version = tx.get_project(p.id).published_version  # type: ignore[union-attr]
    finally:
        st.close()
    project = label_studio.gateway.get_project(p.id)
    assert project["model_version"] == version and project["sampling"] == "Uncertainty sampling"
    served = []
    while (task := label_studio.gateway.next_task(p.id)) is not None and len(served) < 10:
        served.append(task["id"])
        label_studio.sdk.annotations.create(id=task["id"], result=choice_result("positive"))
    assert served == order


def test_basic_auth_end_to_end(label_studio, new_project, labelloop_process) -> None:
    p = new_project(4)
    proc = labelloop_process({
        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
        "LABELLOOP_BASIC_AUTH_USER": "ls", "LABELLOOP_BASIC_AUTH_PASSWORD": "pw-123456",
        "LABELLOOP_RETRAIN_DEBOUNCE_S": "3600", "LABELLOOP_JOB_POLL_INTERVAL_S": "0.2"})
    assert httpx.get(f"{proc.url}/health").status_code == 401
    label_studio.sdk.ml.create(project=p.id, url=proc.url, title="labelloop",
                               auth_method="BASIC_AUTH", basic_auth_user="ls",
                               basic_auth_pass="pw-123456")
    # labelloop's first resync puts the auth header on the webhook Label Studio created
    wait_for("the webhook's auth header", lambda: any(
        (h.headers or {}).get("Authorization", "").startswith("Basic ")
        for h in label_studio.sdk.webhooks.list(project=p.id)))
    a = label_studio.sdk.annotations.create(id=p.task_ids[0], result=choice_result("neutral"))
    st = storage_of(proc)
    try:
        assert annotations_in(st, p.id) == {a.id: ["neutral"]}
        with st.read() as tx:
            assert [h.source for h in tx.annotation_history(a.id)] == ["webhook"]
    finally:
        st.close()
    assert "pw-123456" not in proc.log_text()
