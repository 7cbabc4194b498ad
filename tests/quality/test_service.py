"""The quality service end to end on storage: a hand-made project with known figures, a
multiple-choice project, a seeded project recomputed independently, and the edge cases."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from labelloop.agreement import estimate_audit_accuracy, percent_agreement, quality_report
from labelloop.errors import UnknownProject, UnsupportedConfig
from labelloop.quality import project_quality
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.quality.seed import (
    LABELS,
    annotation,
    llm_label,
    model_prediction,
    new_project,
    seed_project,
)

nan = np.nan
T = [100_000 + i for i in range(6)]  # task ids of new_project(storage, 1, n_tasks=6)


@pytest.fixture
def small(storage: Storage) -> Storage:
    """T0 agreed; T1 first label contradicted by both machines; T2 single label contradicted by
    both; T3 a cancelled and an anonymous annotation; T4 unlabelled audit; T5 LLM failure."""
    new_project(storage, 1, n_tasks=6)
    anns = [annotation(1, T[0], 1, "positive"), annotation(2, T[0], 2, "positive"),
            annotation(3, T[1], 1, "negative"), annotation(4, T[1], 2, "positive"),
            annotation(5, T[1], 3, "positive"), annotation(6, T[2], 2, "neutral"),
            annotation(7, T[3], 1, "positive", cancelled=True),
            annotation(8, T[3], 3, "neutral"), annotation(9, T[3], None, "positive")]
    llm = [llm_label(T[0], "positive", 0.9), llm_label(T[1], "positive", 0.95),
           llm_label(T[2], "negative", 0.6), llm_label(T[3], "neutral", 0.7),
           llm_label(T[4], "positive", 0.8), llm_label(T[5], None, None, failure="timeout")]
    model = [model_prediction(T[0], "positive", 0.8), model_prediction(T[1], "positive", 0.7),
             model_prediction(T[2], "negative", 0.5), model_prediction(T[3], "positive", None)]
    audit = [QueueEntry(1, "q1", t, r, 0.0, "audit", audit=True)
             for r, t in enumerate((T[0], T[2], T[4]))]
    with storage.write() as tx:
        tx.upsert_annotations(anns, source="resync")
        tx.save_llm_labels(llm)
        tx.save_predictions(model)
        tx.save_queue(audit)
    return storage


def test_agreement_is_computed_on_the_matrix_the_records_describe(small: Storage) -> None:
    q = project_quality(small, 1)
    matrix = np.array([[0, 0, nan], [1, 0, 0], [nan, 2, nan], [nan, nan, 2]])
    expected = quality_report(matrix, labels=LABELS, annotators=[1, 2, 3])
    a = q["agreement"]
    assert a["annotators"] == [1, 2, 3] and a["n_tasks"] == 4 and a["n_annotations"] == 7
    assert a["percent_agreement"] == pytest.approx(percent_agreement(matrix, n_classes=3))
    for key in ("krippendorff_alpha", "pairwise_cohen_kappa", "per_annotator", "consensus",
                "label_counts", "annotations_per_task"):
        assert a[key] == expected[key], key
    assert q["skipped"] == {"annotation_without_annotator": 1, "cancelled_annotation": 1,
                            "llm_without_choice": 1}
    assert (q["n_tasks"], q["n_human_labelled"], q["n_llm_labelled"]) == (6, 4, 5)


def test_llm_and_model_are_scored_against_the_human_majority(small: Storage) -> None:
    q = project_quality(small, 1)
    llm, model = q["llm"], q["model"]
    # consensus (the one rule, labelconfig/consensus.py): T0 positive, T1 positive (2 of 3),
    # T2 neutral, T3 positive: annotator 3's neutral (id 8) ties with the anonymous annotation's
    # positive (id 9, a vote without a matrix column), and a tie goes to the latest vote
    assert q["consensus"] == {"n_tasks": 4, "tie_broken": 1}
    assert (llm["n"], llm["accuracy"]) == (4, 0.5)
    assert (model["n"], model["accuracy"]) == (4, 0.75)
    assert llm["confusion"] == [[2, 0, 1], [0, 0, 0], [0, 1, 0]]  # rows human, columns LLM
    assert llm["per_class"]["positive"]["precision"] == 1.0
    assert llm["per_class"]["negative"]["precision"] == 0.0
    assert llm["per_class"]["neutral"]["recall"] == 0.0
    assert llm["calibration"]["n"] == 4 and 0 <= llm["calibration"]["ece"] <= 1
    assert llm["mean_confidence"] == pytest.approx((0.9 + 0.95 + 0.6 + 0.7) / 4)
    assert model["versions"] == {"model-a": 4}
    assert model["calibration"]["n"] == 3  # T3's prediction carries no region score


def test_audit_uses_audited_labelled_tasks_and_the_unreviewed_rest(small: Storage) -> None:
    a = project_quality(small, 1)["audit"]
    # audited: T0 (LLM right) and T2 (LLM wrong); unreviewed: T4; T5 has no LLM label
    assert a["available"] and (a["drawn"], a["audited"], a["unreviewed"]) == (3, 2, 1)
    expected = estimate_audit_accuracy([0, 1], [0, 2], LABELS,
                                       population_counts=np.array([2, 1, 0]))
    assert a["overall"] == pytest.approx(expected["overall"])
    assert a["overall"]["population"] == 3 and a["overall"]["accuracy"] == 0.5
    assert a["per_class"]["positive"] == pytest.approx(expected["per_class"]["positive"])
    assert a["per_class"]["neutral"]["n"] == 0 and a["per_class"]["neutral"]["accuracy"] is None


def test_review_lists_first_labels_both_machines_contradict(small: Storage) -> None:
    r = project_quality(small, 1)["review"]
    assert r["total"] == 2
    assert [i["task_id"] for i in r["items"]] == [T[1], T[2]]  # LLM confidence 0.95 before 0.6
    first = r["items"][0]
    assert first == {"task_id": T[1], "first_label": "negative", "first_annotator": 1,
                     "llm_label": "positive", "llm_confidence": 0.95, "model_label": "positive",
                     "model_confidence": 0.7, "machines_agree": True, "n_annotations": 3,
                     "consensus": "positive"}
    assert project_quality(small, 1, review_limit=1)["review"]["items"][0]["task_id"] == T[1]


def test_deleted_tasks_leave_the_report(small: Storage) -> None:
    with small.write() as tx:
        tx.mark_tasks_deleted([T[3], T[4]])
    q = project_quality(small, 1)
    assert q["n_tasks"] == 4 and q["agreement"]["n_tasks"] == 3
    assert q["audit"]["unreviewed"] == 0 and q["audit"]["overall"]["population"] == 2


def test_multiple_choice_compares_exact_combinations(storage: Storage) -> None:
    config = CONFIG_MULTI
    new_project(storage, 2, n_tasks=3, config=config)
    t = [200_000, 200_001, 200_002]
    with storage.write() as tx:
        tx.upsert_annotations([
            annotation(1, t[0], 1, ["b", "a"], project=2), annotation(2, t[0], 2, ["a", "b"],
                                                                      project=2),
            annotation(3, t[1], 1, ["c"], project=2), annotation(4, t[1], 2, ["a"], project=2),
            annotation(5, t[2], 1, ["c"], project=2)], source="resync")
        tx.save_llm_labels([llm_label(t[0], ["a", "b"], 0.8, project=2),
                            llm_label(t[2], ["b", "c"], 0.6, project=2)])
    q = project_quality(storage, 2)
    assert q["multiple"] and q["choices"] == ["a", "b", "c"]
    assert q["labels"] == ["a", "a + b", "b + c", "c"]  # combinations seen, in config order
    assert q["llm"]["n"] == 2 and q["llm"]["accuracy"] == 0.5  # T0 right, T2 wrong, T1 tied
    per_label = {r["label"]: r for r in q["agreement"]["per_label"]}
    assert set(per_label) == {"a", "b", "c"}


CONFIG_MULTI = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text" choice="multiple">
<Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices></View>"""


def test_seeded_project_matches_an_independent_recount(storage: Storage) -> None:
    s = seed_project(storage, n_tasks=300, n_annotators=4, seed=3, with_ops=False)
    q = project_quality(storage, 1, review_limit=None)
    by_task: dict[int, list[int]] = {}
    for (tid, _), c in sorted(s.human.items()):  # annotation ids follow (task, annotator)
        by_task.setdefault(tid, []).append(c)
    consensus = {}
    for tid, labels in by_task.items():  # the one rule: plurality, a tie to the latest vote
        counts = Counter(labels)
        top = max(counts.values())
        consensus[tid] = next(c for c in reversed(labels) if counts[c] == top)
    hits = [s.llm[t] == c for t, c in consensus.items()]
    assert q["llm"]["n"] == len(hits) and q["llm"]["accuracy"] == pytest.approx(np.mean(hits))
    audited = [t for t in consensus if t in s.audit]
    assert q["audit"]["audited"] == len(audited)
    assert q["audit"]["overall"]["correct"] == sum(s.llm[t] == consensus[t] for t in audited)
    assert q["audit"]["unreviewed"] == len(s.task_ids) - len(by_task)
    review = {t for t in by_task
              if s.human[(t, min(u for (tt, u) in s.human if tt == t))] not in (s.llm[t],
                                                                               s.model[t])}
    assert {i["task_id"] for i in q["review"]["items"]} == review


def test_empty_project_answers_with_nothing_to_measure(storage: Storage) -> None:
    new_project(storage, 1, n_tasks=3)
    q = project_quality(storage, 1)
    assert q["n_human_labelled"] == 0 and q["agreement"]["percent_agreement"] is None
    assert q["llm"]["n"] == 0 and q["llm"]["accuracy"] is None
    assert q["audit"] == {"available": False, "reason": "no task was drawn for the audit yet",
                          "method": q["audit"]["method"], "drawn": 0, "audited": 0,
                          "unreviewed": 0}
    assert q["review"] == {"total": 0, "limit": 50, "items": []}


def test_unknown_project_and_unsupported_config_raise(storage: Storage) -> None:
    with pytest.raises(UnknownProject):
        project_quality(storage, 7)
    new_project(storage, 3, n_tasks=1, config='<View><Image name="i" value="$img"/>'
                '<RectangleLabels name="r" toName="i"><Label value="x"/></RectangleLabels></View>')
    with pytest.raises(UnsupportedConfig, match="project 3"):
        project_quality(storage, 3)


def test_a_second_annotation_by_the_same_annotator_replaces_the_cell_not_the_first(
    storage: Storage,
) -> None:
    new_project(storage, 1, n_tasks=1)
    with storage.write() as tx:
        tx.upsert_annotations([annotation(1, T[0], 1, "negative"),
                               annotation(2, T[0], 1, "positive")], source="resync")
        tx.save_llm_labels([llm_label(T[0], "positive", 0.9)])
        tx.save_predictions([model_prediction(T[0], "positive", 0.9)])
    q = project_quality(storage, 1)
    assert q["agreement"]["label_counts"] == {"positive": 1, "negative": 0, "neutral": 0}
    assert q["skipped"] == {"repeat_annotation_same_annotator": 1}
    assert q["llm"]["accuracy"] == 1.0  # the cell holds the later label
    assert [i["first_label"] for i in q["review"]["items"]] == ["negative"]  # the first one


def test_the_consensus_is_the_rule_training_uses_ties_to_the_latest_and_ground_truth_first(
    storage: Storage,
) -> None:
    from dataclasses import replace

    new_project(storage, 1, n_tasks=3)
    late = "2026-01-02T00:00:00"
    anns = [annotation(1, T[0], 1, "negative"),  # T0: a tie; annotator 1 answered last
            annotation(2, T[0], 2, "positive"),
            replace(annotation(3, T[0], 1, "negative"), ls_updated_at=late),
            annotation(4, T[1], 1, "neutral"), annotation(5, T[1], 2, "neutral"),
            replace(annotation(6, T[1], 3, "positive"), ground_truth=True)]  # T1: ground truth
    with storage.write() as tx:
        tx.upsert_annotations(anns, source="resync")
        tx.save_llm_labels([llm_label(T[0], "negative", 0.9), llm_label(T[1], "positive", 0.9)])
    q = project_quality(storage, 1)
    assert q["consensus"] == {"n_tasks": 2, "tie_broken": 1}
    assert (q["llm"]["n"], q["llm"]["accuracy"]) == (2, 1.0)
    assert q["skipped"] == {"repeat_annotation_same_annotator": 1}
