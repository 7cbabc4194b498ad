"""The pure parts: review order, which tasks get a second annotation, result parsing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.errors import InvalidInput
from labelloop.quality import review_positions, second_annotation_positions
from labelloop.quality.align import chosen, region_score
from tests.quality.seed import region

nan = np.nan


def test_review_keeps_rows_both_machines_contradict_strongest_first() -> None:
    first = [0, 0, 1, 2, 0, nan, 1]
    llm = [0, 1, 2, 1, 1, 1, 0]
    model = [1, 1, 0, 1, 2, 1, nan]
    conf = [0.99, 0.6, 0.9, 0.8, 0.95, 0.9, 0.9]
    # row 0: LLM agrees; 5: no first label; 6: no model label. Machines agree on 1 and 3
    assert review_positions(first, llm, model, llm_confidence=conf).tolist() == [3, 1, 4, 2]


def test_review_ties_fall_back_to_model_confidence_then_row_order() -> None:
    got = review_positions([0, 0, 0], [1, 1, 1], [1, 1, 1], llm_confidence=[0.5, 0.5, 0.5],
                           model_confidence=[0.2, 0.9, 0.2])
    assert got.tolist() == [1, 0, 2]


@given(st.lists(st.tuples(*[st.sampled_from([0.0, 1.0, 2.0, nan])] * 3), max_size=30))
def test_review_rows_disagree_with_both_and_appear_once(rows: list) -> None:
    f, a, b = (np.array([r[i] for r in rows], dtype=float) for i in range(3))
    got = review_positions(f, a, b)
    assert len(set(got.tolist())) == len(got)
    for i in range(len(rows)):
        expected = not np.isnan([f[i], a[i], b[i]]).any() and f[i] != a[i] and f[i] != b[i]
        assert (i in got) == expected


def test_review_rejects_unequal_lengths() -> None:
    with pytest.raises(InvalidInput, match="equal length"):
        review_positions([0, 1], [0], [0, 1])


def _second(**kw):
    args = {"first": [0, 0, 0, 1, 2, 2], "n_annotations": [1, 1, 2, 1, 1, 1],
            "llm": [1, 2, 1, 1, 0, nan], "model": [1, 0, 1, 0, 0, 0],
            "llm_confidence": [0.8, 0.95, 0.99, 0.99, 0.5, nan], "budget": 10,
            "rng": np.random.default_rng(0)}
    args.update(kw)
    return [(p.position, p.reason) for p in second_annotation_positions(**args)]


def test_second_annotation_order_and_reasons() -> None:
    # row 0 and 4 contradict both machines; row 1 a confident LLM; row 2 already has two labels;
    # row 3 agrees with the LLM; row 5 has no LLM label
    assert _second() == [(0, "disagrees_with_both"), (4, "disagrees_with_both"),
                         (1, "disagrees_with_confident_llm")]
    assert _second(min_llm_confidence=0.99) == [(0, "disagrees_with_both"),
                                                (4, "disagrees_with_both")]


def test_second_annotation_respects_budget_and_requested() -> None:
    assert _second(budget=1) == [(0, "disagrees_with_both")]
    assert _second(budget=0) == []
    assert _second(requested=[True, False, False, False, False, False]) == [
        (4, "disagrees_with_both"), (1, "disagrees_with_confident_llm")]


def test_agreement_sample_tops_up_to_the_target_uniformly_and_reproducibly() -> None:
    n = 200
    base = {"first": np.zeros(n), "n_annotations": np.ones(n, int), "llm": np.zeros(n),
            "model": np.zeros(n), "llm_confidence": np.full(n, 0.9), "budget": 100}
    base["n_annotations"][:5] = 2  # five tasks already have two labels
    a = _second(**base, agreement_target=25, rng=np.random.default_rng(7))
    b = _second(**base, agreement_target=25, rng=np.random.default_rng(7))
    assert a == b and len(a) == 20 and {r for _, r in a} == {"agreement_sample"}
    assert all(p >= 5 for p, _ in a)
    asked = np.zeros(n, bool)
    asked[[p for p, _ in a]] = True
    assert _second(**base, agreement_target=25, requested=asked) == []  # target met: no more
    draws = [p for s in range(40) for p, _ in _second(**base, agreement_target=25,
                                                      rng=np.random.default_rng(s))]
    assert 0.35 < np.mean(np.array(draws) < 5 + (n - 5) / 2) < 0.65  # not biased to one end


def test_second_annotation_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="budget"):
        _second(budget=-1)
    with pytest.raises(InvalidInput, match="equal length"):
        _second(llm=[0])
    with pytest.raises(InvalidInput, match="rng"):
        _second(rng=None)


def test_chosen_and_region_score_read_one_choices_region() -> None:
    assert chosen(region(["b", "a"]), "sentiment") == ("a", "b")
    assert chosen(region("a"), "other") is None
    assert chosen(region("a") + region("b"), "sentiment") is None  # two regions: ambiguous
    assert chosen(region([]), "sentiment") is None and chosen("junk", "sentiment") is None
    assert region_score(region("a", 0.7), "sentiment") == 0.7
    assert np.isnan(region_score(region("a"), "sentiment"))
