"""The retrain job on a small project: fake embedder (separable classes), fake Label Studio."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.loop.retrain import handle_retrain
from labelloop.storage.base import Storage
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway

WORDS = {"positive": "great", "negative": "awful", "neutral": "plot"}


class ToyEmbedder:
    """Class word → its own direction, plus a per-text jitter; deterministic."""

    name, dim = "toy-embedder", 8

    def encode(self, texts):  # noqa: ANN001, ANN201
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            out[i] = np.random.default_rng(seed).normal(0, 0.3, self.dim)
            for k, w in enumerate(WORDS.values()):
                if w in t:
                    out[i, k] += 2.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def project(storage: Storage, fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 91):
        label = list(WORDS)[i % 3]
        fake_ls.add_task(1, i, {"text": f"{WORDS[label]} movie number {i}"})
    resync_project(storage, fake_ls, 1)
    return fake_ls


def run_retrain(storage: Storage, ls: FakeGateway, tmp_path, **kw):  # noqa: ANN001, ANN201
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10, **kw)
    worker = Worker(storage, s, {JobKind.RETRAIN: handle_retrain},
                    gateways=GatewayProvider(s, lambda *_: ls),
                    resources=Resources(s, embedder=ToyEmbedder()))
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1))
    worker.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
        assert job is not None and job.status is JobStatus.SUCCEEDED, job.last_error
        project = tx.get_project(1)
        version = project.published_version  # type: ignore[union-attr]
        return tx.get_model_version(1, version), tx.get_queue(1, version)


def label(ls: FakeGateway, storage: Storage, task_ids: list[int]) -> None:
    for tid in task_ids:
        ls.annotate(tid, list(WORDS)[tid % 3])
    resync_project(storage, ls, 1)


def test_cold_start_serves_a_balanced_seed_set(storage, project, tmp_path) -> None:  # noqa: ANN001
    version, queue = run_retrain(storage, project, tmp_path)
    lineage = version.lineage
    assert lineage["strategy"] == "cold_start" and lineage["n_labeled"] == 0
    assert len(queue) == 90 and [e.rank for e in queue] == list(range(90))
    head = [e for e in queue[:20] if e.reason != "audit"]
    assert {e.reason for e in head} == {"cold_start"}
    # the seed set spans the classes (text words give the classes away to the toy embedder)
    assert {list(WORDS)[e.task_id % 3] for e in head[:9]} == set(WORDS)
    # published: one prediction per task, ascending scores, served in rank order
    assert project.projects[1]["model_version"] == version.version
    assert project.next_task(1)["id"] == queue[0].task_id
    assert all(p["result"] == [] for p in project.predictions)  # no model, no LLM yet


def test_with_labels_it_trains_ranks_and_prelabels(storage, project, tmp_path) -> None:  # noqa: ANN001
    label(project, storage, list(range(1, 31)))
    version, queue = run_retrain(storage, project, tmp_path)
    lineage = version.lineage
    assert lineage["n_labeled"] == 30 and lineage["strategy"] != "cold_start"
    assert lineage["cv_accuracy"] is not None and lineage["cv_accuracy"] > 0.9
    assert lineage["model"]["n_train"] == 30
    assert {e.task_id for e in queue} == set(range(31, 91))  # only unlabeled tasks queued
    assert sum(e.audit for e in queue) == 3  # 5 % of 60
    assert {e.reason for e in queue} <= {"uncertainty", "disagreement", "audit", "rest"}
    schema = parse_label_config(CONFIG)
    preds = {p["task"]: p for p in project.predictions
             if p["model_version"] == version.version}
    assert len(preds) == 60
    correct = 0
    for tid, p in preds.items():
        validate_result(schema, p["result"])
        correct += p["result"][0]["value"]["choices"] == [list(WORDS)[tid % 3]]
    assert correct >= 55  # the pre-labels are the (good) local model's
    with storage.read() as tx:
        stored = tx.latest_predictions(1, [31, 32], source="model")
    assert stored[31].model_version == version.version


def test_retrain_twice_makes_a_new_version_and_cleans_nothing_itself(storage, project,
                                                                     tmp_path) -> None:  # noqa: ANN001
    first, _ = run_retrain(storage, project, tmp_path)
    label(project, storage, [1, 2, 3])
    second, queue = run_retrain(storage, project, tmp_path)
    assert second.version != first.version
    assert {e.task_id for e in queue}.isdisjoint({1, 2, 3})
