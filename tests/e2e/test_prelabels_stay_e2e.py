"""Pre-labels that stay, against a real Label Studio 1.23.2 and the test LLM server.

labelloop publishes version N, then N+1; the project is then set back to N through Label
Studio's API, as its Annotation settings page does when saved (``PATCH /api/projects/{id}``
with the ``model_version`` its dropdown holds). Under ``restore`` (the default) labelloop puts
the project back to N+1; under ``follow`` it leaves N. Either way the delayed clean-up then runs,
no version the project shows is lost, and every task the labeling stream serves comes with a
pre-label of the project's version. Opening a task without predictions in the quick view makes
Label Studio call /setup and /predict: the answer lands under an existing version (no new one
in the dropdown).

Run: ``.venv/bin/python -m pytest -m e2e tests/e2e/test_prelabels_stay_e2e.py``
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import httpx
import pytest
from tests.e2e.ls_harness import choice_result
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_server import FakeLLM

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.storage.base import Storage

pytestmark = pytest.mark.e2e
LABELS = ["positive", "negative", "neutral"]
WORDS = ["so good", "so bad", "it is tuesday"]
SERVED = 8  # tasks taken from the labeling stream after the settings save


def train(proc: Any, project_id: int, round_: int) -> None:
    """What Label Studio's Start Training sends (a nonce keeps the body from being a duplicate)."""
    r = httpx.post(f"{proc.url}/webhook", json={"action": "START_TRAINING",
                                                "project": {"id": project_id}, "round": round_})
    assert r.status_code == 200, r.text


def llm_labelled(st: Storage, project_id: int) -> int:
    with st.read() as tx:
        return sum(1 for lab in tx.get_llm_labels(project_id).values() if lab.labels)


def make_clean_up_due(proc: Any) -> int:
    """The clean-up waits LABELLOOP_CLEANUP_DELAY_S after a publish: make it due now."""
    con = sqlite3.connect(proc.data_dir / "labelloop.db", timeout=30)
    try:
        with con:
            return con.execute("UPDATE jobs SET run_after = 0 WHERE kind = ? AND status = ?",
                               (JobKind.CLEANUP_VERSIONS.value, JobStatus.QUEUED.value)).rowcount
    finally:
        con.close()


def clean_up_done(st: Storage) -> bool:
    with st.read() as tx:
        jobs = [j for j in tx.list_jobs(limit=500) if j.kind is JobKind.CLEANUP_VERSIONS]
    return bool(jobs) and all(j.status is JobStatus.SUCCEEDED for j in jobs)


def drift_of(proc: Any, project_id: int) -> dict[str, Any] | None:
    return httpx.get(f"{proc.url}/api/projects/{project_id}/status").json()["version_drift"]


@pytest.mark.parametrize("mode", ["restore", "follow"])
def test_a_settings_save_back_to_an_older_version_loses_no_pre_label(
        label_studio, new_project, labelloop_process, mode: str) -> None:
    texts = [f"tweet {i}: {WORDS[i % 3]}" for i in range(30)]
    gold = {t: LABELS[i % 3] for i, t in enumerate(texts)}
    ls = label_studio.gateway
    with FakeLLM(gold, labels=LABELS, noise=0.1, seed=11) as llm:
        p = new_project(texts=texts)
        proc = connect(label_studio, labelloop_process, p.id, OPENAI_BASE_URL=llm.url,
                       OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="fake-llm",
                       LABELLOOP_CLEANUP_DELAY_S="3600", LABELLOOP_MODEL_VERSION_DRIFT=mode)
        st = storage_of(proc)
        try:
            wait_for("LLM labels on every task", lambda: llm_labelled(st, p.id) == 30, 180)
            wait_for("jobs to settle", lambda: idle(st), 180)
            versions = []
            for round_ in range(2):  # N, then N+1, both with the LLM's pre-labels
                before = published(st, p.id)
                train(proc, p.id, round_)
                wait_for(f"publish {round_}",
                         lambda before=before: published(st, p.id) != before, 180)
                wait_for("jobs to settle", lambda: idle(st), 180)
                versions.append(published(st, p.id))
            old, new = versions
            assert ls.get_project(p.id)["model_version"] == new
            assert {old, new} <= set(ls.list_model_versions(p.id))

            # the Annotation settings page saved with the older version in its dropdown
            started = time.time()
            ls.update_project(p.id, model_version=old)
            if mode == "restore":
                wait_for("the project back on the published version",
                         lambda: ls.get_project(p.id)["model_version"] == new, 60)
                drift = wait_for("the drift resolved",
                                 lambda: (d := drift_of(proc, p.id)) and not d["active"] and d, 30)
                assert drift["action"] == "restored"
            else:
                drift = wait_for("the drift reported",
                                 lambda: (d := drift_of(proc, p.id)) and d["active"] and d, 60)
                assert drift["action"] == "follow"
            assert (drift["shows"], drift["published"]) == (old, new)
            assert drift["seen_at"] >= started - 1
            restored_in = (drift.get("resolved_at") or drift["seen_at"]) - started

            # the delayed clean-up runs now: nothing the project shows may go
            assert make_clean_up_due(proc) >= 1
            wait_for("the clean-up", lambda: clean_up_done(st), 180)
            shown = ls.get_project(p.id)["model_version"]
            kept = ls.list_model_versions(p.id)
            assert shown == (new if mode == "restore" else old)
            assert kept.get(shown, 0) > 0 and kept.get(new, 0) > 0, kept

            # every task the labeling stream serves comes with a pre-label of that version
            without = []
            for _ in range(SERVED):
                task = ls.next_task(p.id)
                assert task is not None
                ours = [pr for pr in task.get("predictions") or []
                        if pr.get("model_version") == shown and pr.get("result")]
                if not ours:
                    without.append(task["id"])
                label_studio.sdk.annotations.create(
                    id=task["id"], result=choice_result(gold[task["data"]["text"]]))
            assert without == [], f"served without a pre-label of {shown}: {without}"

            # the quick view opens a task without predictions: Label Studio asks /predict,
            # and the answer lands under the project's version, not a new one
            before_versions = set(ls.list_model_versions(p.id))
            answer = label_studio.sdk.projects.import_tasks(
                id=p.id, request=[{"data": {"text": "tweet 99: so good"}}], return_task_ids=True)
            (tid,) = answer.task_ids
            r = httpx.get(f"{label_studio.url}/api/tasks/{tid}",
                          headers={"Authorization": f"Token {label_studio.token}"}, timeout=120)
            assert r.status_code == 200, r.text
            preds = r.json().get("predictions") or []
            assert preds and {pr["model_version"] for pr in preds} == {shown}, preds
            assert set(ls.list_model_versions(p.id)) == before_versions
            print(f"\n[{mode}] settings save {old} over {new}: {drift['action']} after "
                  f"{restored_in:.1f} s; {len(without)} of {SERVED} served tasks without a "
                  f"pre-label; versions after clean-up {sorted(kept)}")
        finally:
            st.close()
