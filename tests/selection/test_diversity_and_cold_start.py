"""Diversity, the default strategy's de-duplication, cold start and the generic selection step."""

from __future__ import annotations

import numpy as np
import pytest
from tests.selection.helpers import blobs

from labelloop.selection import (
    ColdStartOptions,
    InvalidProbabilities,
    PoolData,
    SelectionInputError,
    StrategyOptions,
    cold_start_batch,
    get_strategy,
    k_center_greedy,
    kmeans_representatives,
    needs_cold_start,
    order_by_score,
    select_top,
)
from labelloop.selection.diversity import drop_near_duplicates


def _separated_clusters(n_clusters: int, per_cluster: int, dim: int = 8, seed: int = 0,
                        ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_clusters] * 10
    x = np.repeat(centres, per_cluster, axis=0) + 0.01 * rng.standard_normal(
        (n_clusters * per_cluster, dim))
    return x.astype(np.float32), np.repeat(np.arange(n_clusters), per_cluster)


class TestSelectTop:
    def test_highest_scores_first(self) -> None:
        scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
        np.testing.assert_array_equal(select_top(scores, np.arange(5), 3), [1, 3, 2])

    def test_only_pool_positions_compete(self) -> None:
        scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
        np.testing.assert_array_equal(select_top(scores, np.array([0, 2, 4]), 2), [2, 4])

    def test_ties_are_broken_by_the_generator(self) -> None:
        scores = np.zeros(100)
        a = select_top(scores, np.arange(100), 5, rng=np.random.default_rng(1))
        b = select_top(scores, np.arange(100), 5, rng=np.random.default_rng(2))
        assert set(a) != set(b)
        np.testing.assert_array_equal(
            a, select_top(scores, np.arange(100), 5, rng=np.random.default_rng(1)))

    def test_order_by_score_is_a_permutation(self) -> None:
        scores = np.random.default_rng(0).random(50)
        pool = np.arange(10, 50)
        order = order_by_score(scores, pool)
        assert sorted(order) == list(pool)
        assert (np.diff(scores[order]) <= 0).all()

    def test_non_finite_scores(self) -> None:
        with pytest.raises(InvalidProbabilities, match="finite"):
            select_top(np.array([0.1, np.nan]), np.arange(2), 1)


class TestDiversity:
    def test_k_center_covers_every_cluster(self) -> None:
        x, cluster = _separated_clusters(5, 20)
        picked = k_center_greedy(x, np.arange(100), 5, rng=np.random.default_rng(0))
        assert sorted(cluster[picked]) == [0, 1, 2, 3, 4]

    def test_k_center_moves_away_from_given_centres(self) -> None:
        x, cluster = _separated_clusters(4, 10)
        picked = k_center_greedy(x, np.arange(40), 2, rng=np.random.default_rng(0),
                                 centers=np.array([0, 10]))  # clusters 0 and 1 are covered
        assert sorted(cluster[picked]) == [2, 3]

    def test_kmeans_representatives_one_per_cluster(self) -> None:
        x, cluster = _separated_clusters(6, 15)
        picked = kmeans_representatives(x, np.arange(90), 6, rng=np.random.default_rng(0))
        assert sorted(cluster[picked]) == list(range(6))

    def test_kmeans_representatives_prefer_high_scores(self) -> None:
        x, _ = _separated_clusters(3, 10)
        scores = np.zeros(30)
        scores[[4, 17, 25]] = 1.0
        picked = kmeans_representatives(x, np.arange(30), 3, rng=np.random.default_rng(0),
                                        scores=scores)
        assert sorted(picked) == [4, 17, 25]

    def test_drop_near_duplicates_skips_copies(self) -> None:
        x = np.eye(6, dtype=np.float32)
        x[1] = x[0]  # 1 is a copy of 0
        picked = drop_near_duplicates(x, np.array([0, 1, 2, 3]), 3)
        np.testing.assert_array_equal(picked, [0, 2, 3])

    def test_bad_k(self) -> None:
        x, _ = _separated_clusters(2, 3)
        with pytest.raises(SelectionInputError):
            k_center_greedy(x, np.arange(6), 0, rng=np.random.default_rng(0))


def test_default_strategy_avoids_near_duplicates_that_uncertainty_takes() -> None:
    """Twenty copies of one text are the most uncertain items: uncertainty takes them all,
    the default strategy takes one and spreads the rest of the batch."""
    rng = np.random.default_rng(0)
    x, _ = blobs(300, dim=16, seed=1)
    x[:20] = x[0] + 1e-4 * rng.standard_normal((20, 16)).astype(np.float32)
    probas = np.tile([0.9, 0.05, 0.05], (300, 1))
    probas[:20] = [0.34, 0.33, 0.33]  # the duplicates: most uncertain
    probas[20:60] = [0.45, 0.35, 0.2]  # distinct items, a little less uncertain
    data = PoolData(x, probas=probas)
    pool, labeled = np.arange(300), np.array([], dtype=np.int64)
    unc = get_strategy("uncertainty")(data, pool, labeled, 10, rng=np.random.default_rng(0))
    assert (unc < 20).sum() == 10
    for diversify in ("kmeans", "dedupe"):
        opts = StrategyOptions(diversify=diversify)  # type: ignore[arg-type]
        batch = get_strategy("default")(data, pool, labeled, 10, rng=np.random.default_rng(0),
                                        options=opts)
        assert (batch < 20).sum() <= 2, diversify
        assert (batch < 60).all(), diversify  # still the uncertain ones


class TestColdStart:
    def test_needs_cold_start(self) -> None:
        opts = ColdStartOptions(min_per_class=3, max_labels=50)
        assert needs_cold_start(np.array([0, 0, 0]), options=opts)
        assert needs_cold_start(np.array([5, 5, 2]), options=opts)
        assert not needs_cold_start(np.array([3, 3, 3]), options=opts)
        assert not needs_cold_start(np.array([49, 1, 0]), options=opts)  # 50 labels: enough

    def test_bad_counts(self) -> None:
        with pytest.raises(SelectionInputError):
            needs_cold_start(np.array([3]))

    def test_balanced_across_proxy_classes(self) -> None:
        x, y = blobs(600, n_classes=3, seed=2)
        y[:540] = 0  # class 0 dominates the pool: 90 %
        proxy = np.eye(3)[y] * 0.8 + 0.2 / 3
        batch = cold_start_batch(x, np.arange(600), np.array([], dtype=np.int64), 12,
                                 rng=np.random.default_rng(0), proxy_probas=proxy)
        assert np.bincount(y[batch], minlength=3).tolist() == [4, 4, 4]
        # interleaved: every prefix of 3 holds each class once
        assert sorted(y[batch[:3]]) == [0, 1, 2]

    def test_least_labeled_classes_first(self) -> None:
        x, y = blobs(300, n_classes=3, seed=3)
        proxy = np.eye(3)[y]
        batch = cold_start_batch(x, np.arange(300), np.array([], dtype=np.int64), 2,
                                 rng=np.random.default_rng(0), proxy_probas=proxy,
                                 label_counts=np.array([9, 0, 1]))
        assert sorted(y[batch]) == [1, 2]

    def test_never_one_class_while_the_proxy_sees_two(self) -> None:
        x, y = blobs(200, n_classes=2, seed=4)
        y[:] = 0
        y[-3:] = 1  # a rare class
        proxy = np.eye(2)[y]
        for seed in range(5):
            batch = cold_start_batch(x, np.arange(200), np.array([], dtype=np.int64), 10,
                                     rng=np.random.default_rng(seed), proxy_probas=proxy)
            assert set(y[batch]) == {0, 1}

    def test_without_proxy_takes_cluster_representatives(self) -> None:
        x, cluster = _separated_clusters(5, 30)
        batch = cold_start_batch(x, np.arange(150), np.array([], dtype=np.int64), 5,
                                 rng=np.random.default_rng(0))
        assert sorted(cluster[batch]) == list(range(5))

    def test_llm_failures_are_filled_from_clusters(self) -> None:
        x, _ = blobs(100, n_classes=2, seed=5)
        proxy = np.full((100, 2), np.nan)
        proxy[:3] = [[0.9, 0.1]] * 3  # the LLM answered for three items only
        batch = cold_start_batch(x, np.arange(100), np.array([], dtype=np.int64), 10,
                                 rng=np.random.default_rng(0), proxy_probas=proxy)
        assert batch.size == 10 and np.unique(batch).size == 10
        assert set(range(3)) <= set(batch.tolist())

    def test_proxy_of_the_wrong_shape(self) -> None:
        x, _ = blobs(50, seed=6)
        with pytest.raises(SelectionInputError, match="rows"):
            cold_start_batch(x, np.arange(50), np.array([], dtype=np.int64), 5,
                             rng=np.random.default_rng(0), proxy_probas=np.full((10, 3), 1 / 3))


def test_disagreement_counts_only_while_the_llm_leads() -> None:
    from labelloop.selection.strategies import combined_scores, disagreement_share

    rng = np.random.default_rng(0)
    x, _ = blobs(50, seed=7)
    probas = rng.dirichlet(np.ones(3), size=50)
    llm = rng.dirichlet(np.ones(3), size=50)
    opts = StrategyOptions(disagreement_share=0.5)
    behind = PoolData(x, probas=probas, llm_probas=llm, llm_lead=0.0)
    ahead = PoolData(x, probas=probas, llm_probas=llm, llm_lead=0.6)
    assert disagreement_share(behind, options=opts) == 0.0
    assert disagreement_share(ahead, options=opts) == pytest.approx(0.5 * 0.6)
    alone = PoolData(x, probas=probas)
    np.testing.assert_allclose(combined_scores(behind, options=opts),
                               combined_scores(alone, options=opts))
    assert not np.allclose(combined_scores(ahead, options=opts),
                           combined_scores(alone, options=opts))
