"""Few-shot selection: a pure function of arrays, class-balanced, similarity- and
mistake-aware, reproducible with a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.llm.fewshot import ExamplePool, select_examples


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_class_balanced_when_one_class_dominates() -> None:
    labels = np.array([0] * 50 + [1] * 5 + [2] * 5)
    picked = select_examples(labels, k=6, rng=rng())
    assert len(picked) == 6 and len(set(picked.tolist())) == 6
    assert np.bincount(labels[picked], minlength=3).tolist() == [2, 2, 2]


def test_k_larger_than_pool_and_k_zero() -> None:
    labels = np.array([0, 1, 1])
    assert sorted(select_examples(labels, k=10, rng=rng()).tolist()) == [0, 1, 2]
    assert select_examples(labels, k=0, rng=rng()).size == 0
    assert select_examples(np.array([], dtype=int), k=3, rng=rng()).size == 0


def test_most_similar_first_within_each_class() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0.05], [0.2, 1], [-1, 0]], dtype=float)
    picked = select_examples(labels, k=2, rng=rng(), embeddings=emb, query=np.array([1.0, 0]))
    assert sorted(picked.tolist()) == [0, 3]


def test_examples_the_llm_got_wrong_come_first() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    wrong = np.array([False, False, True, False, True, False])
    for seed in range(5):
        assert sorted(select_examples(labels, k=2, rng=rng(seed), llm_wrong=wrong).tolist()) \
            == [2, 4]


def test_reproducible_with_a_seed_and_inputs_untouched() -> None:
    labels = np.array([0, 1, 2] * 10)
    before = labels.copy()
    a = select_examples(labels, k=5, rng=rng(7))
    b = select_examples(labels, k=5, rng=rng(7))
    assert a.tolist() == b.tolist() and np.array_equal(labels, before)
    runs = {tuple(select_examples(labels, k=5, rng=rng(s)).tolist()) for s in range(10)}
    assert len(runs) > 1  # the generator matters


def test_multi_label_indicators() -> None:
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    picked = select_examples(y, k=3, rng=rng())
    covered = y[picked].any(axis=0)
    assert covered.all()


@pytest.mark.parametrize("kw, message", [
    ({"k": -1}, "k must be"),
    ({"k": 2, "llm_wrong": np.array([True])}, "llm_wrong has shape"),
    ({"k": 2, "embeddings": np.ones((3, 2)), "query": np.ones(3)}, "do not fit"),
])
def test_bad_input(kw, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        select_examples(np.array([0, 1, 1]), rng=rng(), **kw)


def test_bad_label_shape() -> None:
    with pytest.raises(InvalidInput):
        select_examples(np.zeros((2, 2, 2)), k=1, rng=rng())
    with pytest.raises(InvalidInput):
        select_examples(np.array([-1, 0]), k=1, rng=rng())


def test_pool_for_text_is_stable_and_excludes_the_text_itself() -> None:
    pool = ExamplePool(texts=[f"t{i}" for i in range(12)],
                       labels=[[["a", "b", "c"][i % 3]] for i in range(12)],
                       classes=["a", "b", "c"])
    first = pool.for_text("t0", k=3, seed=1)
    assert first == pool.for_text("t0", k=3, seed=1)
    assert "t0" not in [t for t, _ in first]
    assert sorted(lbl[0] for _, lbl in first) == ["a", "b", "c"]
    assert pool.for_text("t0", k=0) == []
