"""One contract, every strategy: the same tests run against each selection function
(small-text's mixin idea, as a parametrised fixture)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.selection.helpers import pool_data

from labelloop.errors import InvalidInput
from labelloop.selection import (
    STRATEGY_NAMES,
    InvalidArgumentType,
    InvalidBatchSize,
    InvalidEmbeddings,
    InvalidIndices,
    InvalidProbabilities,
    PoolData,
    cold_start_batch,
    get_strategy,
    rank_pool,
)

Select = Callable[..., np.ndarray]


def _cold_start(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int, *,
                rng: np.random.Generator) -> np.ndarray:
    return cold_start_batch(data.embeddings, pool, labeled, batch_size, rng=rng,
                            proxy_probas=data.llm_probas)


def _ranking_batch(name: str) -> Select:
    def select(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int, *,
               rng: np.random.Generator) -> np.ndarray:
        return rank_pool(data, pool, labeled, rng=rng, batch_size=batch_size,
                         strategy=name).batch  # type: ignore[arg-type]
    return select


SELECTORS: dict[str, Select] = {name: get_strategy(name) for name in STRATEGY_NAMES}
SELECTORS["cold_start"] = _cold_start
SELECTORS.update({f"rank_pool[{n}]": _ranking_batch(n) for n in ("default", "committee")})


@pytest.fixture(params=sorted(SELECTORS))
def select(request: pytest.FixtureRequest) -> Select:
    return SELECTORS[request.param]


def _split(n_items: int, n_labeled: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n_items)
    return perm[n_labeled:], perm[:n_labeled]


class TestContract:
    def test_returns_batch_size_distinct_pool_positions(self, select: Select) -> None:
        data = pool_data(80)
        pool, labeled = _split(80, 15)
        batch = select(data, pool, labeled, 12, rng=np.random.default_rng(0))
        assert batch.dtype.kind == "i"
        assert batch.shape == (12,)
        assert np.unique(batch).size == 12
        assert set(batch.tolist()) <= set(pool.tolist())

    def test_never_selects_a_labeled_item(self, select: Select) -> None:
        data = pool_data(50)
        pool, labeled = _split(50, 30, seed=3)
        for seed in range(5):
            batch = select(data, pool, labeled, 10, rng=np.random.default_rng(seed))
            assert not set(batch.tolist()) & set(labeled.tolist())

    def test_whole_pool_when_smaller_than_batch(self, select: Select) -> None:
        data = pool_data(40)
        pool, labeled = _split(40, 33)
        batch = select(data, pool, labeled, 20, rng=np.random.default_rng(0))
        assert sorted(batch.tolist()) == sorted(pool.tolist())

    def test_empty_pool_gives_empty_batch(self, select: Select) -> None:
        data = pool_data(20)
        batch = select(data, np.array([], dtype=np.int64), np.arange(20), 5,
                       rng=np.random.default_rng(0))
        assert batch.size == 0

    def test_deterministic_under_a_seeded_generator(self, select: Select) -> None:
        data = pool_data(120, llm_nan_every=7)
        pool, labeled = _split(120, 10)
        a = select(data, pool, labeled, 15, rng=np.random.default_rng(42))
        b = select(data, pool, labeled, 15, rng=np.random.default_rng(42))
        np.testing.assert_array_equal(a, b)

    @pytest.mark.parametrize("batch_size, error", [
        (0, InvalidBatchSize), (-3, InvalidBatchSize), (2.5, InvalidArgumentType),
        (True, InvalidArgumentType)])
    def test_bad_batch_size(self, select: Select, batch_size: object, error: type) -> None:
        data = pool_data(30)
        pool, labeled = _split(30, 5)
        with pytest.raises(error):
            select(data, pool, labeled, batch_size, rng=np.random.default_rng(0))

    @pytest.mark.parametrize("case", ["out_of_range", "negative", "repeated", "overlap",
                                      "float_positions"])
    def test_bad_indices(self, select: Select, case: str) -> None:
        data = pool_data(30)
        pool, labeled = _split(30, 5)
        if case == "out_of_range":
            pool = np.append(pool, 30)
        elif case == "negative":
            pool = np.append(pool, -1)
        elif case == "repeated":
            pool = np.append(pool, pool[0])
        elif case == "overlap":
            pool = np.append(pool, labeled[0])
        error = InvalidArgumentType if case == "float_positions" else InvalidIndices
        if case == "float_positions":
            pool = pool.astype(float)
        with pytest.raises(error) as info:
            select(data, pool, labeled, 5, rng=np.random.default_rng(0))
        assert isinstance(info.value, InvalidInput)
        assert info.value.message  # says what is wrong

    def test_embeddings_of_the_wrong_shape(self, select: Select) -> None:
        data = pool_data(30)
        bad = PoolData(data.embeddings[:, :, None], probas=data.probas,
                       llm_probas=data.llm_probas)
        pool, labeled = _split(30, 5)
        with pytest.raises(InvalidEmbeddings):
            select(bad, pool, labeled, 5, rng=np.random.default_rng(0))


MODEL_BASED = ["uncertainty", "committee", "default"]


@pytest.mark.parametrize("name", MODEL_BASED)
def test_probabilities_that_are_not_distributions(name: str) -> None:
    data = pool_data(30)
    pool, labeled = _split(30, 5)
    probas = data.probas.copy()
    probas[3] = [0.9, 0.9, 0.9]
    bad = PoolData(data.embeddings, probas=probas, llm_probas=data.llm_probas)
    with pytest.raises(InvalidProbabilities, match="sum to 1"):
        get_strategy(name)(bad, pool, labeled, 5, rng=np.random.default_rng(0))


@pytest.mark.parametrize("name", MODEL_BASED)
def test_probabilities_with_the_wrong_number_of_rows(name: str) -> None:
    data = pool_data(30)
    pool, labeled = _split(30, 5)
    bad = PoolData(data.embeddings, probas=data.probas[:20], llm_probas=None)
    with pytest.raises(InvalidProbabilities, match="rows"):
        get_strategy(name)(bad, pool, labeled, 5, rng=np.random.default_rng(0))


@pytest.mark.parametrize("name", MODEL_BASED)
def test_model_based_strategies_need_the_model(name: str) -> None:
    data = PoolData(pool_data(30).embeddings)
    with pytest.raises(InvalidProbabilities, match="local model"):
        get_strategy(name)(data, np.arange(30), np.array([], dtype=np.int64), 5,
                           rng=np.random.default_rng(0))


@settings(max_examples=40, deadline=None)
@given(n_items=st.integers(2, 60), labeled_share=st.floats(0.0, 0.95),
       batch_size=st.integers(1, 70), seed=st.integers(0, 2**16),
       name=st.sampled_from(sorted(SELECTORS)))
def test_batch_is_a_subset_of_the_pool_property(n_items: int, labeled_share: float,
                                                batch_size: int, seed: int, name: str) -> None:
    data = pool_data(n_items, seed=seed % 7, llm_nan_every=3)
    pool, labeled = _split(n_items, int(labeled_share * n_items), seed=seed)
    batch = SELECTORS[name](data, pool, labeled, batch_size, rng=np.random.default_rng(seed))
    assert np.unique(batch).size == batch.size == min(batch_size, pool.size)
    assert np.isin(batch, pool).all()
