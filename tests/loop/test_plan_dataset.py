"""The plan's dataset side (loop/plan_dataset.py): the queue objective (model, dataset, auto) and
audited auto-accept, on a 300-task toy project whose LLM is wrong where the test says."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from tests.conftest import CONFIG
from tests.loop.test_plan import CLASSES, SCHEMA, ner_inputs, ner_project, truth, vote

from labelloop.labelconfig.prelabel import MachineLabel, from_labels
from labelloop.labelconfig.schema import parse_label_config
from labelloop.loop.dataset import ProjectData, build_project_data
from labelloop.loop.plan import plan_retrain
from labelloop.loop.plan_dataset import dataset_view
from labelloop.loop.plan_types import PlanOptions, RetrainInputs, RetrainPlan
from labelloop.quality.accept import AcceptRule
from labelloop.selection.dataset import expected_errors
from labelloop.settings import Settings
from labelloop.storage.records import Task

N = 300
MULTI = parse_label_config(CONFIG.replace('toName="text"', 'toName="text" choice="multiple"'))


def x_of(n: int = N, noise: float = 0.3) -> np.ndarray:
    """Task ``i + 1``'s class gives its direction, plus seeded noise (0.3: separable)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, noise, (n, 8))
    for i in range(n):
        x[i, (i + 1) % 3] += 2.0
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def project(labeled: range, schema=SCHEMA) -> ProjectData:
    tasks = [Task(t, 1, {"text": f"task {t}"}, None, False) for t in range(1, N + 1)]
    return build_project_data(schema, tasks, [vote(t, t, truth(t)) for t in labeled])


def llm(wrong: set[int] = frozenset(), *, right: float = 0.95,
        wrong_score: float = 0.95, schema=SCHEMA) -> list[MachineLabel | None]:
    """The LLM: the true class at ``right``, the next class at ``wrong_score`` on ``wrong``."""
    return [from_labels(schema, [CLASSES[(t + 1) % 3] if t in wrong else truth(t)], source="llm",
                        version="llm-x", score=wrong_score if t in wrong else right)
            for t in range(1, N + 1)]


def before(data: ProjectData, wrong: set[int]) -> np.ndarray:
    """The previous model's probabilities of the labelled tasks (as the handler reads them):
    0.7 on the true class, but on the next class for ``wrong`` tasks (0.7), or when there are
    none for every 7th task (0.6); NaN rows elsewhere."""
    out = np.full((N, 3), np.nan)
    for i in np.flatnonzero(data.labeled):
        t = i + 1
        k = CLASSES.index(truth(t))
        top, at = (0.7, (k + 1) % 3) if t in wrong else \
            (0.6, (k + 1) % 3) if t % 7 == 0 and not wrong else (0.7, k)
        out[i] = (1 - top) / 2
        out[i, at] = top
    return out


def inputs(data: ProjectData, labels: list[MachineLabel | None], *, audit: range = range(0),
           slope: float | None = None, schema=SCHEMA, model_wrong: set[int] = frozenset(),
           noise: float = 0.3, **kw: object) -> RetrainInputs:
    return RetrainInputs(1, schema, data, x_of(noise=noise), PlanOptions(embedder="toy", **kw),
                         (1, N, int(data.labeled.sum())), 1000.0, llm=labels,
                         previous_probas=None if schema.multiple else before(data, model_wrong),
                         audit=np.array([t - 1 for t in audit], dtype=np.int64), slope=slope)


def audit_ids(plan: RetrainPlan) -> set[int]:
    return {q.task_id for q in plan.queue if q.audit}


def view_of(inp: RetrainInputs, plan: RetrainPlan) -> tuple[np.ndarray, np.ndarray]:
    """(machine class, p_correct) by position, as the plan computed them."""
    drawn = np.array(sorted({t - 1 for t in audit_ids(plan)} | set(inp.audit.tolist())))
    view = dataset_view(inp, plan.learned, drawn)
    assert not isinstance(view, str)
    return view.labels.machine, view.labels.p_correct


# every 6th task: the LLM is wrong and unsure (0.55; 0.9 where right); overlapping classes, so
# the local model is unsure too (cross-validated accuracy ~0.88 on 120 labels)
WRONG = {t for t in range(1, N + 1) if t % 6 == 0}
TRUTH = np.array([CLASSES.index(truth(t)) for t in range(1, N + 1)])


def errors_inputs(**kw: object) -> RetrainInputs:
    return inputs(project(range(1, 121)), llm(WRONG, right=0.9, wrong_score=0.55), noise=1.0,
                  **kw)


def test_the_dataset_objective_serves_the_machines_mistakes_first() -> None:
    inp = errors_inputs(queue_objective="dataset")
    plan = plan_retrain(inp)
    assert plan.lineage["objective"]["objective"] == "dataset"  # type: ignore[index]
    assert plan.lineage["strategy"] == "error_removal"
    ranked = [q for q in plan.queue if not q.audit]
    assert {q.reason for q in ranked[:20]} == {"error_removal"}
    assert {q.reason for q in ranked[20:]} == {"rest"}
    machine, p = view_of(inp, plan)
    err = expected_errors(p)
    pool = np.arange(120, N)
    wrong = set((pool[machine[pool] != TRUTH[pool]] + 1).tolist())  # the dataset's mistakes
    batch = [q.task_id for q in ranked[:20]]
    assert len(wrong) >= 5 and len(wrong & set(batch)) >= len(wrong) - 2
    rest = err[[q.task_id - 1 for q in ranked[20:]]]
    assert np.all(np.diff(rest) <= 1e-12)  # after the batch: by expected errors
    assert err[[t - 1 for t in batch]].mean() > 3 * err[pool].mean()
    # the default (model) objective on the same data asks for other labels
    model = plan_retrain(errors_inputs())
    assert model.lineage["objective"]["objective"] == "model"  # type: ignore[index]
    assert "error_removal" not in {q.reason for q in model.queue}
    head = {q.task_id for q in [q for q in model.queue if not q.audit][:20]}
    assert len(wrong & head) < len(wrong & set(batch))
    # the expected wrong machine labels the stopping signal reads come from p_correct
    assert plan.lineage["machine_labelled"] == {
        "n": pool.size, "expected_wrong": pytest.approx(float(np.sum(1 - p[pool])))}


def test_auto_follows_the_rule_on_the_slope() -> None:
    unmeasured = plan_retrain(errors_inputs(queue_objective="auto"))
    o = unmeasured.lineage["objective"]
    assert o["model_gain"] is None and "not measured" in o["reason"]  # type: ignore[index]
    # whichever the rule picks then, the queue follows it
    served = "error_removal" in {q.reason for q in unmeasured.queue}
    assert served == (o["objective"] == "dataset")  # type: ignore[index]
    flat = plan_retrain(errors_inputs(queue_objective="auto", slope=0.0))
    o = flat.lineage["objective"]
    assert o["objective"] == "dataset" and o["error_gain"] >= o["model_gain"] == 0.0  # type: ignore[index, operator]
    assert "error_removal" in {q.reason for q in flat.queue}
    inp = errors_inputs(queue_objective="auto", slope=20.0)
    steep = plan_retrain(inp)
    # the slope counts for the machine labels the local model decides: where the dataset's
    # label is the model's and not the LLM's (the LLM's mistakes the model overrides)
    machine, _ = view_of(inp, steep)
    pool = np.arange(120, N)
    model = np.argmax(steep.learned.probas, axis=1)  # type: ignore[arg-type]
    llm_cls = np.array([CLASSES.index(m.label[0]) for m in inp.llm])  # type: ignore[union-attr]
    decided = int(((machine == model) & (machine != llm_cls))[pool].sum())
    assert decided >= 10
    o = steep.lineage["objective"]  # 0.2 per label for each of them
    assert o["objective"] == "model" and o["model_gain"] == pytest.approx(0.2 * decided)  # type: ignore[index]
    assert "error_removal" not in {q.reason for q in steep.queue}


def test_the_cold_start_seed_set_stays_first_whatever_the_objective() -> None:
    plan = plan_retrain(inputs(project(range(0)), llm(), queue_objective="dataset"))
    o = plan.lineage["objective"]
    assert o["objective"] == "dataset" and o["applied"] is False  # type: ignore[index]
    assert "cold-start" in o["reason"]  # type: ignore[index, operator]
    assert {q.reason for q in plan.queue if not q.audit} <= {"cold_start", "rest"}


# the LLM and the previous model both file a quarter of the true "negative" tasks under
# "neutral": the machines' "neutral" is right ~4 times in 5, the other two classes' always;
# 180 audited human labels give the rule its evidence
NEG_WRONG = {t for t in range(1, N + 1) if truth(t) == "negative" and t % 4 == 0}


def accept_inputs(**kw: object) -> RetrainInputs:
    return inputs(project(range(1, 271)), llm(NEG_WRONG), audit=range(1, 181),
                  model_wrong=NEG_WRONG, **kw)


def test_accepted_tasks_move_to_the_end_and_the_audit_keeps_drawing() -> None:
    off = plan_retrain(accept_inputs())
    assert off.lineage["accept"]["enabled"] is False  # type: ignore[index]
    assert "accepted" not in {q.reason for q in off.queue}
    inp = accept_inputs(accept_precision=0.9)
    plan = plan_retrain(inp)
    rule = AcceptRule.from_json(plan.lineage["accept"])  # type: ignore[arg-type]
    states = {CLASSES[c.label]: c.state for c in rule.classes}
    assert states["positive"] == states["negative"] == "accepting"
    assert states["neutral"] == "insufficient evidence"
    machine, p = view_of(inp, plan)
    pool = np.arange(270, N)
    accepted = {int(i) + 1 for i in pool[rule.accepted(machine[pool], p[pool])]}
    moved = {q.task_id for q in plan.queue if q.reason == "accepted"}
    assert moved and moved == accepted - audit_ids(plan)
    assert plan.lineage["accept"]["accepted"] == len(moved)  # type: ignore[index]
    assert all(CLASSES[machine[t - 1]] != "neutral" for t in moved)
    ranked = [q for q in plan.queue if not q.audit]
    first = [q.task_id for q in ranked[:len(ranked) - len(moved)]]
    assert not moved & set(first)  # every accepted task after every other one
    assert audit_ids(plan) == audit_ids(off)  # the audit draws are the same, accepted or not
    assert {q.task_id for q in plan.queue} == {q.task_id for q in off.queue}


def test_drop_takes_accepted_tasks_out_of_the_queue_but_not_the_audit_draws() -> None:
    end = plan_retrain(accept_inputs(accept_precision=0.9))
    drop = plan_retrain(accept_inputs(accept_precision=0.9, accept_queue="drop"))
    moved = {q.task_id for q in end.queue if q.reason == "accepted"}
    assert moved and not moved & {q.task_id for q in drop.queue}
    assert {q.task_id for q in drop.queue} == {q.task_id for q in end.queue} - moved
    assert audit_ids(drop) == audit_ids(end)
    assert drop.lineage["accept"]["accepted"] == len(moved)  # type: ignore[index]


def test_multiple_choice_and_spans_aim_at_the_model_and_accept_nothing() -> None:
    data = project(range(1, 61), schema=MULTI)
    plan = plan_retrain(inputs(data, llm(schema=MULTI), schema=MULTI, queue_objective="dataset",
                               accept_precision=0.95))
    o, a = plan.lineage["objective"], plan.lineage["accept"]
    assert o["objective"] == "model" and "multiple-choice" in o["reason"]  # type: ignore[index]
    assert a["enabled"] is False and "multiple-choice" in a["reason"]  # type: ignore[index]
    assert "accepted" not in {q.reason for q in plan.queue}
    spans = plan_retrain(ner_inputs(ner_project(range(1, 41)), queue_objective="dataset",
                                    accept_precision=0.95))
    o, a = spans.lineage["objective"], spans.lineage["accept"]
    assert o["objective"] == "model" and "span" in o["reason"]  # type: ignore[index]
    assert a["enabled"] is False and "span" in a["reason"]  # type: ignore[index]
    assert "nothing is auto-accepted" in a["reason"]  # type: ignore[index, operator]
    assert not {"error_removal", "accepted"} & {q.reason for q in spans.queue}


def test_the_settings_are_validated_and_reach_the_plan(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLOOP_QUEUE_OBJECTIVE", "dataset")
    monkeypatch.setenv("LABELLOOP_ACCEPT_PRECISION", "0.98")
    monkeypatch.setenv("LABELLOOP_ACCEPT_QUEUE", "drop")
    s = Settings(data_dir=tmp_path)
    o = PlanOptions.from_settings(s, embedder="e")
    assert (o.queue_objective, o.accept_precision, o.accept_queue) == ("dataset", 0.98, "drop")
    d = Settings(_env_file=None, data_dir=tmp_path, queue_objective="model",
                 accept_precision=None, accept_queue="end")
    assert d.accept_precision is None
    for bad in ({"queue_objective": "labels"}, {"accept_precision": 0.5},
                {"accept_precision": 1.0}, {"accept_precision": 0.3},
                {"accept_queue": "front"}):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, **bad)
