"""Issue 18's poison pill against a real Label Studio 1.23.2: a task whose text holds a lone
surrogate, imported as the JSON text ``"\\udc80"`` among 30 tasks, then 12 annotations made in
Label Studio. Label Studio stores the text as given and sends it in its webhook, but its own task
API answers 500 for every page that holds the task. Before issue 18 every embed and retrain of
the project died, and so did every resync; now they succeed: the text arrives cleaned by the
webhook, and the resync passes the task it cannot read (recorded, shown in ``/status``)."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.e2e.ls_harness import TEXT_CONFIG, choice_result
from tests.e2e.test_foundation_e2e import connect, job_status, storage_of, wait_for

pytestmark = pytest.mark.e2e
WORDS = {"positive": "great", "negative": "awful", "neutral": "plot"}
CLASSES = list(WORDS)


def test_a_lone_surrogate_in_label_studio_stops_no_job(label_studio, labelloop_process) -> None:
    sdk = label_studio.sdk
    project = sdk.projects.create(title="e2e lone surrogate", label_config=TEXT_CONFIG)
    proc = connect(label_studio, labelloop_process, project.id, LABELLOOP_RETRAIN_DEBOUNCE_S="0")
    texts = [json.dumps(f"{WORDS[CLASSES[i % 3]]} movie number {i}") for i in range(30)]
    texts[6] = '"awful movie \\udc80 number 6"'  # JSON text: the SDK could not even encode it
    body = "[" + ",".join(f'{{"data": {{"text": {t}}}}}' for t in texts) + "]"
    auth = {"Authorization": f"Token {label_studio.token}"}
    r = httpx.post(f"{label_studio.url}/api/projects/{project.id}/import",
                   params={"return_task_ids": "true"}, content=body.encode("ascii"),
                   headers={**auth, "Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 201, r.text
    ids = sorted(r.json()["task_ids"])
    # Label Studio keeps the text as given, and then cannot serve it itself
    assert httpx.get(f"{label_studio.url}/api/tasks/{ids[6]}", headers=auth).status_code == 500
    st = storage_of(proc)
    try:
        wait_for("the import's webhook", lambda: _n_tasks(st, project.id) == 30, timeout=120)
        for i in [i for i in range(13) if i != 6]:  # 12 annotations, made in Label Studio
            sdk.annotations.create(id=ids[i], result=choice_result(CLASSES[i % 3]))
        wait_for("a retrain on the 12 labels", lambda: _trained_on(st, project.id) >= 12,
                 timeout=300)
        job = httpx.post(f"{proc.url}/api/projects/{project.id}/resync").json()["job"]
        wait_for("the resync", lambda: job_status(st, job) in ("succeeded", "dead"), timeout=300)
        with st.read() as tx:
            jobs = tx.list_jobs(project_id=project.id, limit=200)
            bad = tx.get_tasks(project.id, [ids[6]])[0]
            version = tx.get_project(project.id).published_version  # type: ignore[union-attr]
            queued = {e.task_id for e in tx.get_queue(project.id, version)}  # type: ignore[arg-type]
    finally:
        st.close()
    assert [(j.kind.value, j.last_error) for j in jobs if j.status.value == "dead"] == []
    done = {j.kind.value for j in jobs if j.status.value == "succeeded"}
    assert {"embed", "retrain", "resync"} <= done
    assert bad.data == {"text": "awful movie \ufffd number 6"}  # cleaned by the webhook
    assert ids[6] in queued
    status = httpx.get(f"{proc.url}/status").json()
    assert status["dead_jobs"] == []
    reasons = status["skipped"]["reasons"]
    assert status["skipped"]["count"] == 1 and reasons[0]["job"] == "resync"
    assert reasons[0]["task_ids"] == [ids[6]] and "answers 500" in reasons[0]["reason"]


def _n_tasks(st, project_id: int) -> int:
    with st.read() as tx:
        return len(tx.get_tasks(project_id))


def _trained_on(st, project_id: int) -> int:
    with st.read() as tx:
        return max([int((v.lineage or {}).get("n_labeled") or 0)
                    for v in tx.list_model_versions(project_id) if v.kind == "retrain"],
                   default=0)
