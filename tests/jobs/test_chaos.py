"""Chaos: Label Studio fails at each call of retrain → publish → tail → clean-up, then recovers.

A retrain of a project that already has a published version makes a fixed sequence of Label
Studio calls (the head's imports, the switch, the tail's count and imports, the clean-up's list
and delete); so does a publish of an ordering sent to the API. :class:`FaultyGateway` wraps the in-memory Label Studio and fails exactly one call
of that sequence (every position in turn) in one of the ways a real one fails:

* ``500``: Label Studio refuses the request and does nothing;
* ``timeout``: Label Studio does the work, but the answer never reaches labelloop (a hang past
  the client's timeout; the request still lands);
* ``drop``: the connection goes before the request reaches Label Studio;
* ``outage``: three calls in a row answer 500 (the job's retry meets the outage again).

The real job handlers run through a worker whose retries are due at once
(``job_backoff_scale=0``). Each run must end with the newest version published whole in Label
Studio (each ranked task once), the project switched to it, the superseded version cleaned up,
and no job dead.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.publish import publish_queue
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage

Fault = Literal["500", "timeout", "drop", "outage"]
FAULTS: tuple[Fault, ...] = ("500", "timeout", "drop", "outage")
Start = Literal["retrain", "publish"]
CHAIN = ("import_predictions", "update_project", "list_model_versions", "delete_model_version",
         "request_annotations", "get_project", "next_task")
N_TASKS, N_LABELED = 24, 6


class FaultyGateway:
    """The in-memory Label Studio, failing the ``fail_at``-th call (1-based, counted over the
    calls in :data:`CHAIN`) as ``fault`` says; ``fail_at=0`` never fails. ``log`` holds every
    call made, in order."""

    def __init__(self, inner: FakeGateway, *, fail_at: int = 0, fault: Fault = "500") -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.fault = fault
        self.log: list[str] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name not in CHAIN:
            return real

        def call(*args: Any, **kw: Any) -> Any:
            self.log.append(name)
            n = len(self.log)
            burst = 3 if self.fault == "outage" else 1
            failing = self.fail_at and self.fail_at <= n < self.fail_at + burst
            if failing and self.fault == "timeout":
                real(*args, **kw)  # it lands; the answer does not
                raise LabelStudioUnavailable(f"{name}: read timed out")
            if failing:
                raise LabelStudioUnavailable(
                    f"{name}: connection reset" if self.fault == "drop"
                    else f"{name}: Label Studio answered 500")
            return real(*args, **kw)

        return call


@dataclass
class Project:
    id: int
    ls: FakeGateway
    gateway: FaultyGateway


def chaos_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "publish_head_size": 4, "publish_batch_size": 2, "publish_tail_batch_size": 5,
        "cleanup_delay_s": 0.0, "job_backoff_scale": 0.0, "second_annotation_budget": 0})


def new_project(storage: Storage, pid: int, s: Settings) -> Project:
    """A project with a published version (``labelloop-1``, which the chain's clean-up removes)
    and a few labels, so the retrain trains a model and publishes its pre-labels."""
    ls = FakeGateway()
    ls.add_project(pid, CONFIG)
    ids = [pid * 1000 + i for i in range(1, N_TASKS + 1)]
    for tid in ids:
        ls.add_task(pid, tid, {"text": f"{WORDS[list(WORDS)[tid % 3]]} movie number {tid}"})
    for tid in ids[:N_LABELED]:
        ls.annotate(tid, list(WORDS)[tid % 3])
    resync_project(storage, ls, pid)
    publish_queue(storage, ls, pid, {t: i / N_TASKS for i, t in enumerate(ids)},
                  settings=s.model_copy(update={"publish_head_size": 0}), version="labelloop-1")
    with storage.write() as tx:
        tx.add_model_version(pid, "labelloop-1", kind="retrain")
    return Project(pid, ls, FaultyGateway(ls))


def start_spec(start: Start, pid: int) -> JobSpec:
    """The chain's first job: a retrain, or a publish of an ordering (as the API queues it)."""
    if start == "retrain":
        return JobSpec(JobKind.RETRAIN, pid, dedupe_key=f"retrain:{pid}",
                       serial_key=project_serial_key(pid))
    scores = {str(pid * 1000 + i): (N_TASKS - i) / N_TASKS for i in range(1, N_TASKS + 1)}
    return JobSpec(JobKind.PUBLISH, pid, payload={"scores": scores, "version": None},
                   serial_key=project_serial_key(pid))


def run_chain(storage: Storage, s: Settings, project: Project,
              start: Start = "retrain") -> None:
    """Queue the chain's first job and run every job to its end (a failed job is due again
    at once)."""
    worker = Worker(storage, s, default_handlers(s),
                    gateways=GatewayProvider(s, lambda *_: project.gateway), worker_id="chaos",
                    resources=Resources(s, embedder=ToyEmbedder()))
    with storage.write() as tx:
        tx.enqueue(start_spec(start, project.id))
    for _ in range(100):
        if worker.run_once() is None:
            return
    raise AssertionError("the chain did not settle in 100 jobs")


def problems(storage: Storage, project: Project) -> list[str]:
    """What keeps the project from a published queue: an empty list when it reached one."""
    pid, ls = project.id, project.ls
    out = []
    with storage.read() as tx:
        jobs = tx.list_jobs(project_id=pid, limit=1000)
        p = tx.get_project(pid)
        newest = max((v.version for v in tx.list_model_versions(pid)),
                     key=lambda v: int(v.split("-")[1]))
        queue = tx.get_queue(pid, newest)
    out += [f"{j.kind.value} {j.status.value}: {j.last_error}" for j in jobs
            if j.status not in (JobStatus.SUCCEEDED, JobStatus.SUPERSEDED)]
    if p is None or p.published_version != newest:
        out.append(f"published {p and p.published_version}, newest {newest}")
    if ls.projects[pid]["model_version"] != newest:
        out.append(f"Label Studio shows {ls.projects[pid]['model_version']}, newest {newest}")
    held = Counter(pr["task"] for pr in ls.predictions if pr["model_version"] == newest)
    if set(held) != {e.task_id for e in queue} or set(held.values()) != {1}:
        out.append(f"Label Studio holds {sorted(held.items())} of {newest}, "
                   f"queue {[e.task_id for e in queue]}")
    others = set(ls.list_model_versions(pid)) - {newest}
    if others:
        out.append(f"not cleaned up: {sorted(others)}")
    served = ls.next_task(pid)
    if served is None or served["id"] != queue[0].task_id:
        out.append(f"served {served and served['id']}, queue head {queue[0].task_id}")
    return out


def test_the_healthy_chain_publishes_the_whole_queue_and_cleans_up(
        storage: Storage, settings: Settings) -> None:
    s = chaos_settings(settings)
    project = new_project(storage, 1, s)
    run_chain(storage, s, project)
    assert problems(storage, project) == []
    calls = Counter(project.gateway.log)
    assert calls["import_predictions"] == 2 + 3  # the head (4) in 2 requests, the tail (14) in 3
    assert calls["update_project"] == 1 and calls["delete_model_version"] == 1


@pytest.mark.parametrize("start", ["retrain", "publish"])
def test_label_studio_failing_at_any_call_of_the_chain_leaves_no_job_dead(
        storage: Storage, settings: Settings, caplog: pytest.LogCaptureFixture,
        start: Start) -> None:
    caplog.set_level(logging.ERROR)  # the expected warnings of ~100 failed attempts, not kept
    s = chaos_settings(settings)
    healthy = new_project(storage, 1, s)
    run_chain(storage, s, healthy, start)
    assert problems(storage, healthy) == []
    n_calls = len(healthy.gateway.log)
    failed: dict[str, list[str]] = {}
    points = 0
    pid = 1
    for fault in FAULTS:
        for k in range(1, n_calls + 1):
            pid += 1
            project = new_project(storage, pid, s)
            project.gateway.fail_at, project.gateway.fault = k, fault
            run_chain(storage, s, project, start)
            points += 1
            if found := problems(storage, project):
                failed[f"{fault} at call {k} ({healthy.gateway.log[k - 1]})"] = found
    print(f"\nchaos ({start}): {points} fault points over a chain of {n_calls} Label Studio "
          f"calls, {len(failed)} left a project without a published queue or a job dead")
    assert failed == {}
    assert points == len(FAULTS) * n_calls >= 4 * 9


def test_a_dead_job_would_be_seen(storage: Storage, settings: Settings) -> None:
    """The check itself can fail: with Label Studio refusing every import for good, the publish
    job dies once out of attempts, and the project is left on its old version."""
    s = chaos_settings(settings)
    project = new_project(storage, 1, s)

    def always_down(*_: Any, **__: Any) -> int:
        raise LabelStudioUnavailable("import_predictions: Label Studio answered 500")

    project.ls.import_predictions = always_down  # type: ignore[method-assign]
    run_chain(storage, s, project)
    found = problems(storage, project)
    assert any(p.startswith("publish dead") for p in found), found
    assert "Label Studio shows labelloop-1, newest labelloop-2" in found
