"""The typicality selector (issue 16): TypiClust-like low-budget picks, and its use as the
cold start without an LLM. The strategy contract (tests/selection/test_strategy_contract.py)
covers it as the ``typicality`` strategy too."""

from __future__ import annotations

import numpy as np
import pytest
from tests.selection.helpers import pool_data

from labelloop.selection import (
    ColdStartOptions,
    InvalidArgumentType,
    InvalidBatchSize,
    InvalidEmbeddings,
    InvalidIndices,
    PoolData,
    SelectionInputError,
    needs_cold_start,
    rank_pool,
)
from labelloop.selection.cold_start import typical_seeds
from labelloop.selection.typicality import (
    TypicalityOptions,
    typicality_batch,
    typicality_scores,
)

SIZES = (60, 45, 30, 20, 12)  # five well separated blobs, largest first


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 20.0 * np.eye(len(SIZES), 8)
    y = np.repeat(np.arange(len(SIZES)), SIZES)
    x = centres[y] + rng.standard_normal((y.size, 8))
    return x.astype(np.float32), y


def _all(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n), np.zeros(0, dtype=np.int64)


class TestScores:
    def test_known_values(self) -> None:
        x = np.array([[0.0], [1.0], [2.0], [10.0]])
        s = typicality_scores(x, neighbours=1)
        np.testing.assert_allclose(s, [1.0, 1.0, 1.0, 1 / 8], rtol=1e-9)

    def test_neighbours_beyond_the_rows_use_all_of_them(self) -> None:
        x = np.array([[0.0], [1.0], [3.0]])
        np.testing.assert_allclose(typicality_scores(x, neighbours=10),
                                   [1 / 2, 1 / 1.5, 1 / 2.5], rtol=1e-9)

    def test_the_centre_of_a_blob_is_most_typical(self) -> None:
        rng = np.random.default_rng(0)
        x = np.vstack([np.zeros((1, 4)), rng.standard_normal((200, 4))])
        s = typicality_scores(x, neighbours=20)
        assert s[0] >= np.quantile(s, 0.95)

    def test_a_single_row_scores_zero_and_bad_neighbours_raise(self) -> None:
        assert typicality_scores(np.ones((1, 3))).tolist() == [0.0]
        with pytest.raises(SelectionInputError):
            typicality_scores(np.ones((3, 3)), neighbours=0)


class TestBatch:
    def test_picks_are_distinct_unlabelled_pool_items(self) -> None:
        x, _ = _blobs()
        perm = np.random.default_rng(1).permutation(len(x))
        pool, labeled = perm[20:], perm[:20]
        b = typicality_batch(x, pool, labeled, 15, rng=np.random.default_rng(0))
        assert b.dtype.kind == "i" and b.size == 15 and np.unique(b).size == 15
        assert set(b.tolist()) <= set(pool.tolist())

    def test_deterministic_under_a_seed(self) -> None:
        x, _ = _blobs()
        pool, labeled = _all(len(x))
        a = typicality_batch(x, pool, labeled, 7, rng=np.random.default_rng(5))
        b = typicality_batch(x, pool, labeled, 7, rng=np.random.default_rng(5))
        assert a.tolist() == b.tolist()

    def test_covers_every_cluster_first_largest_first(self) -> None:
        x, y = _blobs()
        for seed in range(5):
            b = typicality_batch(x, *_all(len(x)), len(SIZES), rng=np.random.default_rng(seed))
            assert y[b].tolist() == list(range(len(SIZES)))  # one per blob, biggest first

    def test_clusters_a_label_covers_come_last(self) -> None:
        x, y = _blobs()
        labeled = np.array([np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]])  # covered
        pool = np.setdiff1d(np.arange(len(x)), labeled)
        b = typicality_batch(x, pool, labeled, 3, rng=np.random.default_rng(0))
        assert sorted(y[b].tolist()) == [2, 3, 4]

    def test_each_pick_is_the_most_typical_of_its_blob(self) -> None:
        x, y = _blobs()
        b = typicality_batch(x, *_all(len(x)), len(SIZES), rng=np.random.default_rng(0))
        for i in b:
            members = np.flatnonzero(y == y[i])
            s = typicality_scores(x[members], neighbours=20)
            assert members[np.argmax(s)] == i

    def test_invariant_to_the_order_of_the_items(self) -> None:
        x, _ = _blobs()
        perm = np.random.default_rng(3).permutation(len(x))
        b = typicality_batch(x, *_all(len(x)), len(SIZES), rng=np.random.default_rng(0))
        bp = typicality_batch(x[perm], *_all(len(x)), len(SIZES), rng=np.random.default_rng(0))
        assert sorted(perm[bp].tolist()) == sorted(b.tolist())

    def test_more_picks_than_clusters_cycle_over_the_clusters(self) -> None:
        x, y = _blobs()
        b = typicality_batch(x, *_all(len(x)), 10, rng=np.random.default_rng(0),
                             options=TypicalityOptions(max_clusters=len(SIZES)))
        assert np.bincount(y[b], minlength=len(SIZES)).tolist() == [2] * len(SIZES)

    def test_whole_pool_when_smaller_than_the_batch(self) -> None:
        x, _ = _blobs()
        pool, labeled = np.arange(4), np.arange(4, len(x))
        b = typicality_batch(x, pool, labeled, 10, rng=np.random.default_rng(0))
        assert sorted(b.tolist()) == [0, 1, 2, 3]

    def test_large_pool_is_sampled(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((100_000, 32)).astype(np.float32)
        pool, labeled = np.arange(500, 100_000), np.arange(500)
        b = typicality_batch(x, pool, labeled, 20, rng=np.random.default_rng(0),
                             options=TypicalityOptions(max_points=2_000))
        assert b.size == 20 and np.unique(b).size == 20 and b.min() >= 500

    @pytest.mark.parametrize(("case", "error"), [
        ("nan", InvalidEmbeddings), ("overlap", InvalidIndices), ("float", InvalidArgumentType),
        ("batch", InvalidBatchSize), ("options", SelectionInputError)])
    def test_bad_input(self, case: str, error: type[Exception]) -> None:
        x, _ = _blobs()
        pool, labeled, n = np.arange(10, len(x)), np.arange(10), 5
        opts = TypicalityOptions()
        if case == "nan":
            x = x.copy()
            x[3, 0] = np.nan
        elif case == "overlap":
            labeled = np.arange(11)
        elif case == "float":
            pool = pool.astype(float)
        elif case == "batch":
            n = 0
        else:
            opts = TypicalityOptions(neighbours=0)
        with pytest.raises(error):
            typicality_batch(x, pool, labeled, n, rng=np.random.default_rng(0), options=opts)


class TestColdStartRule:
    def test_labels_per_class_ends_the_cold_start_early(self) -> None:
        opts = ColdStartOptions(min_per_class=3, labels_per_class=4)
        counts = np.array([10, 10, 10, 8, 0, 0, 1, 0, 0, 0])  # 39 labels, 10 classes
        assert needs_cold_start(counts, options=opts)
        assert not needs_cold_start(counts + np.eye(10, dtype=int)[4], options=opts)  # 40
        assert needs_cold_start(counts + np.eye(10, dtype=int)[4],
                                options=ColdStartOptions(labels_per_class=None))

    def test_every_class_at_min_per_class_still_ends_it(self) -> None:
        opts = ColdStartOptions(min_per_class=2, labels_per_class=4)
        assert not needs_cold_start(np.array([2, 2, 2]), options=opts)
        assert needs_cold_start(np.array([5, 5, 1]), options=opts)
        with pytest.raises(SelectionInputError):
            needs_cold_start(np.array([1, 1]), options=ColdStartOptions(labels_per_class=0))

    def test_auto_picks_typical_items_without_an_llm_when_the_seed_phase_spans_batches(
            self) -> None:
        x, y = _blobs()
        data = PoolData(x, probas=np.full((len(x), 3), 1 / 3))
        # 3 classes x 3 labels each = 9 > a batch of len(SIZES): several seed batches
        assert 3 * ColdStartOptions().min_per_class > len(SIZES)
        r = rank_pool(data, *_all(len(x)), rng=np.random.default_rng(0),
                      batch_size=len(SIZES), label_counts=np.zeros(3, dtype=int))
        assert r.phase == "cold_start" and any("typical" in n for n in r.notes)
        assert y[r.batch].tolist() == list(range(len(SIZES)))
        # a batch of 9 can finish the seed phase at once: balanced seeds
        one = rank_pool(data, *_all(len(x)), rng=np.random.default_rng(0),
                        batch_size=9, label_counts=np.zeros(3, dtype=int))
        assert one.phase == "cold_start" and not any("typical" in n for n in one.notes)
        proxy = rank_pool(data, *_all(len(x)), rng=np.random.default_rng(0),
                          batch_size=len(SIZES), label_counts=np.zeros(3, dtype=int),
                          cold_start=ColdStartOptions(picks="proxy"))
        assert proxy.phase == "cold_start" and not any("typical" in n for n in proxy.notes)

    def test_typical_seeds_rule(self) -> None:
        # the product's defaults (3 per class, batch 20): 7 classes and more
        assert [k for k in range(2, 12) if typical_seeds(k, 20, llm=False)] == list(range(7, 12))
        assert not typical_seeds(10, 20, llm=True)  # an LLM: balanced by its labels
        assert typical_seeds(2, 20, llm=True, options=ColdStartOptions(picks="typicality"))
        assert not typical_seeds(10, 20, llm=False, options=ColdStartOptions(picks="proxy"))
        assert typical_seeds(3, 20, llm=False, options=ColdStartOptions(min_per_class=7))
        assert not typical_seeds(10, 40, llm=False)

    def test_with_an_llm_auto_keeps_the_balanced_seed_set(self) -> None:
        data = pool_data(300)
        r = rank_pool(data, np.arange(1, 300), np.array([0]), rng=np.random.default_rng(0),
                      batch_size=12, label_counts=np.array([1, 0, 0]))
        assert r.phase == "cold_start" and not any("typical" in n for n in r.notes)
        forced = rank_pool(data, np.arange(1, 300), np.array([0]),
                           rng=np.random.default_rng(0), batch_size=12,
                           label_counts=np.array([1, 0, 0]),
                           cold_start=ColdStartOptions(picks="typicality"))
        assert any("typical" in n for n in forced.notes)
        old = rank_pool(PoolData(data.embeddings, probas=data.probas), np.arange(1, 300),
                        np.array([0]), rng=np.random.default_rng(0), batch_size=12,
                        label_counts=np.array([1, 0, 0]),
                        cold_start=ColdStartOptions(picks="proxy"))
        assert not any("typical" in n for n in old.notes)
        assert len(set(np.argmax(data.probas[old.batch], axis=1).tolist())) == 3
