"""Seeded projects for the quality and dashboard tests (and bench/bench_quality.py).

:func:`seed_project` writes a synthetic but complete project through the storage API: tasks,
human annotations by annotators of known accuracy, LLM labels with confidences, local-model
predictions, the audit flags of a published queue, model-version lineage as the retrain job
writes it, jobs (one running with progress) and LLM call costs. Everything is drawn from a seeded
``np.random.Generator``; :class:`Seeded` returns what was drawn, so tests can recompute figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation, Prediction
from labelloop.storage.records_llm import LlmCall, LlmLabel
from labelloop.storage.sql_queue import QueueEntry
from tests.conftest import CONFIG

LABELS = ["positive", "negative", "neutral"]  # CONFIG's choices, in config order
WORDS = ["great", "awful", "fine", "service", "delivery", "price", "support", "quality", "late",
         "broken", "perfect", "okay", "refund", "love", "hate", "slow", "fast", "cheap"]


def region(choice: str | list[str], score: float | None = None) -> list[dict]:
    r: dict = {"from_name": "sentiment", "to_name": "text", "type": "choices",
               "value": {"choices": [choice] if isinstance(choice, str) else list(choice)}}
    if score is not None:
        r["score"] = score
    return [r]


def annotation(aid: int, task: int, user: int | None, choice: str | list[str] | None, *,
               project: int = 1, cancelled: bool = False) -> Annotation:
    return Annotation(id=aid, task_id=task, project_id=project, completed_by=user,
                      result=[] if choice is None else region(choice), was_cancelled=cancelled,
                      ground_truth=False, lead_time=None, ls_updated_at="2026-01-01T00:00:00")


def llm_label(task: int, choice: str | list[str] | None, confidence: float | None, *,
              project: int = 1, failure: str | None = None, at: float = 1.0) -> LlmLabel:
    labels = None if choice is None else ([choice] if isinstance(choice, str) else list(choice))
    return LlmLabel(project_id=project, task_id=task, model_version="llm-v1", labels=labels,
                    distribution=None, confidence=confidence, confidence_method="logprobs",
                    failure=failure, created_at=at)


def model_prediction(task: int, choice: str, score: float | None, *, project: int = 1,
                     version: str = "model-a") -> Prediction:
    return Prediction(task_id=task, project_id=project, source="model", model_version=version,
                      result=region(choice, score), score=0.5)


def new_project(storage: Storage, project_id: int = 1, *, n_tasks: int = 10,
                config: str = CONFIG, title: str = "Sentiment") -> None:
    with storage.write() as tx:
        record_project(tx, project_id, label_config=config, title=title)
        tx.upsert_tasks(project_id, [{"id": project_id * 100_000 + i,
                                      "data": {"text": f"task {i}"}} for i in range(n_tasks)])



def seed_big_project(storage: Storage, n: int, *, n_human: int = 300, model: bool = False,
                     seed: int = 7) -> list[int]:
    """Project 1 with ``n`` tasks (ids 1..n, text "text number {id}") in one write, for the
    export's streaming tests and bench/bench_export.py: a true class per task; the first
    ``n_human`` tasks annotated with it (annotators 1-3 in turn); an LLM label on every task,
    right 85 % of the time, confidence in [0.4, 1); with ``model``, a local-model prediction on
    every task, right 75 % of the time. Returns the task ids."""
    rng = np.random.default_rng(seed)
    ids = list(range(1, n + 1))
    truth = rng.integers(0, 3, n)

    def noisy(accuracy: float) -> np.ndarray:
        wrong = rng.random(n) >= accuracy
        return np.where(wrong, (truth + rng.integers(1, 3, n)) % 3, truth)

    llm, llm_conf = noisy(0.85), rng.uniform(0.4, 1.0, n)
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG, title="big")
        tx.upsert_tasks(1, [{"id": t, "data": {"text": f"text number {t}"}} for t in ids])
        tx.upsert_annotations([annotation(i + 1, t, 1 + i % 3, LABELS[int(truth[i])])
                               for i, t in enumerate(ids[:n_human])], source="resync")
        tx.save_llm_labels([llm_label(t, LABELS[int(c)], float(p))
                            for t, c, p in zip(ids, llm, llm_conf)])
        if model:
            tx.save_predictions([model_prediction(t, LABELS[int(c)], float(p)) for t, c, p in
                                 zip(ids, noisy(0.75), rng.uniform(0.34, 1.0, n))])
    return ids

@dataclass
class Seeded:
    project_id: int
    task_ids: list[int]
    truth: np.ndarray  # class index per task
    human: dict[tuple[int, int], int]  # (task id, annotator) -> class
    llm: dict[int, int]
    llm_conf: dict[int, float]
    model: dict[int, int]
    audit: set[int]
    queue_version: str = "queue-3"
    retrain_versions: list[dict] = field(default_factory=list)


def seed_project(storage: Storage, *, project_id: int = 1, n_tasks: int = 400,
                 n_annotators: int = 4, labelled_share: float = 0.5, cell_share: float = 0.6,
                 audit_share: float = 0.08, seed: int = 0, with_ops: bool = True) -> Seeded:
    """A project with ``n_tasks`` tasks; the first ``labelled_share`` of them human-labelled."""
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    ids = [project_id * 100_000 + i for i in range(n_tasks)]
    truth = rng.choice(k, size=n_tasks, p=[0.45, 0.35, 0.20])
    acc = np.linspace(0.95, 0.65, n_annotators)  # annotator 1 best, the last one worst
    n_lab = round(labelled_share * n_tasks)
    human: dict[tuple[int, int], int] = {}
    for i in range(n_lab):
        who = np.flatnonzero(rng.random(n_annotators) < cell_share)
        if who.size == 0:
            who = np.array([rng.integers(n_annotators)])
        for j in who:
            right = rng.random() < acc[j]
            human[(ids[i], int(j) + 1)] = int(truth[i]) if right else int(rng.integers(k))
    llm_right = rng.random(n_tasks) < 0.85
    llm_cls = np.where(llm_right, truth, rng.integers(0, k, n_tasks))
    llm_conf = np.clip(np.where(llm_right, rng.beta(8, 2, n_tasks), rng.beta(4, 3, n_tasks)),
                       0.34, 1.0)
    model_right = rng.random(n_tasks) < 0.75
    model_cls = np.where(model_right, truth, rng.integers(0, k, n_tasks))
    model_conf = rng.uniform(0.4, 0.95, n_tasks)
    audit = {t for t in ids if rng.random() < audit_share}

    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(6, 14)))) for _ in ids]
    anns = [annotation(n + 1, t, u, LABELS[c], project=project_id)
            for n, ((t, u), c) in enumerate(sorted(human.items()))]
    with storage.write() as tx:
        record_project(tx, project_id, label_config=CONFIG, title=f"Sentiment {project_id}")
        tx.upsert_tasks(project_id, [{"id": t, "data": {"text": s}} for t, s in zip(ids, texts)])
        tx.upsert_annotations(anns, source="resync")
        tx.save_llm_labels([llm_label(t, LABELS[c], float(p), project=project_id)
                            for t, c, p in zip(ids, llm_cls, llm_conf)])
        tx.save_predictions([model_prediction(t, LABELS[c], float(p), project=project_id)
                             for t, c, p in zip(ids[:n_lab], model_cls, model_conf)])
    out = Seeded(project_id, ids, truth, human, dict(zip(ids, map(int, llm_cls))),
                 dict(zip(ids, map(float, llm_conf))),
                 dict(zip(ids[:n_lab], map(int, model_cls))), audit)
    _seed_queue(storage, out, rng, n_lab)
    if with_ops:
        _seed_ops(storage, out)
    return out


def _seed_queue(storage: Storage, s: Seeded, rng: np.random.Generator, n_lab: int) -> None:
    reasons = ["disagreement", "uncertainty", "diversity", "rest"]
    unlabeled = s.task_ids[n_lab:]
    entries = []
    for rank, t in enumerate(unlabeled):  # the head mixes strategies, the tail is "rest"
        mix = rng.choice(3, p=[0.4, 0.4, 0.2]) if rank < len(unlabeled) // 2 else 3
        reason = "audit" if t in s.audit else reasons[mix]
        entries.append(QueueEntry(s.project_id, s.queue_version, t, rank, rank / len(unlabeled),
                                  reason, audit=t in s.audit,
                                  detail={"margin": round(float(rng.random()), 3)}))
    # audit draws of an earlier queue that annotators have labelled since
    old = [QueueEntry(s.project_id, "queue-2", t, r, 0.0, "audit", audit=True)
           for r, t in enumerate(t for t in s.task_ids[:n_lab] if t in s.audit)]
    with storage.write() as tx:
        tx.save_queue(old + entries)
        tx.save_project(s.project_id, published_version=s.queue_version,
                        model_version=s.queue_version)


def _seed_ops(storage: Storage, s: Seeded) -> None:
    steps = [(10, None, None, None, "cold_start"), (40, 0.61, 0.55, 0.78, "default"),
             (90, 0.70, 0.66, 0.81, "default"), (160, 0.76, 0.72, 0.83, "default")]
    with storage.write() as tx:
        for i, (n, acc, f1, agree, strategy) in enumerate(steps):
            lineage = {"n_labeled": n, "cv_accuracy": acc, "cv_macro_f1": f1,
                       "llm_human_agreement": agree, "strategy": strategy,
                       "n_ranked": len(s.task_ids) - n, "trained_at": 1_760_000_000 + 3600 * i}
            s.retrain_versions.append({"version": f"model-{i}", **lineage})
            tx.add_model_version(s.project_id, f"model-{i}", kind="retrain", lineage=lineage)
            tx.add_model_version(s.project_id, f"queue-{i}", kind="queue",
                                 lineage={"model": f"model-{i}"})
        done, _ = tx.enqueue(JobSpec(JobKind.PRELABEL, s.project_id, payload={"n": 1}))
        tx.enqueue(JobSpec(JobKind.RETRAIN, s.project_id, payload={"n": 2}))
        tx.add_llm_calls([LlmCall(endpoint="http://llm", model="gpt-test", purpose="label",
                                  status="ok" if i % 10 else "error", prompt_tokens=420,
                                  completion_tokens=12, cost_usd=0.00051, project_id=s.project_id,
                                  task_id=t) for i, t in enumerate(s.task_ids)])
    with storage.write() as tx:  # run the prelabel job: claimed, with progress
        job = tx.claim("w1", lease_s=600, kinds=[JobKind.PRELABEL])
        assert job is not None and job.id == done
        tx.extend_lease(job.id, lease_s=600, progress={"done": 120, "total": 400})
