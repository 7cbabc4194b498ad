"""Scale-out against real servers: PostgreSQL, Label Studio 1.23.2, the test LLM server, one
``labelloop serve --no-worker`` and three ``labelloop worker`` processes sharing the database.

Three projects are connected; while their resync, embed, pre-label, retrain and publish jobs run,
the worker running a pre-label job is killed with ``kill -9`` and annotations arrive. Every job
must complete on the surviving workers (none dead), every task end up with exactly one LLM label
and, in Label Studio, at most one prediction per model version, and every annotation be stored.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from tests.e2e.ls_harness import REPO, choice_result
from tests.e2e.test_foundation_e2e import wait_for
from tests.fakes.llm_server import FakeLLM

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.storage.base import Storage, open_storage

pytestmark = pytest.mark.e2e
LABELS = ["positive", "negative", "neutral"]


class WorkerProcess:
    """``labelloop worker --threads 1`` in its own process group (so ``kill9`` is a crash)."""

    def __init__(self, log: Path, env: dict[str, str], data_dir: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "labelloop"), "worker", "--threads", "1",
                 "--data-dir", str(data_dir)],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


def running_on(st: Storage, pid: int, kind: JobKind) -> bool:
    """A job of ``kind`` is running on the worker process ``pid`` (``host:pid:…``)."""
    with st.read() as tx:
        jobs = tx.list_jobs(status=JobStatus.RUNNING, limit=100)
    return any(j.kind is kind and (j.locked_by or "").split(":")[1:2] == [str(pid)]
               for j in jobs)


def settled(st: Storage, project_ids: list[int]) -> bool:
    """Every project published, no job running or queued (the 1 s retrain debounce included)."""
    with st.read() as tx:
        if any(not (p := tx.get_project(pid)) or not p.published_version for pid in project_ids):
            return False
        jobs = tx.list_jobs(limit=1000)
    return not any(j.status in (JobStatus.RUNNING, JobStatus.QUEUED) for j in jobs)


def job_history(jobs: list, project_id: int) -> list[tuple]:
    """What a failed assertion shows: the project's jobs in order, with their outcome."""
    return [(j.id, j.kind.value, j.status.value, j.attempts, j.locked_by, j.last_error,
             j.progress) for j in sorted(jobs, key=lambda j: j.id) if j.project_id == project_id]


def test_three_workers_one_killed_every_job_completes_nothing_lost_or_doubled(
        label_studio, new_project, labelloop_process, postgres_server, tmp_path) -> None:
    db_url = postgres_server.new_database()
    projects = [new_project(texts=[f"p{k} tweet {i}: {['so good', 'so bad', 'tuesday'][i % 3]}"
                                   for i in range(60)]) for k in range(3)]
    gold = {f"p{k} tweet {i}: {['so good', 'so bad', 'tuesday'][i % 3]}": LABELS[i % 3]
            for k in range(3) for i in range(60)}
    # slow answers, two at a time: one project's pre-labels take ~9 s, long enough to kill mid-job
    with FakeLLM(gold, labels=LABELS, seed=3, latency_s=0.3) as llm:
        env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
               "LABELLOOP_DATABASE_URL": db_url, "LABELLOOP_WORKER_MODE": "external",
               "LABELLOOP_RESYNC_INTERVAL_S": "0", "LABELLOOP_JOB_POLL_INTERVAL_S": "0.2",
               "LABELLOOP_RETRAIN_DEBOUNCE_S": "1", "OPENAI_BASE_URL": llm.url,
               "OPENAI_API_KEY": "sk-e2e-test-key", "LABELLOOP_LLM_MODEL": "fake-llm",
               "LABELLOOP_LLM_CONCURRENCY": "2", "LABELLOOP_CLEANUP_DELAY_S": "1"}
        api = labelloop_process(env)
        worker_env = {**api.env(), "HF_HUB_OFFLINE": "1"}
        workers = [WorkerProcess(tmp_path / f"worker-{i}.log", worker_env, tmp_path / f"w{i}")
                   for i in range(3)]
        st = open_storage(db_url)
        try:
            for p in projects:
                label_studio.sdk.ml.create(project=p.id, url=api.url, title="labelloop",
                                           auth_method="NONE")
            victim = wait_for("a worker running a pre-label job", lambda: next(
                (w for w in workers if running_on(st, w.pid, JobKind.PRELABEL)), None), 120)
            victim.kill9()
            annotated: dict[int, list[int]] = {}
            for p in projects:
                for tid in p.task_ids[:4]:
                    label_studio.sdk.annotations.create(id=tid, result=choice_result("positive"))
                annotated[p.id] = p.task_ids[:4]
            ids = [p.id for p in projects]
            wait_for("every project published and the queue drained",
                     lambda: settled(st, ids), timeout=420)
            with st.read() as tx:
                jobs = tx.list_jobs(limit=1000)
                llm_labels = {p.id: tx.get_llm_labels(p.id) for p in projects}
                stored = {p.id: sorted(a.task_id for a in tx.get_annotations(p.id)
                                       if not a.deleted) for p in projects}
                versions = {p.id: tx.get_project(p.id).published_version for p in projects}
        finally:
            for w in workers:
                w.stop()
            st.close()
    assert not [j for j in jobs if j.status is JobStatus.DEAD], \
        [(j.kind, j.last_error) for j in jobs if j.status is JobStatus.DEAD]
    # the killed worker's job went back to the queue and a surviving worker finished it
    requeued = [j for j in jobs if j.last_error == "its worker process died"]
    assert requeued and all(j.status in (JobStatus.SUCCEEDED, JobStatus.SUPERSEDED)
                            for j in requeued)
    assert any(j.kind is JobKind.PRELABEL for j in requeued)
    for p in projects:
        # one LLM label per task, none missing
        assert sorted(llm_labels[p.id]) == p.task_ids, job_history(jobs, p.id)
        assert stored[p.id] == sorted(annotated[p.id])  # every annotation stored
        tasks = list(label_studio.gateway.iter_tasks(p.id, page_size=500))
        per_version = collections.Counter(
            (t["id"], pr["model_version"]) for t in tasks for pr in t["predictions"])
        assert per_version and max(per_version.values()) == 1, per_version.most_common(3)
        current = {t["id"] for t in tasks
                   if any(pr["model_version"] == versions[p.id] for pr in t["predictions"])}
        assert current == set(p.task_ids) - set(annotated[p.id])
    # the work was shared: every surviving worker process finished jobs
    pids = {(j.locked_by or "").split(":")[1] for j in jobs if j.status is JobStatus.SUCCEEDED}
    assert {str(w.pid) for w in workers if w is not victim} <= pids, pids
