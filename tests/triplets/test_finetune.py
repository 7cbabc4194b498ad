"""Fine-tuning on judged triplets (:mod:`labelloop.triplets.finetune`) on the tiny offline
sentence-transformer: a real optimisation step pulls anchors towards their positives and away
from their negatives (both losses), the time budget, torch state left alone, and the saved
encoder reloads bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labelloop.embeddings.finetune import directory_hash, load_encoder, save_encoder
from labelloop.errors import InvalidInput
from labelloop.triplets.finetune import fine_tune_on_triplets, train_on_triplets
from labelloop.triplets.retrieval import triplet_accuracy
from tests.embeddings.st_tiny import build_tiny_sentence_transformer

GOOD = ["good great fine", "lovely superb fun", "a good movie", "great fun film",
        "the plot was lovely", "very superb"]
BAD = ["bad awful poor", "dull boring ugly", "a bad movie", "awful dull film",
       "the plot was poor", "very boring"]
TEXTS = GOOD + BAD
Y = np.array([0] * len(GOOD) + [1] * len(BAD))
# every (anchor, positive, negative) with the positive of the anchor's class, the negative not
TRIPLETS = [(a, p, n) for a, p, n in itertools.permutations(range(len(TEXTS)), 3)
            if Y[a] == Y[p] and Y[a] != Y[n]][::4]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


def _encode(model, texts=TEXTS):
    return model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)


def _margin(x: np.ndarray) -> float:
    """Mean cos(anchor, positive) - cos(anchor, negative) over the triplets."""
    t = np.array(TRIPLETS)
    a, p, n = x[t[:, 0]], x[t[:, 1]], x[t[:, 2]]
    return float(((a * p).sum(1) - (a * n).sum(1)).mean())


@pytest.mark.parametrize("loss", ["mnrl", "triplet"])
def test_fine_tuning_moves_anchors_closer_to_positives_than_negatives(tiny, loss):
    before = _encode(load_encoder(tiny))
    model, stats = fine_tune_on_triplets(TEXTS, TRIPLETS, base=tiny, budget_s=60.0,
                                         rng=np.random.default_rng(0), loss=loss, lr=5e-3,
                                         epochs=6, margin=0.5, threads=1)
    after = _encode(model)
    assert stats.stopped == "done" and stats.pairs == len(TRIPLETS)
    assert stats.steps == 6 * -(-len(TRIPLETS) // 16) and stats.epochs == pytest.approx(6.0)
    assert stats.loss_last < stats.loss_first
    assert _margin(after) > _margin(before) + 0.1, (_margin(before), _margin(after))
    assert triplet_accuracy(after, TRIPLETS) > max(0.9, triplet_accuracy(before, TRIPLETS))


def test_the_time_budget_stops_training_and_torch_state_is_restored(tiny):
    import torch

    ticks = itertools.count()  # a clock that moves one second per reading
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    stats = train_on_triplets(load_encoder(tiny), TEXTS, TRIPLETS, budget_s=2.5,
                              rng=np.random.default_rng(0), batch_size=8, threads=1,
                              clock=lambda: float(next(ticks)))
    assert stats.stopped == "budget" and stats.steps == 2  # readings 1, 2 in; 3 is out
    assert stats.epochs == pytest.approx(16 / len(TRIPLETS))
    assert torch.get_num_threads() == threads
    assert torch.rand(1).item() == expected.item()  # the global generator was forked


def test_bad_triplets_are_refused(tiny):
    model = load_encoder(tiny)
    for bad in ([], [(0, 1, 99)], [(0, 1)]):
        with pytest.raises(InvalidInput):
            train_on_triplets(model, TEXTS, bad, budget_s=5.0,  # type: ignore[arg-type]
                              rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        train_on_triplets(model, TEXTS, TRIPLETS, budget_s=5.0, rng=np.random.default_rng(0),
                          loss="contrastive")  # type: ignore[arg-type]


def test_the_saved_encoder_reloads_bit_identically(tiny, tmp_path):
    model, _ = fine_tune_on_triplets(TEXTS, TRIPLETS[:16], base=tiny, budget_s=60.0,
                                     rng=np.random.default_rng(1), lr=5e-3, threads=1)
    saved = save_encoder(model, tmp_path / "encoders")
    assert directory_hash(saved.path) == saved.sha256
    a, b = _encode(model), _encode(load_encoder(saved.path))
    assert a.tobytes() == b.tobytes()
    assert not np.allclose(a, _encode(load_encoder(tiny)))  # training did change it
