"""The retrain job on a small project: fake embedder (separable classes), fake Label Studio."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.loop.retrain import handle_retrain
from labelloop.storage.base import Storage

WORDS = {"positive": "great", "negative": "awful", "neutral": "plot"}


class ToyEmbedder:
    """Class word → its own direction, plus a per-text jitter; deterministic."""

    name, dim = "toy-embedder", 8

    def encode(self, texts):
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


def run_retrain(storage: Storage, ls: FakeGateway, tmp_path, *, embedder=None, **kw):
    """One retrain job run by a worker against ``ls``; the published version and its queue."""
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10, **kw)
    worker = Worker(storage, s, {JobKind.RETRAIN: handle_retrain},
                    gateways=GatewayProvider(s, lambda *_: ls),
                    resources=Resources(s, embedder=embedder or ToyEmbedder()))
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


def test_cold_start_serves_a_balanced_seed_set(storage, project, tmp_path) -> None:
    # no audit draws: one landing on a seed would hand its head slot to a 'rest' task
    version, queue = run_retrain(storage, project, tmp_path, audit_fraction=0.0)
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


def test_with_labels_it_trains_ranks_and_prelabels(storage, project, tmp_path) -> None:
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
                                                                     tmp_path) -> None:
    first, _ = run_retrain(storage, project, tmp_path)
    label(project, storage, [1, 2, 3])
    second, queue = run_retrain(storage, project, tmp_path)
    assert second.version != first.version
    assert {e.task_id for e in queue}.isdisjoint({1, 2, 3})


def test_disputed_single_labels_go_back_to_a_second_annotator(storage, project,
                                                              tmp_path) -> None:
    from labelloop.storage.records_llm import LlmLabel

    classes = list(WORDS)
    for tid in range(1, 31):  # two annotators, correct labels
        project.annotate(tid, classes[tid % 3], user=1 + tid % 2)
    resync_project(storage, project, 1)
    run_retrain(storage, project, tmp_path)  # stores the model's predictions (made before)
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, tid, "llm-x", [classes[tid % 3]],
                                     {c: 0.95 if c == classes[tid % 3] else 0.025
                                      for c in classes}, 0.95, "logprobs")
                            for tid in range(31, 91)])
    for tid in range(31, 37):  # one annotator, wrong labels: both machines disagree
        project.annotate(tid, classes[(tid + 1) % 3], user=1)
    resync_project(storage, project, 1)
    version, queue = run_retrain(storage, project, tmp_path)
    reopened = [e.task_id for e in queue if e.reason == "second_opinion"]
    assert len(reopened) == 5 and set(reopened) <= set(range(31, 37))  # the budget is 5
    assert [e.reason for e in queue[:5]] == ["second_opinion"] * 5  # at the head
    assert all(project.tasks[t].get("overlap") == 2 for t in reopened)
    assert version.lineage["second_opinion"] == 5
    # asked once: the next retrain keeps them at the head without asking again
    calls = project.calls.count("request_annotations")
    _, queue2 = run_retrain(storage, project, tmp_path)
    assert [e.task_id for e in queue2[:5]] == reopened
    assert project.calls.count("request_annotations") == calls + 1  # only the 6th, new one


def test_model_predictions_of_labeled_tasks_are_the_ones_made_before_the_label(
        storage, project, tmp_path) -> None:
    label(project, storage, list(range(1, 21)))
    first, _ = run_retrain(storage, project, tmp_path)
    label(project, storage, [21, 22])
    second, _ = run_retrain(storage, project, tmp_path)
    with storage.read() as tx:
        stored = tx.latest_predictions(1, [21, 40], source="model")
        per_task = tx.conn.exec_driver_sql(
            "SELECT task_id, COUNT(*) FROM predictions WHERE source = 'model' "
            "GROUP BY task_id").all()
    assert stored[21].model_version == first.version  # made while 21 was unlabeled
    assert stored[40].model_version == second.version
    # the second retrain superseded the first one's rows: one model prediction per task
    assert dict(per_task) == {t: 1 for t in range(21, 91)}


def test_a_long_queue_publishes_its_head_then_the_same_rest_in_a_tail_job(
        storage, project, tmp_path) -> None:
    """The tail's pre-labels, read back from storage, are the ones a one-go publish sends."""
    from labelloop.labelstudio.tail import handle_publish_tail

    label(project, storage, list(range(1, 31)))
    whole, _ = run_retrain(storage, project, tmp_path, publish_head_size=0)
    at_once = {p["task"]: (p["result"], p["score"]) for p in project.predictions
               if p["model_version"] == whole.version}
    with storage.read() as tx:
        assert {j.kind for j in tx.list_jobs(status=JobStatus.QUEUED)} == {
            JobKind.CLEANUP_VERSIONS}  # nothing left over: no tail job
    project.predictions.clear()
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10,
                      publish_head_size=10, publish_tail_batch_size=20)
    # the same labels give the same ranking: the version differs, the queue does not
    version, queue = run_retrain(storage, project, tmp_path, publish_head_size=10)
    assert len([p for p in project.predictions if p["model_version"] == version.version]) == 10
    worker = Worker(storage, s, {JobKind.PUBLISH_TAIL: handle_publish_tail},
                    gateways=GatewayProvider(s, lambda *_: project), resources=Resources(s))
    assert worker.run_once()
    in_parts = {p["task"]: (p["result"], p["score"]) for p in project.predictions
                if p["model_version"] == version.version}
    assert in_parts == at_once
    assert [p["task"] for p in project.predictions] == [e.task_id for e in queue]


def test_a_span_project_retrains_ranks_and_publishes_valid_span_prelabels(
        storage, fake_ls, tmp_path) -> None:
    """NER end to end through the handler: human spans in, the token model trained, every
    unlabeled task queued once, the LLM's stored spans (valid) or the model's published."""
    from tests.loop.ner_data import NER, NER_CONFIG, ner_task, span_result

    from labelloop.storage.records_llm import LlmLabel

    fake_ls.add_project(1, NER_CONFIG)
    for tid in range(1, 81):
        fake_ls.add_task(1, tid, {"text": ner_task(tid)[0]})
    for tid in range(1, 31):
        text, spans = ner_task(tid)
        fake_ls.annotate(tid, None)["result"] = span_result(text, spans)
    resync_project(storage, fake_ls, 1)
    text_50 = ner_task(50)[0]
    llm = {tid: [{"start": s.start, "end": s.end, "label": s.label, "score": 0.6}
                 for s in ner_task(tid)[1]] for tid in (40, 41, 42)}
    llm[50] = [{"start": 0, "end": len(text_50) + 3, "label": "PER", "score": 0.6}]  # invalid
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, tid, "llm-x", ["PER"], None, 0.6, "self_consistency",
                                     spans={"spans": found, "dropped": []})
                            for tid, found in llm.items()])
    version, queue = run_retrain(storage, fake_ls, tmp_path)
    lineage = version.lineage
    assert lineage["task_type"] == "text_spans" and lineage["n_labeled"] == 30
    assert lineage["span_f1"] is not None and lineage["span_f1_on"] == "cv"
    assert sorted(e.task_id for e in queue) == list(range(31, 81))
    preds = {p["task"]: p for p in fake_ls.predictions if p["model_version"] == version.version}
    assert set(preds) == set(range(31, 81))
    for tid, p in preds.items():
        validate_result(NER, p["result"], text=ner_task(tid)[0])
    for tid in (40, 41, 42):  # the LLM's spans, with its scores
        assert [r["score"] for r in preds[tid]["result"]] == [0.6] * len(ner_task(tid)[1])
    assert preds[50]["result"] and all(r.get("score") != 0.6 for r in preds[50]["result"])
    with storage.read() as tx:
        stored = tx.latest_predictions(1, [31, 50], source="model")
    assert stored[31].model_version == version.version
    assert 0.0 <= stored[50].extra["uncertainty"] <= 1.0


def test_a_disputed_span_set_goes_back_to_a_second_annotator(storage, fake_ls, tmp_path) -> None:
    """Targeted double annotation on a NER project: a task whose only annotation's span set
    differs from both a confident LLM's and the model's (as it stood before) is sent back;
    one whose annotation matches the LLM is not."""
    from tests.loop.ner_data import NER_CONFIG, ner_task, span_result

    from labelloop.labelconfig.spans import Span
    from labelloop.storage.records_llm import LlmLabel

    fake_ls.add_project(1, NER_CONFIG)
    for tid in range(1, 81):
        fake_ls.add_task(1, tid, {"text": ner_task(tid)[0]})
    for tid in range(1, 31):  # two annotators, true spans
        text, spans = ner_task(tid)
        fake_ls.annotate(tid, None, user=1 + tid % 2)["result"] = span_result(text, spans)
    resync_project(storage, fake_ls, 1)
    run_retrain(storage, fake_ls, tmp_path)  # the model's predictions of 31..80, made before
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(
            1, tid, "llm-x", sorted({s.label for s in ner_task(tid)[1]}), None, 0.95, "logprobs",
            spans={"spans": [{"start": s.start, "end": s.end, "label": s.label, "score": 0.95}
                             for s in ner_task(tid)[1]], "dropped": []})
            for tid in range(31, 81)])
    disputed = [t for t in range(31, 45) if ner_task(t)[1]][:3]
    agreed = [t for t in range(45, 60) if ner_task(t)[1]][:3]
    for tid in disputed:  # one annotator, every span relabelled: both machines disagree
        text, spans = ner_task(tid)
        wrong = tuple(Span(s.start, s.end, "LOC" if s.label == "PER" else "PER") for s in spans)
        fake_ls.annotate(tid, None, user=1)["result"] = span_result(text, wrong)
    for tid in agreed:  # one annotator who agrees with the LLM
        text, spans = ner_task(tid)
        fake_ls.annotate(tid, None, user=2)["result"] = span_result(text, spans)
    resync_project(storage, fake_ls, 1)
    version, queue = run_retrain(storage, fake_ls, tmp_path)
    reopened = [e.task_id for e in queue if e.reason == "second_opinion"]
    assert sorted(reopened) == disputed
    assert [e.reason for e in queue[:3]] == ["second_opinion"] * 3
    assert all(fake_ls.tasks[t].get("overlap") == 2 for t in reopened)
    assert version.lineage["second_opinion"] == 3
