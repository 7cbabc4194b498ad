"""The stream's screening model: round trip, learning, the full label set, weights, size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.models.screen import (
    dump_screen,
    fit_screen,
    load_screen,
    n_features_for,
    screen_proba,
)

LABELS = ["positive", "negative", "neutral"]
WORDS = {0: ["great", "love", "superb"], 1: ["awful", "hate", "broken"],
         2: ["plot", "story", "cast"]}


def toy(n: int, seed: int = 0, k: int = 3) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    filler = ["the", "a", "movie", "was", "it", "and"]
    texts = [" ".join([*rng.choice(WORDS[c], 2), *rng.choice(filler, 4)]) for c in y]
    return texts, y


def test_learns_a_separable_problem() -> None:
    texts, y = toy(300)
    model = fit_screen(texts, y, labels=LABELS, multiple=False)
    test_texts, test_y = toy(200, seed=1)
    p = screen_proba(model, test_texts)
    assert p.shape == (200, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == test_y).mean() > 0.95


@pytest.mark.parametrize("multiple", [False, True])
def test_round_trip_gives_identical_probabilities(multiple: bool) -> None:
    texts, y = toy(200)
    t = np.eye(3, dtype=np.int8)[y] if multiple else y
    model = fit_screen(texts, t, labels=LABELS, multiple=multiple, seed=3)
    again = load_screen(dump_screen(model))
    for f in dataclasses.fields(model):
        a, b = getattr(model, f.name), getattr(again, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        else:
            assert a == b, f.name
    probe, _ = toy(50, seed=2)
    assert np.array_equal(screen_proba(model, probe), screen_proba(again, probe))
    assert again.coef.dtype == np.float32


def test_multiple_choice_one_model_per_class() -> None:
    texts, y = toy(300)
    t = np.eye(3, dtype=np.int8)[y]
    t[:, 2] = 0  # never chosen: its Laplace estimate
    model = fit_screen(texts, t, labels=LABELS, multiple=True)
    p = screen_proba(model, texts)
    np.testing.assert_allclose(p[:, 2], 1 / 302)
    assert ((p[:, 0] > 0.5) == (y == 0)).mean() > 0.95


def test_unseen_classes_and_no_data() -> None:
    texts, y = toy(100, k=2)
    model = fit_screen(texts, y, labels=LABELS, multiple=False)
    p = screen_proba(model, texts)
    np.testing.assert_allclose(p[:, 2], 1 / 103)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p[:, :2].argmax(axis=1) == y).mean() > 0.95
    one = fit_screen(texts[:3], np.full(3, 1), labels=LABELS, multiple=False)
    assert (screen_proba(one, texts).argmax(axis=1) == 1).all()
    empty = fit_screen([], np.zeros(0, dtype=np.int64), labels=LABELS, multiple=False)
    np.testing.assert_allclose(screen_proba(empty, ["anything"]), 1 / 3)
    assert screen_proba(model, []).shape == (0, 3)


def test_weights_decide_between_conflicting_labels() -> None:
    texts = ["great movie"] * 20
    y = np.array([0] * 10 + [1] * 10)
    w = np.array([1.0] * 10 + [0.1] * 10)
    model = fit_screen(texts, y, labels=LABELS, multiple=False, weights=w)
    p = screen_proba(model, ["great movie"])[0]
    assert p[0] > p[1]
    flipped = fit_screen(texts, y, labels=LABELS, multiple=False, weights=w[::-1].copy())
    assert screen_proba(flipped, ["great movie"])[0, 1] > 0.5
    zero = fit_screen(texts, y, labels=LABELS, multiple=False, weights=np.r_[np.ones(10),
                                                                            np.zeros(10)])
    assert zero.n_train == 10


def test_blob_stays_small_for_many_classes() -> None:
    assert n_features_for(3) == 2**18 and n_features_for(20) == 2**15
    labels = [f"c{i}" for i in range(20)]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 20, 2000)
    texts = [" ".join(f"w{c}x{j}" for j in rng.integers(0, 30, 8)) + " common" for c in y]
    blob = dump_screen(fit_screen(texts, y, labels=labels, multiple=False))
    assert len(blob) < 4 * 1024 * 1024


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput):
        fit_screen(["a"], np.array([3]), labels=LABELS, multiple=False)
    with pytest.raises(InvalidInput):
        fit_screen(["a"], np.array([0]), labels=LABELS, multiple=False, weights=np.array([-1]))
    with pytest.raises(InvalidInput):
        fit_screen("abc", np.array([0, 0, 0]), labels=LABELS, multiple=False)
    with pytest.raises(InvalidInput):
        load_screen(b"nope")
