"""SetFit-style fine-tuning (:mod:`labelloop.embeddings.finetune`) on a tiny random-weight
sentence-transformer built offline: pairs, a real optimisation step that pulls same-class texts
together, the time budget, and a saved encoder that reloads bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tests.embeddings.st_tiny import build_tiny_sentence_transformer

from labelloop.embeddings.finetune import (
    build_pairs,
    directory_hash,
    fine_tune_encoder,
    load_encoder,
    save_encoder,
    train_on_pairs,
)
from labelloop.errors import InvalidInput

GOOD = ["good great fine", "lovely superb fun", "a good movie", "great fun film",
        "the plot was lovely", "very superb"]
BAD = ["bad awful poor", "dull boring ugly", "a bad movie", "awful dull film",
       "the plot was poor", "very boring"]
TEXTS = GOOD + BAD
Y = np.array([0] * len(GOOD) + [1] * len(BAD))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


def _gap(vectors: np.ndarray, y: np.ndarray) -> float:
    """Mean cosine of same-class pairs minus that of different-class pairs."""
    sims = vectors @ vectors.T
    same, diff = [], []
    for i, j in itertools.combinations(range(len(y)), 2):
        (same if y[i] == y[j] else diff).append(sims[i, j])
    return float(np.mean(same) - np.mean(diff))


def _encode(model, texts):
    return model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)


def test_pairs_are_balanced_valid_and_seeded():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 5])
    pairs = build_pairs(y, rng=np.random.default_rng(3), max_pairs=200)
    assert len(pairs) == 200 and pairs.positives == 100
    pos = pairs.target == 1.0
    assert (y[pairs.a[pos]] == y[pairs.b[pos]]).all()
    assert (pairs.a[pos] != pairs.b[pos]).all()
    assert (y[pairs.a[~pos]] != y[pairs.b[~pos]]).all()
    assert 9 not in pairs.a[pos]  # the single text of class 5 has no positive partner
    again = build_pairs(y, rng=np.random.default_rng(3), max_pairs=200)
    assert (again.a == pairs.a).all() and (again.b == pairs.b).all()
    # the cap: per_text * n when that is smaller
    assert len(build_pairs(y, rng=np.random.default_rng(0), max_pairs=10_000, per_text=2)) == 20


@pytest.mark.parametrize("y", [np.array([0, 0, 0]), np.array([0, 1, 2])])
def test_pairs_need_two_classes_and_a_class_with_two_texts(y):
    with pytest.raises(InvalidInput):
        build_pairs(y, rng=np.random.default_rng(0))


def test_fine_tuning_moves_same_class_pairs_closer(tiny):
    before = _gap(_encode(load_encoder(tiny), TEXTS), Y)
    model, stats = fine_tune_encoder(TEXTS, Y, base=tiny, rng=np.random.default_rng(0),
                                     budget_s=60.0, max_pairs=240, lr=5e-3, batch_size=16,
                                     threads=1)
    after = _gap(_encode(model, TEXTS), Y)
    assert stats.stopped == "done" and stats.steps == 15 and stats.epochs == pytest.approx(1.0)
    assert stats.loss_last < stats.loss_first
    assert after > before + 0.2, (before, after)


def test_the_time_budget_stops_training(tiny):
    ticks = itertools.count()  # a clock that moves one second per reading
    model = load_encoder(tiny)
    pairs = build_pairs(Y, rng=np.random.default_rng(0), max_pairs=240)
    stats = train_on_pairs(model, TEXTS, pairs, budget_s=3.5, rng=np.random.default_rng(0),
                           batch_size=16, clock=lambda: float(next(ticks)))
    assert stats.stopped == "budget"
    assert stats.steps == 3  # readings at 1, 2, 3 are inside the budget, 4 is not
    assert stats.epochs == pytest.approx(48 / 240)


def test_the_saved_encoder_reloads_bit_identically(tiny, tmp_path):
    model, _ = fine_tune_encoder(TEXTS, Y, base=tiny, rng=np.random.default_rng(1),
                                 budget_s=60.0, max_pairs=32, lr=5e-3, threads=1)
    saved = save_encoder(model, tmp_path / "encoders")
    assert saved.path.name == saved.sha256[:16] and directory_hash(saved.path) == saved.sha256
    reloaded = load_encoder(saved.path)
    a, b = _encode(model, TEXTS), _encode(reloaded, TEXTS)
    assert a.tobytes() == b.tobytes()
    assert not np.allclose(a, _encode(load_encoder(tiny), TEXTS))  # it did change
    # saving the same model again (a retried job) keeps one folder under the same name
    again = save_encoder(model, tmp_path / "encoders")
    assert again == saved
    assert [p.name for p in (tmp_path / "encoders").iterdir()] == [saved.path.name]
