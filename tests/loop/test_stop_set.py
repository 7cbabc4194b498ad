"""The retrain's lineage carries the stopping signal's inputs: the model's labels of the stop set
and the expected wrong machine labels among the unreviewed tasks (quality/stopping.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.fakes.label_studio import FakeGateway
from tests.loop.ner_data import ner_task
from tests.loop.test_plan import (
    CLASSES,
    M,
    N,
    inputs,
    llm_labels,
    ner_inputs,
    ner_project,
    project,
    truth,
)
from tests.loop.test_retrain import label, run_retrain
from tests.loop.test_retrain import project as ls_project  # noqa: F401 - a fixture

from labelloop.loop.plan import plan_retrain
from labelloop.quality.stopping import (
    RetrainPoint,
    label_key,
    point_of,
    retrain_points,
    stop_set_positions,
    stopping_signal,
)
from labelloop.storage.base import Storage


def test_cold_start_has_no_stop_set_but_counts_the_llms_expected_errors() -> None:
    plan = plan_retrain(inputs(project(), llm=llm_labels(score=0.8)))
    assert plan.lineage["stop_set"] == {"task_ids": [], "labels": []}
    machine = plan.lineage["machine_labelled"]
    assert machine == {"n": N, "expected_wrong": pytest.approx(N * 0.2)}
    no_llm = plan_retrain(inputs(project()))  # no model, no LLM: nothing machine-labelled
    assert no_llm.lineage["machine_labelled"] == {"n": 0, "expected_wrong": 0.0}


def test_the_stop_set_holds_the_models_label_of_every_chosen_task() -> None:
    plan = plan_retrain(inputs(project(range(1, 31))))
    stop = plan.lineage["stop_set"]
    assert isinstance(stop, dict)
    assert stop["task_ids"] == list(range(1, N + 1))  # fewer than 500 tasks: all of them
    model = plan.learned.model_labels
    assert stop["labels"] == ["|".join(m.label) for m in model]  # type: ignore[union-attr, arg-type]
    assert set(stop["labels"]) <= set(CLASSES)
    right = sum(lab == truth(t) for t, lab in zip(stop["task_ids"], stop["labels"]))
    assert right >= 80  # the toy data is separable: the model's own labels, not placeholders
    # the pool's pre-labels are the model's: its confidence gives the expected errors
    pool_conf = [plan.confidence[t] for t in range(31, N + 1)]
    assert all(c is not None for c in pool_conf)
    expected = sum(1.0 - float(c or 0.0) for c in pool_conf)
    assert plan.lineage["machine_labelled"] == {"n": N - 30,
                                                "expected_wrong": pytest.approx(expected)}


def test_the_stop_set_is_capped_and_chosen_by_hash() -> None:
    ids = np.arange(1, 2001)
    pos = stop_set_positions(ids)
    assert pos.size == 500 and set(ids[pos].tolist()) != set(range(1, 501))


def test_a_loop_of_plans_turns_the_signal_from_not_enough_to_a_verdict() -> None:
    """Successive retrains with ten more labels each: the lineage alone gives the signal."""
    points: list[RetrainPoint] = []
    verdicts = []
    for n in (10, 20, 30, 40, 50, 60):
        plan = plan_retrain(inputs(project(range(1, n + 1))))
        points.append(point_of(f"m{n}", plan.lineage))
        verdicts.append(stopping_signal(points).verdict)
    assert verdicts[:3] == ["not_enough_retrains"] * 3
    s = stopping_signal(points)
    assert len(s.kappas) == 5 and all(k.n_compared == N for k in s.kappas)
    # a separable toy problem: the models agree on the stop set and the curve is flat
    assert s.window_kappa is not None and s.window_kappa >= 0.99 and s.verdict == "stop"
    assert s.n_machine_labelled == N - 60


def test_a_span_plan_stores_each_stop_task_span_set_as_one_hashed_category() -> None:
    plan = plan_retrain(ner_inputs(ner_project(range(1, 41))))
    stop = plan.lineage["stop_set"]
    assert isinstance(stop, dict) and stop["task_ids"] == list(range(1, M + 1))
    model = plan.learned.model_labels
    assert stop["labels"] == [label_key(m.label) for m in model]  # type: ignore[union-attr]
    # a task whose predicted spans are its true ones has the true set's key
    same = sum(lab == label_key(ner_task(t)[1]) for t, lab in zip(stop["task_ids"],
                                                                   stop["labels"]))
    assert same > M // 2
    point = point_of("s1", plan.lineage)
    assert point.score == plan.lineage["span_f1"] and len(point.stop_ids) == M


def test_the_retrain_job_stores_what_the_signal_reads(storage: Storage,
                                                      ls_project: FakeGateway,  # noqa: F811
                                                      tmp_path) -> None:
    """Real retrain jobs (fake Label Studio, toy embedder) with ten more labels each time: the
    stored versions alone give the signal."""
    for n in (10, 20, 30, 40, 50):
        label(ls_project, storage, list(range(n - 9, n + 1)))
        version, _ = run_retrain(storage, ls_project, tmp_path)
        assert len(version.lineage["stop_set"]["task_ids"]) == 90
    with storage.read() as tx:
        s = stopping_signal(retrain_points(tx.list_model_versions(1)))
    assert [k.n_labeled for k in s.kappas] == [20, 30, 40, 50]
    assert s.verdict == "stop" and s.n_machine_labelled == 40
