"""The full pool ranking that the service publishes to Label Studio."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tests.selection.helpers import pool_data

from labelloop.selection import (
    STRATEGY_NAMES,
    PoolData,
    SelectionInputError,
    get_strategy,
    rank_pool,
)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_ranking_orders_the_whole_pool_with_the_batch_first(strategy: str) -> None:
    data = pool_data(200, llm_nan_every=5)
    labeled = np.arange(0, 200, 4)
    pool = np.setdiff1d(np.arange(200), labeled)
    r = rank_pool(data, pool, labeled, rng=np.random.default_rng(0), batch_size=20,
                  strategy=strategy, label_counts=np.array([20, 15, 15]))  # type: ignore[arg-type]
    assert sorted(r.order.tolist()) == pool.tolist()
    np.testing.assert_array_equal(r.order[:20], r.batch)
    assert (np.diff(r.scores) > 0).all() and r.scores[0] >= 0 and r.scores[-1] < 1
    assert r.phase == "active"
    direct = get_strategy(strategy)(data, pool, labeled, 20, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(r.batch, direct)


def test_tail_follows_the_strategy_priority() -> None:
    data = pool_data(300, llm=False)
    r = rank_pool(data, np.arange(300), np.array([], dtype=np.int64),
                  rng=np.random.default_rng(0), batch_size=10, strategy="uncertainty")
    margin = 1 - np.diff(np.sort(data.probas, axis=1)[:, -2:], axis=1)[:, 0]
    tail = r.order[10:]
    assert (np.diff(margin[tail]) <= 1e-12).all()
    assert margin[r.batch].min() >= margin[tail].max() - 1e-12


def test_cold_start_while_few_labels() -> None:
    data = pool_data(300)
    r = rank_pool(data, np.arange(1, 300), np.array([0]), rng=np.random.default_rng(0),
                  batch_size=12, label_counts=np.array([1, 0, 0]))
    assert r.phase == "cold_start"
    proxy_classes = np.argmax(data.llm_probas[r.batch], axis=1)
    assert len(set(proxy_classes.tolist())) == 3  # balanced by the LLM's labels


def test_without_a_model_model_strategies_cold_start() -> None:
    data = PoolData(pool_data(100).embeddings)
    r = rank_pool(data, np.arange(100), np.array([], dtype=np.int64),
                  rng=np.random.default_rng(0), batch_size=10, strategy="committee")
    assert r.phase == "cold_start" and r.batch.size == 10
    assert any("proxy" in n for n in r.notes)


def test_committee_without_llm_says_so() -> None:
    data = pool_data(100, llm=False)
    r = rank_pool(data, np.arange(100), np.array([], dtype=np.int64),
                  rng=np.random.default_rng(0), batch_size=10, strategy="committee")
    assert any("without an LLM" in n for n in r.notes)


def test_score_of_maps_positions_to_scores() -> None:
    data = pool_data(30)
    r = rank_pool(data, np.arange(30), np.array([], dtype=np.int64),
                  rng=np.random.default_rng(0), batch_size=10)
    scores = r.score_of()
    assert scores[int(r.order[0])] == 0.0 and len(scores) == 30


def test_unknown_strategy() -> None:
    with pytest.raises(SelectionInputError, match="unknown strategy"):
        rank_pool(pool_data(10), np.arange(10), np.array([], dtype=np.int64),
                  rng=np.random.default_rng(0), strategy="smartest")  # type: ignore[arg-type]


@pytest.mark.slow
def test_ranking_100k_items_takes_under_two_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    x = rng.standard_normal((n, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    data = PoolData(x, probas=rng.dirichlet(np.ones(4), size=n),
                    llm_probas=rng.dirichlet(np.ones(4), size=n), llm_weight=0.6)
    labeled = np.arange(2_000)
    pool = np.arange(2_000, n)
    rank_pool(data, pool[:2_000], labeled, rng=rng)  # warm-up: imports, thread pools
    best = min(_timed(data, pool, labeled, seed) for seed in range(3))
    assert best <= 2.0, f"ranking 98k items took {best:.2f} s"


def _timed(data: PoolData, pool: np.ndarray, labeled: np.ndarray, seed: int) -> float:
    t = time.perf_counter()
    r = rank_pool(data, pool, labeled, rng=np.random.default_rng(seed), batch_size=20,
                  label_counts=np.array([500, 500, 500, 500]))
    elapsed = time.perf_counter() - t
    assert r.order.size == pool.size
    return elapsed
