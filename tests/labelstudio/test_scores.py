"""The published score: Label Studio's queue order, readable as the pre-label's confidence."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import CONFIG

from labelloop.labelstudio.scores import SPREAD, queue_scores

confidence = st.one_of(st.none(), st.floats(min_value=-0.5, max_value=1.5),
                       st.sampled_from([float("nan"), float("inf"), 0.0, 1.0, 0.5]))


@given(st.lists(confidence, max_size=200))
def test_scores_are_strictly_increasing_and_within_0_1(confidences: list[float | None]) -> None:
    scores = queue_scores(confidences)
    assert len(scores) == len(confidences)
    assert all(0.0 <= s <= 1.0 for s in scores)
    # Label Studio serves the lowest score first: strictly increasing = labelloop's order
    assert all(a < b for a, b in itertools.pairwise(scores))


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=100))
def test_a_queue_in_confidence_order_publishes_each_tasks_own_confidence(
        confidences: list[float]) -> None:
    ordered = sorted(confidences)
    for score, c in zip(queue_scores(ordered), ordered):
        assert abs(score - c) <= SPREAD + 1e-12


def test_out_of_order_neighbours_share_their_mean_and_the_rest_keep_their_own() -> None:
    scores = queue_scores([0.3, 0.9, 0.5, 0.95])
    assert scores[0] == pytest.approx(0.3, abs=2 * SPREAD)
    assert scores[1] == pytest.approx(0.7, abs=2 * SPREAD)  # (0.9 + 0.5) / 2
    assert scores[2] == pytest.approx(0.7, abs=2 * SPREAD)
    assert scores[3] == pytest.approx(0.95, abs=2 * SPREAD)
    assert scores[1] < scores[2]


def test_tasks_without_a_confidence_take_the_score_before_them() -> None:
    scores = queue_scores([None, 0.4, None, 0.8])
    assert [round(s, 4) for s in scores] == [0.4, 0.4, 0.4, 0.8]
    assert scores == sorted(set(scores))


def test_without_any_confidence_the_score_is_the_queue_position() -> None:
    assert queue_scores([None, None, None, None]) == [0.0, 0.25, 0.5, 0.75]
    assert queue_scores([]) == []
    assert queue_scores([0.6]) == [pytest.approx(0.6, abs=SPREAD)]


def test_spread_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="spread"):
        queue_scores([0.1], spread=1.0)



def test_a_retrain_publishes_the_queue_order_as_the_pre_labels_confidence(
        storage, fake_ls, tmp_path) -> None:
    from tests.loop.test_retrain import WORDS, label, run_retrain

    fake_ls.add_project(1, CONFIG)
    for i in range(1, 61):
        fake_ls.add_task(1, i, {"text": f"{WORDS[list(WORDS)[i % 3]]} movie number {i}"})
    label(fake_ls, storage, list(range(1, 13)))
    version, queue = run_retrain(storage, fake_ls, tmp_path)
    published = {p["task"]: p for p in fake_ls.predictions
                 if p["model_version"] == version.version}
    scores = [published[e.task_id]["score"] for e in queue]
    # Label Studio serves the lowest score first: the order is labelloop's
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert [e.score for e in queue] == scores  # what /predict answers for a queued task
    # the number reads as a confidence: the isotonic fit of the pre-labels' own confidences
    own = [published[e.task_id]["result"][0]["score"] for e in queue]
    assert scores == pytest.approx(queue_scores(own), abs=1e-12)
    assert scores != pytest.approx([r / len(queue) for r in range(len(queue))], abs=0.05)
    # and each region keeps its own confidence
    assert all(0.0 < c <= 1.0 for c in own)
