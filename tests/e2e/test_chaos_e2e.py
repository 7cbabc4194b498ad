"""Chaos against a real Label Studio 1.23.2: retrain (or a publish of an ordering sent to the API)
→ publish → tail → clean-up through a proxy
that breaks one request at a time (500, a hang past the client's timeout after the request
landed, a dropped connection), for every request of the chain in turn, then lets it heal.

labelloop runs in this process (its real job handlers, a worker, SQLite, the SDK gateway with
a 2 s timeout) against ``tests/e2e/fault_proxy.py`` in front of Label Studio. After each broken
chain the project must show the newest version, held whole (each ranked task once, counted per
task) with only it left of labelloop's versions, and no job may be dead; at the end the annotators' queue serves
its head with a pre-label.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import make_settings
from tests.e2e.fault_proxy import FaultProxy, ProxyFault
from tests.e2e.ls_harness import LabelStudioServer, LsProject, choice_result
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.client import make_gateway
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage

pytestmark = pytest.mark.e2e

TIMEOUT_S = 2.0
FAULTS: tuple[ProxyFault, ...] = ("500", "hang", "drop")
N_TASKS, N_LABELED = 16, 6


@pytest.fixture
def proxy(label_studio: LabelStudioServer) -> Iterator[FaultProxy]:
    p = FaultProxy(label_studio.url, hang_s=TIMEOUT_S + 2).start()
    yield p
    p.stop()


def chaos_settings(tmp_path: Path, proxy: FaultProxy, token: str) -> Settings:
    return make_settings(
        tmp_path, label_studio_url=proxy.url, label_studio_api_key=token,
        label_studio_timeout_s=TIMEOUT_S, publish_head_size=4, publish_batch_size=4,
        publish_tail_batch_size=4, cleanup_delay_s=0.0, job_backoff_scale=0.05,
        second_annotation_budget=0)


def start_spec(start: str, p: LsProject) -> JobSpec:
    if start == "retrain":
        return JobSpec(JobKind.RETRAIN, p.id, dedupe_key=f"retrain:{p.id}",
                       serial_key=project_serial_key(p.id))
    unlabeled = p.task_ids[N_LABELED:]  # as POST /api/projects/{id}/queue queues it
    scores = {str(t): (len(unlabeled) - i) / len(unlabeled) for i, t in enumerate(unlabeled)}
    return JobSpec(JobKind.PUBLISH, p.id, payload={"scores": scores, "version": None},
                   serial_key=project_serial_key(p.id))


def run_chain(worker: Worker, storage: Storage, spec: JobSpec, *,
              within_s: float = 180.0) -> None:
    """Queue ``spec`` and run jobs until none is queued (waiting out retry delays)."""
    pid = spec.project_id
    with storage.write() as tx:
        tx.enqueue(spec)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if worker.run_once() is not None:
            continue
        with storage.read() as tx:
            if not tx.list_jobs(project_id=pid, status=JobStatus.QUEUED):
                return
        time.sleep(0.1)
    raise AssertionError(f"jobs still queued after {within_s} s")


def problems(storage: Storage, label_studio: LabelStudioServer, pid: int) -> list[str]:
    """What keeps the project from a published queue (read past the proxy)."""
    out = []
    with storage.read() as tx:
        jobs = tx.list_jobs(project_id=pid, limit=1000)
        project = tx.get_project(pid)
        newest = max((v.version for v in tx.list_model_versions(pid)),
                     key=lambda v: int(v.split("-")[1]))
        queue = tx.get_queue(pid, newest)
    out += [f"{j.kind.value} {j.status.value}: {j.last_error}" for j in jobs
            if j.status not in (JobStatus.SUCCEEDED, JobStatus.SUPERSEDED)]
    if project is None or project.published_version != newest:
        out.append(f"published {project and project.published_version}, newest {newest}")
    shown = label_studio.gateway.get_project(pid).get("model_version")
    if shown != newest:
        out.append(f"Label Studio shows {shown!r}, newest {newest}")
    held = {v: n for v, n in label_studio.gateway.list_model_versions(pid).items()
            if v.startswith("labelloop-")}
    if held != {newest: len(queue)}:
        out.append(f"Label Studio holds {held}, the queue of {newest} has {len(queue)} tasks")
    per_task = Counter(pr.task for pr in label_studio.sdk.predictions.list(project=pid)
                       if pr.model_version == newest)
    if set(per_task) != {e.task_id for e in queue} or set(per_task.values()) != {1}:
        out.append(f"{newest} in Label Studio, predictions per task: {dict(per_task)}")
    return out


@pytest.mark.parametrize("start", ["retrain", "publish"])
def test_label_studio_failing_at_each_step_then_healthy_leaves_a_published_queue(
        label_studio: LabelStudioServer, new_project, proxy: FaultProxy, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, start: str) -> None:
    caplog.set_level(logging.ERROR)
    labels = [list(WORDS)[i % 3] for i in range(N_TASKS)]
    p = new_project(N_TASKS, texts=[f"{WORDS[c]} movie number {i}"
                                    for i, c in enumerate(labels)])
    for tid, label in list(zip(p.task_ids, labels))[:N_LABELED]:
        label_studio.sdk.annotations.create(id=tid, result=choice_result(label))
    s = chaos_settings(tmp_path, proxy, label_studio.token)
    storage = open_storage(s.resolved_database_url)
    resync_project(storage, label_studio.gateway, p.id)
    gateways = GatewayProvider(s, lambda url, key, timeout: make_gateway(
        url, key, timeout=timeout, slow_timeout=TIMEOUT_S + 1))
    worker = Worker(storage, s, default_handlers(s), gateways=gateways, worker_id="e2e",
                    resources=Resources(s, embedder=ToyEmbedder()))

    # healthy: a retrain (the model's pre-labels), then the chain measured, with a version to
    # clean up
    for spec in (start_spec("retrain", p), start_spec(start, p)):
        first = len(proxy.log)
        run_chain(worker, storage, spec)
        assert problems(storage, label_studio, p.id) == []
    chain = proxy.log[first:]
    assert {"POST", "PATCH", "DELETE"} <= {r.split()[0] for r in chain}, chain

    failed: dict[str, list[str]] = {}
    started = time.monotonic()
    for fault in FAULTS:
        for k, request in enumerate(chain, 1):
            proxy.arm(k, fault)
            run_chain(worker, storage, start_spec(start, p))
            if found := problems(storage, label_studio, p.id):
                failed[f"{fault} at request {k} ({request})"] = found
    seconds = time.monotonic() - started
    points = len(FAULTS) * len(chain)
    print(f"\nchaos e2e ({start}): {points} fault points over a chain of {len(chain)} requests "
          f"({', '.join(chain)}), {len(proxy.faults)} faults injected, {len(failed)} left a "
          f"problem, {seconds:.0f} s")
    assert failed == {}
    assert len(proxy.faults) == points  # every armed fault met its request

    # healed: the annotators' queue serves the newest queue's head, with its pre-label
    with storage.read() as tx:
        newest = tx.get_project(p.id).published_version  # type: ignore[union-attr]
        head = tx.get_queue(p.id, newest, limit=1)[0].task_id  # type: ignore[arg-type]
    served = label_studio.gateway.next_task(p.id)
    assert served is not None and served["id"] == head
    (prediction,) = served["predictions"]
    assert prediction["model_version"] == newest and prediction["result"]
