"""Selection for span tasks: the disagreement measure, the LLM proxy, cold start and the ranking."""

from __future__ import annotations

import numpy as np
import pytest
from tests.selection.helpers import blobs

from labelloop.labelconfig.spans import Span
from labelloop.selection import (
    SPAN_STRATEGY_NAMES,
    InvalidProbabilities,
    InvalidWeights,
    SelectionInputError,
    llm_span_proxy,
    needs_span_cold_start,
    rank_span_pool,
    span_disagreement,
)

A, B, C = Span(0, 5, "PER"), Span(6, 11, "LOC"), Span(12, 15, "ORG")


# --- span_disagreement ----------------------------------------------------------------------

def test_disagreement_is_zero_when_the_sets_are_equal() -> None:
    llm = [[A, B], [], [C]]
    model = [[B, A], [], [C]]  # order does not matter
    assert span_disagreement(llm, model, trust=0.8).tolist() == [0.0, 0.0, 0.0]


def test_disagreement_is_trust_when_the_sets_are_disjoint() -> None:
    llm = [[A], [], [A, B]]
    model = [[B], [C], []]
    out = span_disagreement(llm, model, trust=0.7)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [0.7, 0.7, 0.7])


def test_disagreement_is_one_minus_exact_f1_and_scales_with_trust() -> None:
    # one of two spans matched, the other off by one character: F1 = 2*1 / (2*1 + 1 + 1) = 0.5
    llm = [[A, B]]
    model = [[A, Span(6, 10, "LOC")]]
    np.testing.assert_allclose(span_disagreement(llm, model), [0.5])
    np.testing.assert_allclose(span_disagreement(llm, model, trust=0.4), [0.2])
    # a label change is a disagreement too
    np.testing.assert_allclose(span_disagreement([[A]], [[Span(0, 5, "LOC")]]), [1.0])


def test_no_llm_answer_is_no_disagreement() -> None:
    out = span_disagreement([None, [A]], [[B], [B]], trust=1.0)
    assert out.tolist() == [0.0, 1.0]


def test_disagreement_checks_its_inputs() -> None:
    with pytest.raises(SelectionInputError):
        span_disagreement([[A]], [[A], [B]])
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidWeights):
            span_disagreement([[A]], [[A]], trust=bad)


def test_llm_span_proxy() -> None:
    out = llm_span_proxy([[A, B, Span(20, 22, "PER")], [], None], ["LOC", "PER"])
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out[0], [0.0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(out[1], [1.0, 0.0, 0.0])
    assert np.isnan(out[2]).all()


def test_needs_span_cold_start() -> None:
    assert needs_span_cold_start(0) and needs_span_cold_start(4, min_labeled=5)
    assert not needs_span_cold_start(5, min_labeled=5)
    assert not needs_span_cold_start(0, min_labeled=0)
    with pytest.raises(SelectionInputError):
        needs_span_cold_start(-1)


# --- rank_span_pool ------------------------------------------------------------------------

N = 80


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, _ = blobs(N, n_classes=4, seed=seed)
    rng = np.random.default_rng(seed + 10)
    labeled = np.arange(10)
    pool = np.arange(10, N)
    return x, pool, labeled, rng.random(N), rng.random(N)


@pytest.mark.parametrize("strategy", SPAN_STRATEGY_NAMES)
def test_ranking_is_a_permutation_of_the_pool_batch_first(strategy: str) -> None:
    x, pool, labeled, u, d = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d,
                       rng=np.random.default_rng(0), batch_size=12, strategy=strategy)  # type: ignore[arg-type]
    assert sorted(r.order.tolist()) == pool.tolist()
    assert r.batch.size == 12 and r.order[:12].tolist() == r.batch.tolist()
    assert np.all(np.diff(r.scores) > 0) and r.scores.shape == r.order.shape
    assert r.phase == "active" and r.strategy == strategy


@pytest.mark.parametrize("strategy", SPAN_STRATEGY_NAMES)
def test_ranking_is_deterministic_for_a_seed(strategy: str) -> None:
    x, pool, labeled, u, d = _inputs()
    runs = [rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d,
                           rng=np.random.default_rng(7), batch_size=10, strategy=strategy)  # type: ignore[arg-type]
            for _ in range(2)]
    assert runs[0].order.tolist() == runs[1].order.tolist()


def test_uncertainty_takes_the_most_uncertain_first() -> None:
    x, pool, labeled, u, _ = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=None,
                       rng=np.random.default_rng(0), batch_size=5, strategy="uncertainty")
    best = pool[np.argsort(-u[pool])]
    assert r.order.tolist() == best.tolist()


def test_disagreement_strategy_follows_the_disagreement() -> None:
    x, pool, labeled, u, d = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d,
                       rng=np.random.default_rng(0), batch_size=5, strategy="disagreement")
    assert r.batch.tolist() == pool[np.argsort(-d[pool])][:5].tolist()
    no_llm = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=None,
                            rng=np.random.default_rng(0), batch_size=5, strategy="disagreement")
    assert no_llm.batch.tolist() == pool[np.argsort(-u[pool])][:5].tolist()
    assert any("uncertainty alone" in n for n in no_llm.notes)


def test_default_picks_from_the_top_of_the_combined_score_and_spreads_the_batch() -> None:
    x, pool, labeled, u, d = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d,
                       rng=np.random.default_rng(0), batch_size=8, strategy="default")
    combined = 0.5 * u + 0.5 * d
    shortlist = set(pool[np.argsort(-combined[pool])][:24].tolist())
    assert set(r.batch.tolist()) <= shortlist
    assert np.all(np.diff(combined[r.batch]) <= 0)  # the batch is ordered by its score


def test_default_batch_holds_no_near_duplicates() -> None:
    # 12 copies of one sentence with the top uncertainty, the rest spread out: uncertainty
    # alone takes copies only; the default's shortlist (3 batches) holds the 12 copies too, but
    # it takes one task per k-means cluster of the shortlist: one copy
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, 8)).astype(np.float32)
    x[:12] = x[0]
    u = rng.uniform(0.0, 0.5, N)
    u[:12] = 0.9
    pool = np.arange(N)
    top = rank_span_pool(x, pool, np.zeros(0, dtype=np.int64), uncertainty=u, disagreement=None,
                         rng=np.random.default_rng(0), batch_size=10, strategy="uncertainty")
    assert (top.batch < 12).all()
    r = rank_span_pool(x, pool, np.zeros(0, dtype=np.int64), uncertainty=u, disagreement=None,
                       rng=np.random.default_rng(0), batch_size=10, strategy="default")
    assert (r.batch < 12).sum() == 1


def test_diversity_takes_tasks_far_from_the_labeled_ones() -> None:
    x, pool, labeled, u, d = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d,
                       rng=np.random.default_rng(0), batch_size=1, strategy="diversity")
    dist = ((x[pool][:, None, :] - x[labeled][None, :, :]) ** 2).sum(-1).min(axis=1)
    assert r.batch[0] == pool[np.argmax(dist)]


def test_cold_start_covers_the_clusters() -> None:
    x, y = blobs(N, n_classes=4, seed=1, spread=0.05)
    pool = np.arange(N)
    for kwargs in ({"cold": True, "uncertainty": np.full(N, 0.5)}, {"uncertainty": None}):
        r = rank_span_pool(x, pool, np.zeros(0, dtype=np.int64), disagreement=None,
                           rng=np.random.default_rng(0), batch_size=4, strategy="default",
                           **kwargs)
        assert r.phase == "cold_start"
        assert sorted(y[r.batch].tolist()) == [0, 1, 2, 3]  # one per cluster


def test_cold_start_balances_over_the_llm_entity_types() -> None:
    x, _ = blobs(N, n_classes=2, seed=2)
    llm: list[list[Span] | None] = [[] for _ in range(N)]
    for i in range(0, N, 10):  # only 8 tasks hold a LOC entity, per the LLM
        llm[i] = [Span(0, 3, "LOC")]
    proxy = llm_span_proxy(llm, ["LOC"])
    r = rank_span_pool(x, np.arange(N), np.zeros(0, dtype=np.int64), uncertainty=None,
                       disagreement=None, rng=np.random.default_rng(0), batch_size=6,
                       strategy="default", proxy=proxy)
    assert sum(i % 10 == 0 for i in r.batch.tolist()) == 3  # half the batch, not 8 / 80 of it


def test_random_ignores_scores_and_cold() -> None:
    x, pool, labeled, _, _ = _inputs()
    r = rank_span_pool(x, pool, labeled, uncertainty=None, disagreement=None,
                       rng=np.random.default_rng(0), batch_size=5, strategy="random", cold=True)
    assert r.phase == "active" and sorted(r.order.tolist()) == pool.tolist()


def test_small_pool_is_all_batch() -> None:
    x, _, _, u, d = _inputs()
    pool = np.array([3, 40, 41])
    for strategy in SPAN_STRATEGY_NAMES:
        r = rank_span_pool(x, pool, np.arange(3), uncertainty=u, disagreement=d,
                           rng=np.random.default_rng(0), batch_size=10, strategy=strategy)
        assert sorted(r.batch.tolist()) == [3, 40, 41]


def test_ranking_checks_its_inputs() -> None:
    x, pool, labeled, u, d = _inputs()
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidProbabilities):
        rank_span_pool(x, pool, labeled, uncertainty=u[:-1], disagreement=None, rng=rng)
    with pytest.raises(InvalidProbabilities):
        rank_span_pool(x, pool, labeled, uncertainty=u + 1.0, disagreement=None, rng=rng)
    with pytest.raises(InvalidProbabilities):
        rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=np.full(N, np.nan), rng=rng)
    with pytest.raises(SelectionInputError):
        rank_span_pool(x, pool, labeled, uncertainty=u, disagreement=d, rng=rng,
                       strategy="committee")  # type: ignore[arg-type]
    with pytest.raises(SelectionInputError):
        rank_span_pool(x, np.arange(N), labeled, uncertainty=u, disagreement=d, rng=rng)
