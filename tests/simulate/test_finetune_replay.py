"""``simulate --fine-tune``'s replay (:mod:`labelloop.simulate.finetune_replay`) on a tiny
random-weight sentence-transformer built offline: the rounds at the service's label counts,
frozen vs fine-tuned accuracy on the test split."""

from __future__ import annotations

import numpy as np
import pytest
from tests.embeddings.st_tiny import build_tiny_sentence_transformer

from labelloop.embeddings.finetune import load_encoder
from labelloop.simulate.finetune_replay import (
    fine_tune_table,
    finetune_counts,
    replay_fine_tune,
)

GOOD = ["good", "great", "fine", "lovely", "superb", "fun"]
BAD = ["bad", "awful", "poor", "dull", "boring", "ugly"]


def test_counts_follow_the_service_rule() -> None:
    assert finetune_counts(500, min_labels=100, every_n=200) == [100, 300, 500]
    assert finetune_counts(99, min_labels=100, every_n=200) == []


def test_replay_reports_frozen_and_tuned_accuracy_per_round(tmp_path) -> None:
    pytest.importorskip("sentence_transformers")
    base = build_tiny_sentence_transformer(tmp_path)
    rng = np.random.default_rng(0)
    texts, y = [], []
    for i in range(40):
        words = GOOD if i % 2 == 0 else BAD
        texts.append(" ".join(rng.choice(words, size=3)) + " movie")
        y.append(i % 2)
    y_arr = np.array(y)
    frozen = load_encoder(base).encode(texts, normalize_embeddings=True)
    train, test = np.arange(0, 30), np.arange(30, 40)
    steps: list[int] = []
    points = replay_fine_tune(texts, y_arr, train, test, frozen, labels=["good", "bad"],
                              base=base, counts=[10, 20, 50], seeds=2, budget_s=20.0,
                              threads=1, step=lambda: steps.append(1))
    assert [p.labels for p in points] == [10, 20]  # 50 is more than the train split holds
    assert len(steps) == 4
    for p in points:
        assert len(p.frozen) == len(p.tuned) == 2 and all(0 <= a <= 1 for a in p.tuned)
        assert all(s >= 1 for s in p.steps)
    table = fine_tune_table(points)
    assert table.count("\n") == 3 and "| 20 |" in table
