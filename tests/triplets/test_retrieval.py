"""Retrieval metrics (:mod:`labelloop.triplets.retrieval`): hand-computed cases, a perfect
embedding scores 1, and invariants (scale, corpus order, group names, monotone in k)."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.triplets.retrieval import mean_reciprocal_rank, recall_at_k, triplet_accuracy


def _angles(*degrees: float) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


# query 0 at 0 deg (group A): corpus ranked 10 (B), 20 (A), 30 (A), 90 (B)
# query 1 at 85 deg (group B): corpus ranked 90 (B), 30, 20, 10
CORPUS = _angles(10, 20, 30, 90)
CORPUS_G = np.array(["B", "A", "A", "B"])
QUERIES = _angles(0, 85)
QUERY_G = np.array(["A", "B"])


def test_hand_computed_recall_and_mrr():
    def rec(k: int, kind: str = "hit") -> float:
        return recall_at_k(QUERIES, CORPUS, QUERY_G, CORPUS_G, k=k, kind=kind)  # type: ignore[arg-type]

    assert rec(1) == pytest.approx(0.5)  # only query 1 finds its group first
    assert rec(2) == pytest.approx(1.0)
    assert rec(1, "capped") == pytest.approx(0.5)  # (0/1 + 1/1) / 2
    assert rec(2, "capped") == pytest.approx(0.5)  # (1/2 + 1/2) / 2
    assert rec(3, "capped") == pytest.approx(0.75)  # (2/2 + 1/2) / 2
    assert rec(4, "capped") == pytest.approx(1.0)
    assert mean_reciprocal_rank(QUERIES, CORPUS, QUERY_G, CORPUS_G) == pytest.approx(0.75)


def test_exclude_self_never_retrieves_the_query_and_skips_unanswerable_ones():
    x = _angles(0, 5, 40, 50, 170)
    g = np.array([0, 1, 0, 1, 2])  # item 4 is alone in its group: left out
    # item 0: ranked 5 (1), 40 (0) -> rank 2; item 1: 0 (0), 40 (0), 50 (1) -> rank 3
    # item 2: 50 (1), 5 (1), 0 (0) -> rank 3; item 3: 40 (0), 5 (1) -> rank 2
    assert mean_reciprocal_rank(x, x, g, g, exclude_self=True) == pytest.approx(
        (1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)
    assert recall_at_k(x, x, g, g, k=1, exclude_self=True) == 0.0
    assert recall_at_k(x, x, g, g, k=2, exclude_self=True) == pytest.approx(0.5)
    # without exclude_self every item finds itself first
    assert recall_at_k(x, x, g, g, k=1) == 1.0
    assert mean_reciprocal_rank(x, x, g, g) == 1.0


def test_a_perfect_embedding_scores_one():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 5, size=200)
    x = np.eye(16)[groups] + 0.01 * rng.normal(size=(200, 16))
    for kind in ("hit", "capped"):
        assert recall_at_k(x, x, groups, groups, k=10, exclude_self=True,
                           kind=kind) == 1.0  # type: ignore[arg-type]
    assert mean_reciprocal_rank(x, x, groups, groups, exclude_self=True) == 1.0


def test_invariants_on_a_random_embedding():
    rng = np.random.default_rng(1)
    q, c = rng.normal(size=(30, 6)), rng.normal(size=(80, 6))
    qg, cg = rng.integers(0, 4, size=30), rng.integers(0, 4, size=80)
    base_r = recall_at_k(q, c, qg, cg, k=5, kind="capped")
    base_m = mean_reciprocal_rank(q, c, qg, cg)
    perm = rng.permutation(80)
    assert recall_at_k(q, c[perm], qg, cg[perm], k=5, kind="capped") == pytest.approx(base_r)
    assert mean_reciprocal_rank(q, c[perm], qg, cg[perm]) == pytest.approx(base_m)
    scale = rng.uniform(0.1, 10, size=(80, 1))
    assert mean_reciprocal_rank(3 * q, c * scale, qg, cg) == pytest.approx(base_m)
    rename = np.array([7, 2, 9, 4])
    assert mean_reciprocal_rank(q, c, rename[qg], rename[cg]) == pytest.approx(base_m)
    hits = [recall_at_k(q, c, qg, cg, k=k) for k in range(1, 20)]
    assert hits == sorted(hits) and 0.0 < hits[0] < 1.0
    assert hits[0] <= base_m <= 1.0  # recall@1 = share of first-rank hits <= MRR


def test_unanswerable_and_malformed_inputs_are_refused():
    with pytest.raises(InvalidInput):  # no query has a same-group item
        recall_at_k(QUERIES, CORPUS, np.array(["C", "D"]), CORPUS_G)
    with pytest.raises(InvalidInput):
        recall_at_k(QUERIES, CORPUS, QUERY_G, CORPUS_G, k=0)
    with pytest.raises(InvalidInput):
        mean_reciprocal_rank(QUERIES, CORPUS, QUERY_G, CORPUS_G, exclude_self=True)
    with pytest.raises(InvalidInput):
        mean_reciprocal_rank(QUERIES, CORPUS, QUERY_G, CORPUS_G[:3])


def test_triplet_accuracy():
    x = _angles(0, 10, 80, 45)
    # (0, 1, 2): cos 10 > cos 80, right; (0, 2, 1): wrong; (3, 2, 0): 35 vs 45, right
    assert triplet_accuracy(x, [(0, 1, 2), (0, 2, 1), (3, 2, 0)]) == pytest.approx(2 / 3)
    assert triplet_accuracy(5 * x, [(0, 1, 2)]) == 1.0
    with pytest.raises(InvalidInput):
        triplet_accuracy(x, [])
    with pytest.raises(InvalidInput):
        triplet_accuracy(x, [(0, 1, 4)])
