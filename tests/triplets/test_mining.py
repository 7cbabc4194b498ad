"""Triplet mining (:mod:`labelloop.triplets.mining`): valid, distinct triplets, exclusions
honoured, hard triplets harder than random ones, anchors taking turns, judgements to training
triplets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.errors import InvalidInput
from labelloop.triplets.mining import (
    MinedTriplet,
    Triplet,
    mine_hard_triplets,
    random_triplets,
    training_triplets,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(n_items: int, *, seed: int, d: int = 8, groups: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, d))
    return _unit(centres[rng.integers(groups, size=n_items)] + 0.6 * rng.normal(size=(n_items, d)))


def _gap(x: np.ndarray, t: Triplet) -> float:
    return abs(float(x[t.anchor] @ x[t.first]) - float(x[t.anchor] @ x[t.second]))


def _assert_valid(triplets: list[Triplet], n_items: int) -> None:
    keys = [t.key for t in triplets]
    assert len(set(keys)) == len(keys), "two triplets equal up to candidate order"
    for t in triplets:
        assert len({t.anchor, t.first, t.second}) == 3
        assert 0 <= min(t.key) and max(t.key) < n_items


def test_mined_triplets_are_valid_distinct_and_among_the_neighbours():
    x = _clustered(120, seed=0)
    mined = mine_hard_triplets(x, 80, rng=np.random.default_rng(0), neighbours=6)
    assert len(mined) == 80
    _assert_valid([m.triplet for m in mined], 120)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    for m in mined:
        t = m.triplet
        near = set(np.argsort(-sims[t.anchor])[:6].tolist())
        assert {t.first, t.second} <= near
        assert 0.0 <= m.hardness <= 1.0
        assert m.hardness == pytest.approx(1.0 - _gap(x, t) / 2.0)


def test_anchors_take_turns_and_the_hardest_come_first():
    x = _clustered(60, seed=1)
    mined = mine_hard_triplets(x, 60, rng=np.random.default_rng(1), neighbours=5)
    assert len({m.triplet.anchor for m in mined}) == 60  # one per anchor before any second
    hardness = [m.hardness for m in mined]
    assert hardness == sorted(hardness, reverse=True)
    more = mine_hard_triplets(x, 90, rng=np.random.default_rng(1), neighbours=5)
    counts = np.bincount([m.triplet.anchor for m in more], minlength=60)
    assert counts.min() == 1 and counts.max() == 2


def test_mined_triplets_are_harder_than_random_ones():
    x = _clustered(400, seed=2)
    mined = mine_hard_triplets(x, 100, rng=np.random.default_rng(2))
    rand = random_triplets(400, 100, rng=np.random.default_rng(2))
    mined_gap = np.mean([_gap(x, m.triplet) for m in mined])
    random_gap = np.mean([_gap(x, t) for t in rand])
    assert mined_gap < 0.1 * random_gap, (mined_gap, random_gap)
    # the hardest pair of an anchor is harder than a random pair of its own neighbours
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    for m in mined[:20]:
        near = np.sort(sims[m.triplet.anchor])[::-1][:10]
        assert _gap(x, m.triplet) <= np.abs(near[:, None] - near[None, :])[np.triu_indices(10, 1)].mean()


def test_spread_prefers_candidates_unlike_each_other():
    x = _clustered(300, seed=8)
    plain = mine_hard_triplets(x, 100, rng=np.random.default_rng(8), neighbours=20)
    spread = mine_hard_triplets(x, 100, rng=np.random.default_rng(8), neighbours=20,
                                spread=1.0)

    def between(ms: list[MinedTriplet]) -> float:
        return float(np.mean([x[m.triplet.first] @ x[m.triplet.second] for m in ms]))

    assert between(spread) < between(plain) - 0.05, (between(spread), between(plain))
    _assert_valid([m.triplet for m in spread], 300)
    for m in spread:  # still the anchor's neighbours, hardness still the similarity gap
        assert m.hardness == pytest.approx(1.0 - _gap(x, m.triplet) / 2.0)
    with pytest.raises(InvalidInput):
        mine_hard_triplets(x, 3, rng=np.random.default_rng(0), spread=-1.0)


def test_excluded_triplets_are_never_mined_in_either_order():
    x = _clustered(50, seed=3)
    first = mine_hard_triplets(x, 40, rng=np.random.default_rng(3), neighbours=4)
    flipped = [Triplet(m.triplet.anchor, m.triplet.second, m.triplet.first) for m in first]
    again = mine_hard_triplets(x, 40, rng=np.random.default_rng(3), neighbours=4,
                               exclude=flipped)
    assert len(again) == 40
    assert not {m.triplet.key for m in first} & {m.triplet.key for m in again}


def test_a_small_corpus_gives_fewer_triplets_never_repeats():
    x = _clustered(5, seed=4)
    mined = mine_hard_triplets(x, 100, rng=np.random.default_rng(4), neighbours=10)
    assert len(mined) == 5 * 6  # each anchor: the C(4, 2) pairs of the other four
    _assert_valid([m.triplet for m in mined], 5)
    exclude = [m.triplet for m in mined[:10]]
    assert len(mine_hard_triplets(x, 100, rng=np.random.default_rng(0), exclude=exclude)) == 20
    assert mine_hard_triplets(x[:2], 5, rng=np.random.default_rng(0)) == []
    assert mine_hard_triplets(x, 0, rng=np.random.default_rng(0)) == []


def test_anchors_restrict_where_triplets_start():
    x = _clustered(80, seed=5)
    mined = mine_hard_triplets(x, 30, rng=np.random.default_rng(5), anchors=np.array([3, 7, 11]))
    assert {m.triplet.anchor for m in mined} == {3, 7, 11}
    assert len(mined) == 30
    with pytest.raises(InvalidInput):
        mine_hard_triplets(x, 3, rng=np.random.default_rng(0), anchors=np.array([80]))


def test_candidate_order_is_random_and_mining_is_seeded():
    x = _clustered(100, seed=6)
    a = mine_hard_triplets(x, 50, rng=np.random.default_rng(6))
    b = mine_hard_triplets(x, 50, rng=np.random.default_rng(6))
    assert a == b
    closer_first = [float(x[m.triplet.anchor] @ x[m.triplet.first])
                    > float(x[m.triplet.anchor] @ x[m.triplet.second]) for m in a]
    assert 10 < sum(closer_first) < 40  # the position does not give the answer away
    assert all(isinstance(m, MinedTriplet) for m in a)


@settings(max_examples=40, deadline=None)
@given(n_items=st.integers(3, 12), n=st.integers(0, 40), seed=st.integers(0, 2**16),
       n_excluded=st.integers(0, 30))
def test_random_triplets_are_valid_distinct_and_respect_exclusions(n_items, n, seed,
                                                                    n_excluded):
    rng = np.random.default_rng(seed)
    exclude = random_triplets(n_items, n_excluded, rng=rng)
    out = random_triplets(n_items, n, rng=rng, exclude=exclude)
    _assert_valid(out, n_items)
    assert not {t.key for t in out} & {t.key for t in exclude}
    left = n_items * (n_items - 1) * (n_items - 2) // 2 - len(exclude)
    assert len(out) == min(n, left)


def test_random_triplets_on_a_large_corpus():
    out = random_triplets(10_000, 500, rng=np.random.default_rng(0))
    assert len(out) == 500
    _assert_valid(out, 10_000)
    assert out == random_triplets(10_000, 500, rng=np.random.default_rng(0))
    assert random_triplets(2, 5, rng=np.random.default_rng(0)) == []


def test_judgements_become_anchor_positive_negative_and_ties_are_dropped():
    ts = [Triplet(0, 1, 2), Triplet(3, 4, 5), Triplet(6, 7, 8)]
    assert training_triplets(ts, ["first", "tie", "second"]) == [(0, 1, 2), (6, 8, 7)]
    with pytest.raises(InvalidInput):
        training_triplets(ts, ["first", "second"])
    with pytest.raises(InvalidInput):
        training_triplets(ts[:1], ["closer"])  # type: ignore[list-item]


@pytest.mark.parametrize("args", [(0, 0, 1), (0, 1, 1), (2, 1, 2), (-1, 0, 1)])
def test_a_triplet_needs_three_distinct_positions(args):
    with pytest.raises(InvalidInput):
        Triplet(*args)


def test_bad_arguments_are_refused():
    x = _clustered(10, seed=7)
    with pytest.raises(InvalidInput):
        mine_hard_triplets(x, -1, rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        mine_hard_triplets(x, 3, rng=np.random.default_rng(0), neighbours=1)
    with pytest.raises(InvalidInput):
        mine_hard_triplets(x[0], 3, rng=np.random.default_rng(0))
