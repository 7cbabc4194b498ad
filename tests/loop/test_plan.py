"""plan_retrain as a pure function: records in, a plan out (no storage, no Label Studio)."""

from __future__ import annotations

import numpy as np
from tests.conftest import CONFIG
from tests.loop.ner_data import NER, ner_task, span_result

from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.prelabel import MachineLabel, from_labels
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.labelconfig.spans import Span
from labelloop.loop.dataset import ProjectData, build_project_data
from labelloop.loop.plan import plan_retrain, with_second_opinions
from labelloop.loop.plan_dataset import dataset_view
from labelloop.loop.plan_types import PlanOptions, RetrainInputs
from labelloop.storage.records import Annotation, Task

SCHEMA = parse_label_config(CONFIG)
CLASSES = SCHEMA.labels  # positive, negative, neutral
N = 90


def truth(tid: int) -> str:
    return CLASSES[tid % 3]


def embeddings(n: int = N) -> np.ndarray:
    """Task ``i + 1``'s class gives its direction, plus seeded noise: separable."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (n, 8))
    for i in range(n):
        x[i, (i + 1) % 3] += 2.0
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def vote(aid: int, tid: int, label: str, *, user: int = 1, at: str = "1") -> Annotation:
    return Annotation(aid, tid, 1, user, [{"from_name": "sentiment", "to_name": "text",
                                           "type": "choices", "value": {"choices": [label]}}],
                      False, False, None, at)


def project(labeled: range | list[int] = (), extra: list[Annotation] | None = None,
            schema: LabelSchema = SCHEMA) -> ProjectData:
    tasks = [Task(t, 1, {"text": f"task {t}"}, None, False) for t in range(1, N + 1)]
    anns = [vote(t, t, truth(t)) for t in labeled] + (extra or [])
    return build_project_data(schema, tasks, anns)


def inputs(data: ProjectData, *, llm: list[MachineLabel | None] | None = None,
           audit: list[int] | None = None, **kw: object) -> RetrainInputs:
    n_labeled = int(data.labeled.sum())
    return RetrainInputs(1, SCHEMA, data, embeddings(), PlanOptions(embedder="toy", **kw),
                         (1, N, n_labeled), 1000.0, llm=llm or [],
                         audit=np.array(audit or [], dtype=np.int64))


def llm_labels(wrong: set[int] = frozenset(), score: float = 0.8,
               labels: dict[int, list[str]] | None = None) -> list[MachineLabel | None]:
    out: list[MachineLabel | None] = []
    for tid in range(1, N + 1):
        chosen = (labels or {}).get(tid) or [CLASSES[(tid + 1) % 3] if tid in wrong else truth(tid)]
        out.append(from_labels(SCHEMA, chosen, source="llm", version="llm-x", score=score))
    return out


def test_cold_start_without_labels_ranks_everything_and_trains_nothing() -> None:
    plan = plan_retrain(inputs(project()))
    assert plan.lineage["strategy"] == "cold_start" and plan.lineage["n_labeled"] == 0
    assert len(plan.queue) == N and {q.task_id for q in plan.queue} == set(range(1, N + 1))
    head = [q for q in plan.queue[:20] if not q.audit]
    assert {q.reason for q in head} == {"cold_start"}
    assert {truth(q.task_id) for q in head[:9]} == set(CLASSES)  # a balanced seed set
    assert plan.learned.model is None and plan.predictions == [] and plan.prelabels == {}
    scores = [q.score for q in plan.queue]
    assert scores == sorted(scores) and len(set(scores)) == N  # strictly increasing


def test_cold_start_prelabels_come_from_the_llm() -> None:
    plan = plan_retrain(inputs(project(), llm=llm_labels()))
    assert len(plan.prelabels) == N
    assert all(p.source == "llm" and p.score == 0.8 for p in plan.prelabels.values())
    assert plan.prelabels[4].result[0]["value"] == {"choices": [truth(4)]}


def test_active_phase_trains_ranks_the_pool_and_predicts_it() -> None:
    plan = plan_retrain(inputs(project(range(1, 31))))
    assert plan.lineage["strategy"] != "cold_start" and plan.lineage["n_labeled"] == 30
    assert plan.lineage["cv_accuracy"] is not None and plan.lineage["cv_accuracy"] > 0.9
    assert plan.lineage["model"]["n_train"] == 30  # type: ignore[index]
    assert {q.task_id for q in plan.queue} == set(range(31, N + 1))
    assert {q.reason for q in plan.queue} <= {"uncertainty", "disagreement", "audit", "rest"}
    assert {p.task_id for p in plan.predictions} == set(range(31, N + 1))
    for p in plan.predictions:
        validate_result(SCHEMA, p.result)
        assert set(p.extra["probas"]) == set(CLASSES)  # type: ignore[arg-type]
    right = sum(p.result[0]["value"]["choices"] == [truth(p.task_id)] for p in plan.predictions)
    assert right >= 55
    assert all(p.source == "model" for p in plan.prelabels.values())  # no LLM: the model's


def test_a_skipped_task_is_not_queued_but_the_model_predicts_it() -> None:
    skip = Annotation(100, 40, 1, 1, [], True, False, None, "1")  # cancelled: no label
    data = project(range(1, 31), extra=[skip])
    assert data.unlabeled.tolist() == list(range(30, N)) and 39 not in data.pool.tolist()
    inp = inputs(data)
    plan = plan_retrain(inp)
    assert 40 not in {q.task_id for q in plan.queue}  # skipped: not asked again
    assert {p.task_id for p in plan.predictions} == set(range(31, N + 1))  # but predicted
    pred = next(p for p in plan.predictions if p.task_id == 40)
    assert pred.result[0]["value"]["choices"] == [truth(40)]
    probas = pred.extra["probas"]
    assert isinstance(probas, dict) and max(probas, key=probas.__getitem__) == truth(40)
    # the dataset view gives it this retrain's model probabilities, as the export will find them
    view = dataset_view(inp, plan.learned, np.zeros(0, dtype=np.int64))
    assert not isinstance(view, str)
    assert view.arrays.human[39] == -1
    assert np.allclose(view.arrays.model_probas[39], [probas[c] for c in CLASSES])
    assert view.labels.machine[39] == CLASSES.index(truth(40))
    assert plan.lineage["machine_labelled"]["n"] == N - 30  # type: ignore[index]


def test_the_audit_share_is_drawn_from_the_pool_and_kept_until_reviewed() -> None:
    plan = plan_retrain(inputs(project(range(1, 31))))
    audited = [q.task_id for q in plan.queue if q.audit]
    assert len(audited) == 3  # ceil(5 % of 60)
    assert all(q.reason == "audit" for q in plan.queue if q.audit)
    assert plan.lineage["audit"] == 3
    # positions drawn by an earlier retrain stay drawn; a reviewed one leaves the sample
    earlier = [5, 60, 70]  # positions of tasks 6 (labeled now), 61 and 71
    again = plan_retrain(inputs(project(range(1, 31)), audit=earlier))
    kept = {q.task_id for q in again.queue if q.audit}
    assert {61, 71} <= kept and 6 not in kept and len(kept) == 3
    none = plan_retrain(inputs(project(range(1, 31)), audit_fraction=0.0))
    assert not any(q.audit for q in none.queue)


def test_the_llm_prelabel_is_preferred_and_an_invalid_one_falls_back_to_the_model() -> None:
    labels = {40: ["angry"], 41: ["positive", "negative"]}  # not in the config; two in single
    plan = plan_retrain(inputs(project(range(1, 31)), llm=llm_labels({50}, 0.77, labels)))
    p = plan.prelabels
    assert p[50].source == "llm" and p[50].result[0]["value"]["choices"] == [CLASSES[51 % 3]]
    assert p[50].score == 0.77 and plan.confidence[50] == 0.77
    for tid in (40, 41):
        assert p[tid].source == "model" and p[tid].result[0]["value"]["choices"] == [truth(tid)]
        assert plan.confidence[tid] == p[tid].score != 0.77
        validate_result(SCHEMA, p[tid].result)
    # the stored model predictions stay the model's own, whatever the LLM said
    model_50 = next(x for x in plan.predictions if x.task_id == 50)
    assert model_50.result[0]["value"]["choices"] == [truth(50)]


def test_only_the_head_gets_prelabels_but_every_task_a_confidence() -> None:
    plan = plan_retrain(inputs(project(range(1, 31)), publish_head_size=10))
    assert list(plan.prelabels) == [q.task_id for q in plan.queue[:10]]
    assert set(plan.confidence) == set(range(1, N + 1))
    assert all(plan.confidence[q.task_id] is not None for q in plan.queue)


def test_a_consensus_tie_trains_on_the_latest_vote() -> None:
    """Tasks 31-36: annotator 1 said the true class, annotator 2 later said another one. The
    tie goes to annotator 2; the model trains on it (the class counts say so)."""
    disputed = list(range(31, 37))
    extra = [vote(100 + t, t, truth(t), user=1, at="1") for t in disputed] + \
        [vote(200 + t, t, "neutral", user=2, at="2") for t in disputed]
    data = project(range(1, 31), extra)
    assert data.ties == sum(truth(t) != "neutral" for t in disputed) == 4
    plan = plan_retrain(inputs(data))
    assert plan.lineage["consensus_ties"] == 4 and plan.lineage["n_labeled"] == 36
    counts = plan.lineage["model"]["class_counts"]  # type: ignore[index]
    assert counts == {"positive": 10, "negative": 10, "neutral": 16}
    assert not {q.task_id for q in plan.queue} & set(disputed)


def test_the_plan_is_a_function_of_its_inputs() -> None:
    data = project(range(1, 31))
    before = (data.y.copy(), data.reviewed.copy())
    a, b = plan_retrain(inputs(data)), plan_retrain(inputs(data))
    assert a.queue == b.queue and a.lineage == b.lineage and a.confidence == b.confidence
    assert np.array_equal(before[0], data.y, equal_nan=True)
    assert np.array_equal(before[1], data.reviewed)


def test_second_opinions_join_the_head_and_the_queue_is_scored_again() -> None:
    plan = plan_retrain(inputs(project(range(1, 31), ), llm=llm_labels()))
    got = with_second_opinions(plan, [3, 7])
    assert [(q.task_id, q.reason) for q in got.queue[:2]] == [(3, "second_opinion"),
                                                            (7, "second_opinion")]
    assert [q.task_id for q in got.queue[2:]] == [q.task_id for q in plan.queue]
    scores = [q.score for q in got.queue]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert got.lineage["second_opinion"] == 2 and plan.lineage["second_opinion"] == 0
    assert with_second_opinions(plan, []) is plan


# --- text spans (NER) -----------------------------------------------------------------------

M = 120


def span_vote(aid: int, tid: int, spans: tuple[Span, ...]) -> Annotation:
    return Annotation(aid, tid, 1, 1, span_result(ner_task(tid)[0], spans), False, False, None,
                      "1")


def ner_project(labeled: range | list[int] = ()) -> ProjectData:
    tasks = [Task(t, 1, {"text": ner_task(t)[0]}, None, False) for t in range(1, M + 1)]
    return build_project_data(NER, tasks, [span_vote(t, t, ner_task(t)[1]) for t in labeled])


def ner_inputs(data: ProjectData, llm: list[MachineLabel | None] | None = None,
               **kw: object) -> RetrainInputs:
    x = np.random.default_rng(3).normal(size=(M, 16))
    return RetrainInputs(1, NER, data, x / np.linalg.norm(x, axis=1, keepdims=True),
                         PlanOptions(embedder="toy", **kw), (1, M, int(data.labeled.sum())),
                         1000.0, llm=llm or [])


def llm_spans(spans: dict[int, tuple[Span, ...]] | None = None) -> list[MachineLabel | None]:
    """The LLM answers every task with its true spans (score 0.9), but where ``spans`` says."""
    out: list[MachineLabel | None] = []
    for tid in range(1, M + 1):
        found = (spans or {}).get(tid, ner_task(tid)[1])
        out.append(MachineLabel(found, "llm", "llm-x", 0.9, {s: 0.9 for s in found}))
    return out


def test_a_span_plan_trains_ranks_every_pool_task_once_and_prelabels_validly() -> None:
    data = ner_project(range(1, 41))
    plan = plan_retrain(ner_inputs(data))
    assert plan.learned.model is not None and plan.lineage["task_type"] == "text_spans"
    assert plan.lineage["n_labeled"] == 40 and plan.lineage["strategy"] == "default"
    assert plan.lineage["span_f1_on"] == "cv" and plan.lineage["span_f1"] > 0.8
    queued = [q.task_id for q in plan.queue]
    assert sorted(queued) == list(range(41, M + 1))  # every pool task, once
    assert {q.reason for q in plan.queue} <= {"uncertainty", "disagreement", "audit", "rest"}
    assert len(plan.prelabels) == M - 40
    for tid, p in plan.prelabels.items():
        assert p.source == "model"
        validate_result(NER, p.result, text=ner_task(tid)[0])
    right = sum({(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                 for r in p.result} == {(s.start, s.end, s.label) for s in ner_task(tid)[1]}
                for tid, p in plan.prelabels.items())
    assert right >= 0.8 * len(plan.prelabels)  # the model learned the entities
    assert {p.task_id for p in plan.predictions} == set(range(41, M + 1))
    for pred in plan.predictions:
        assert 0.0 <= pred.extra["uncertainty"] <= 1.0  # type: ignore[operator]
        validate_result(NER, pred.result, text=ner_task(pred.task_id)[0])


def test_the_llm_spans_win_the_prelabel_and_an_invalid_set_falls_back_to_the_model() -> None:
    text_60 = ner_task(60)[0]
    wrong = {50: (Span(0, 3, "LOC"),),  # valid on the text, but not what a human would say
             60: (Span(0, len(text_60) + 4, "PER"),),  # ends past the text
             61: (Span(0, 2, "ORG"),),  # a label outside the config
             62: (Span(1, 3, "PER"), Span(1, 3, "PER"))}  # an exact duplicate
    plan = plan_retrain(ner_inputs(ner_project(range(1, 41)), llm_spans(wrong)))
    p = plan.prelabels
    assert p[50].source == "llm" and [(r["value"]["start"], r["value"]["end"],
                                       r["value"]["labels"]) for r in p[50].result] == \
        [(0, 3, ["LOC"])]
    assert all(p[t].source == "llm" for t in range(41, M + 1) if t not in (60, 61, 62))
    for tid in (60, 61, 62):
        assert p[tid].source == "model", tid
        validate_result(NER, p[tid].result, text=ner_task(tid)[0])
    for tid, got in p.items():
        validate_result(NER, got.result, text=ner_task(tid)[0])
    # the LLM matched the humans on every labeled task: full span-F1, trust shrunk by the prior
    assert plan.lineage["llm_span_f1"] == 1.0 and plan.lineage["llm_compared"] == 40
    assert plan.lineage["llm_trust"] == (40 * 1.0 + 5 * 0.5) / 45
    # disagreement: where the LLM said otherwise than the model (its invalid sets are no answer)
    disagree = plan.learned.disagree
    assert disagree[49] and not disagree[59] and not disagree[60]
    assert plan.learned.prediction_extra[49]["disagreement"] > 0.5  # type: ignore[operator]


def test_span_cold_start_without_spans_trains_nothing_and_seeds_from_llm_types() -> None:
    plan = plan_retrain(ner_inputs(ner_project(), llm_spans()))
    assert plan.learned.model is None and plan.predictions == []
    assert plan.lineage["strategy"] == "cold_start" and plan.lineage["span_f1"] is None
    assert sorted(q.task_id for q in plan.queue) == list(range(1, M + 1))
    head = [q for q in plan.queue[:20] if not q.audit]
    assert {q.reason for q in head} == {"cold_start"}
    kinds = {tuple(sorted({s.label for s in ner_task(q.task_id)[1]})) for q in head}
    assert () in kinds and ("LOC",) in kinds and any("PER" in k for k in kinds)
    assert not any("without LLM spans" in n for n in plan.lineage["notes"])  # type: ignore[attr-defined]
    assert all(p.source == "llm" for p in plan.prelabels.values())
    # a few labeled tasks with spans: a model (its pre-labels) but still a diverse cold start
    few = plan_retrain(ner_inputs(ner_project(range(1, 4))))
    assert few.learned.model is not None and few.lineage["strategy"] == "cold_start"
    assert all(p.source == "model" for p in few.prelabels.values())
    assert any("without LLM spans" in n for n in few.lineage["notes"])  # type: ignore[attr-defined]


def test_the_retrain_reads_the_llm_stored_spans_of_a_span_project() -> None:
    from labelloop.loop.retrain import llm_machine_labels
    from labelloop.storage.records_llm import LlmLabel

    data = ner_project()
    text = ner_task(1)[0]
    true = ner_task(1)[1]
    stored = {"spans": [{"start": s.start, "end": s.end, "label": s.label, "score": 0.7}
                        for s in true] + [{"start": "x", "end": 2, "label": "PER"}],
              "dropped": []}
    rows = {1: LlmLabel(1, 1, "llm-x", sorted({s.label for s in true}), None, 0.7,
                        "self_consistency", spans=stored),
            2: LlmLabel(1, 2, "llm-x", None, None, None, "unknown", failure="timeout")}
    got = llm_machine_labels(NER, data, rows)
    assert len(got) == M and got[2] is None and got[1] is None  # task 2 failed, 3 unasked
    first = got[0]
    assert first is not None and first.label == true and first.source == "llm"
    assert dict(first.region_scores) == {s: 0.7 for s in true} and first.version == "llm-x"
    plan = plan_retrain(ner_inputs(data, got))
    assert plan.prelabels[1].source == "llm"
    validate_result(NER, plan.prelabels[1].result, text=text)
    assert all(r["score"] == 0.7 for r in plan.prelabels[1].result)


def test_the_model_span_f1_is_held_out_unless_too_few_tasks_say_otherwise() -> None:
    from labelloop.loop.plan_spans import SpanLearner, SpanLearnerOptions

    data = ner_project(range(1, 41))
    cv = plan_retrain(ner_inputs(data))
    assert cv.lineage["span_f1_on"] == "cv" and cv.lineage["span_f1_n_train"] in (26, 27)
    options = SpanLearnerOptions(cv_max_labeled=20, holdout_max_labeled=30)
    holdout = plan_retrain(ner_inputs(data), learner=SpanLearner(options))
    assert holdout.lineage["span_f1_on"] == "holdout" and holdout.lineage["span_f1"] > 0.5
    assert holdout.lineage["span_f1_n_train"] == 20  # 2/3 of 30 drawn from the 40
    assert holdout.lineage["model"]["n_train"] == 40  # type: ignore[index]
    # two labeled tasks cannot fill three folds: the training set, flagged as such
    tiny = plan_retrain(ner_inputs(ner_project([1, 2])))
    assert tiny.lineage["span_f1_on"] == "training_set"
    assert tiny.lineage["model"]["n_train"] == 2  # type: ignore[index]
    # the LLM always wrong on the labeled tasks: its trust falls below the prior
    wrong = {t: (Span(0, 1, "LOC"),) for t in range(1, 41)}
    low = plan_retrain(ner_inputs(data, llm_spans(wrong)))
    assert low.lineage["llm_span_f1"] == 0.0 and low.lineage["llm_trust"] == 5 * 0.5 / 45
