"""Reading Label Studio JSON exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelloop.agreement import MalformedExport, read_export

nan = np.nan
FIXTURE = Path(__file__).parent / "data" / "ls_export_small.json"


def _region(choices: list[str], name: str = "sentiment", **extra: Any) -> dict[str, Any]:
    return {"from_name": name, "to_name": "text", "type": "choices",
            "value": {"choices": choices}, **extra}  # fmt: skip


def _ann(who: Any, *regions: dict[str, Any], cancelled: bool = False) -> dict[str, Any]:
    return {"completed_by": who, "was_cancelled": cancelled, "result": list(regions)}


def test_reads_the_fixture() -> None:
    data = read_export(json.loads(FIXTURE.read_text()))
    assert data.n_tasks == 8
    assert data.skipped == {"annotation_without_choices": 1, "cancelled_annotation": 2}
    c = data.controls["sentiment"]
    assert list(data.controls) == ["sentiment"]
    assert c.task_ids == (101, 102, 103, 104, 105, 108)
    assert c.annotators == (1, 2, 3)  # annotator 2 given as {"id": 2, "email": ...}
    assert c.labels == ("Negative", "Neutral", "Positive") and not c.multiple
    assert c.choice_matrices is None
    expected = [[2, 2, 2], [0, 0, nan], [1, 2, 1], [nan, 0, 0], [2, nan, 1], [nan, 1, nan]]
    np.testing.assert_array_equal(c.matrix, expected)
    assert sorted(c.models) == ["llm-v1", "lr-2"]
    np.testing.assert_array_equal(c.models["llm-v1"].labels, [2, 0, 2, 0, nan, nan])
    np.testing.assert_array_equal(c.models["llm-v1"].scores, [0.9, 0.8, 0.6, 0.7, nan, nan])
    np.testing.assert_array_equal(c.models["lr-2"].labels, [nan, nan, nan, 1, nan, nan])
    assert c.skipped == {"prediction_on_task_without_annotations": 1, "tasks_without_choices": 2}


def test_multiple_choice_gives_combinations_and_binary_matrices() -> None:
    tasks = [
        {"id": 1, "annotations": [_ann(7, _region(["b", "a"])), _ann(8, _region(["a"]))]},
        {"id": 2, "annotations": [_ann(7, _region(["c"])), _ann(8, _region(["c"]))],
         "predictions": [{"model_version": "m", "result": [_region(["a", "c"], score=0.4)]},
                         {"model_version": "n", "score": 0.1,
                          "result": [_region(["c"], score=0.9)]}]},
    ]  # fmt: skip
    c = read_export(tasks).controls["sentiment"]
    assert c.multiple and c.choices == ("a", "b", "c")
    assert c.labels == ("a", "a + b", "a + c", "c")
    np.testing.assert_array_equal(c.matrix, [[1, 0], [3, 3]])
    assert c.choice_matrices is not None
    np.testing.assert_array_equal(c.choice_matrices[0], [[1, 1], [0, 0]])  # "a"
    np.testing.assert_array_equal(c.choice_matrices[1], [[1, 0], [0, 0]])  # "b"
    np.testing.assert_array_equal(c.models["m"].labels, [nan, 2])
    np.testing.assert_array_equal(c.models["m"].scores, [nan, 0.4])  # the region's score
    np.testing.assert_array_equal(c.models["n"].scores, [nan, 0.9])  # region before prediction


def test_several_controls_duplicates_and_odd_entries_are_counted() -> None:
    tasks = [
        {"id": 1, "annotations": [
            _ann(1, _region(["x"]), _region(["p"], name="topic")),
            _ann(1, _region(["y"])),  # same annotator again: the last one wins
            _ann(2, _region(["x"]), _region(["y"])),  # two regions for one control
            _ann(None, _region(["x"])),
            _ann(3, _region([])),
            "junk",
        ], "predictions": [{"result": [_region(["x"])]}, 5, "oops"]},
        "not a task",
        {"id": 3, "annotations": {"oops": 1}},
    ]  # fmt: skip
    data = read_export(tasks)
    assert sorted(data.controls) == ["sentiment", "topic"]
    s = data.controls["sentiment"]
    np.testing.assert_array_equal(s.matrix, [[1]])  # "y" (labels x, y)
    assert s.skipped == {
        "duplicate_annotation": 1,
        "empty_choices": 1,
        "several_regions": 1,
        "tasks_without_choices": 2,
    }
    assert list(s.models) == ["(no model_version)"]
    assert data.skipped == {
        "annotation_not_object": 1,
        "annotation_without_annotator": 1,
        "prediction_malformed": 1,
        "prediction_id_only": 1,
        "task_malformed": 1,
        "task_not_object": 1,
    }


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ({"tasks": []}, "list of tasks; got a JSON dict"),
        ("text", "list of tasks; got a JSON str"),
        ([], "0 tasks hold no usable choices"),
        ([{"annotations": [_ann(1, _region(["a"]), cancelled=True)]}], "cancelled_annotation"),
    ],
)
def test_unusable_exports_raise(tasks: Any, message: str) -> None:
    with pytest.raises(MalformedExport, match=message):
        read_export(tasks)


def test_a_single_task_object_is_accepted() -> None:
    task = {"id": 9, "annotations": [_ann(1, _region(["a"])), _ann(2, _region(["a"]))]}
    assert read_export(task).controls["sentiment"].task_ids == (9,)


def test_string_annotator_ids_sort() -> None:
    task = {"annotations": [_ann("zoe", _region(["a"])), _ann({"email": "al@x"}, _region(["b"]))]}
    assert read_export([task]).controls["sentiment"].annotators == ("al@x", "zoe")


def _dated(who: Any, choice: str, when: str, ann_id: int, *, truth: bool = False) -> dict[str, Any]:
    return {**_ann(who, _region([choice])), "updated_at": when, "id": ann_id,
            "ground_truth": truth}


def test_the_export_report_measures_models_against_the_one_consensus_rule() -> None:
    """The export's consensus is the label layer's rule, as training and the quality endpoint
    use: an annotator's vote is their latest annotation (not the last one in the file), ground
    truth outvotes the rest, a tie goes to the label voted most recently."""
    from labelloop.agreement import control_report

    pred = [{"model_version": "m", "result": [_region(["a"])]}]
    tasks = [
        # tie 1-1: b was voted later -> b (a majority vote would leave it out)
        {"id": 1, "annotations": [_dated(1, "a", "2026-01-01T00:00:00Z", 10),
                                  _dated(2, "b", "2026-01-02T00:00:00Z", 11)],
         "predictions": pred},
        # annotator 1 listed last with an older annotation: their newer "a" is the vote
        {"id": 2, "annotations": [_dated(1, "a", "2026-01-03T00:00:00Z", 13),
                                  _dated(1, "b", "2026-01-01T00:00:00Z", 12)],
         "predictions": pred},
        # two say b, one ground truth says a -> a
        {"id": 3, "annotations": [_dated(1, "b", "2026-01-01T00:00:00Z", 14),
                                  _dated(2, "b", "2026-01-01T00:00:00Z", 15),
                                  _dated(3, "a", "2026-01-01T00:00:00Z", 16, truth=True)],
         "predictions": pred},
    ]  # fmt: skip
    control = read_export(tasks).controls["sentiment"]
    assert control.labels == ("a", "b")
    np.testing.assert_array_equal(control.consensus, [1, 0, 0])
    assert control.consensus_ties == 1
    np.testing.assert_array_equal(control.matrix[1], [0, nan, nan])  # the newer "a" kept
    report = control_report(control)
    # the model says "a" everywhere: right on tasks 2 and 3 against the rule's consensus
    assert report["models"]["m"]["n"] == 3
    assert report["models"]["m"]["accuracy"] == pytest.approx(2 / 3)
