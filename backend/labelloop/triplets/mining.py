"""Which triplets to ask about: an anchor and two candidates, "which one is closer?".

A judgement on a triplet teaches the encoder most where it cannot tell the answer itself: the
anchor's cosine similarities to the two candidates are nearly equal. :func:`mine_hard_triplets`
looks for such triplets among each anchor's nearest neighbours (hard negatives live there: an
item that looks close but is not), scores each candidate pair by how close the two similarities
are (:attr:`MinedTriplet.hardness`), and picks anchors in turn — every anchor's hardest pair
before any anchor's second — so that one dense region does not take the whole batch.
:func:`random_triplets` is the baseline it is measured against.

A judged triplet is ``"first"`` (the first candidate is closer), ``"second"`` or ``"tie"``
(both or neither are similar: nothing to learn); :func:`training_triplets` turns judgements
into ``(anchor, positive, negative)`` positions for :mod:`labelloop.triplets.finetune`.

Positions are rows of the arrays passed in; corpus or task ids appear only at the storage
boundary. Randomness (tie-breaking, which candidate is shown first) comes from ``rng``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal, get_args

import numpy as np

from labelloop.errors import InvalidInput

Judgement = Literal["first", "second", "tie"]
JUDGEMENTS: tuple[str, ...] = get_args(Judgement)
_CHUNK = 256  # anchors per similarity block: 256 x n_items floats at a time


@dataclass(frozen=True)
class Triplet:
    """Positions into a corpus: an anchor and two candidates, all distinct."""

    anchor: int
    first: int
    second: int

    def __post_init__(self) -> None:
        if min(self.anchor, self.first, self.second) < 0:
            raise InvalidInput(f"triplet positions must be >= 0: {self}")
        if len({self.anchor, self.first, self.second}) != 3:
            raise InvalidInput(f"a triplet needs three distinct items: {self}")

    @property
    def key(self) -> tuple[int, int, int]:
        """The same for both candidate orders: (anchor, smaller candidate, larger one)."""
        return (self.anchor, min(self.first, self.second), max(self.first, self.second))


@dataclass(frozen=True)
class MinedTriplet:
    """A mined triplet and its hardness in [0, 1]: ``1 - |cos(a, first) - cos(a, second)| /
    2``, 1 when the encoder cannot tell which candidate is closer."""

    triplet: Triplet
    hardness: float


def _keys(exclude: Collection[Triplet]) -> set[tuple[int, int, int]]:
    return {t.key for t in exclude}


def _check_count(n: int) -> None:
    if n < 0:
        raise InvalidInput(f"n must be >= 0, got {n}")


def _ordered(anchor: int, a: int, b: int, rng: np.random.Generator) -> Triplet:
    """The two candidates in a random order, so the position says nothing about closeness."""
    return Triplet(anchor, a, b) if rng.random() < 0.5 else Triplet(anchor, b, a)


def mine_hard_triplets(embeddings: np.ndarray, n: int, *, rng: np.random.Generator,
                       neighbours: int = 10, anchors: np.ndarray | None = None,
                       exclude: Collection[Triplet] = (),
                       spread: float = 0.0) -> list[MinedTriplet]:
    """Up to ``n`` triplets the encoder is least sure about, hardest first within each turn.

    ``embeddings``: ``(n_items, d)``, L2-normalised rows. Candidates of an anchor are two of its
    ``neighbours`` nearest other items (cosine); its pairs are ranked by the gap between the
    two similarities plus ``spread`` times the candidates' own cosine (smallest first, ties
    broken at random): with ``spread > 0``, two candidates unlike each other are preferred —
    near-duplicates are usually both similar or both not, a tie that teaches nothing. Anchors (``anchors``: positions,
    default every item) take turns: the first turn gives each anchor's hardest pair, anchors
    ordered by that pair's hardness; the next turn each one's second, and so on. Never a
    triplet of ``exclude`` (in either candidate order), never two equal up to candidate order;
    fewer than ``n`` when the neighbourhoods run out."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"embeddings must be (n_items, d), got shape {x.shape}")
    _check_count(n)
    if neighbours < 2 or spread < 0:
        raise InvalidInput(f"neighbours must be >= 2 and spread >= 0, got {neighbours}, "
                           f"{spread}")
    n_items = x.shape[0]
    anchor_pos: np.ndarray
    if anchors is None:
        anchor_pos = np.arange(n_items)
    else:
        anchor_pos = np.unique(np.asarray(anchors, dtype=np.int64))
        if anchor_pos.size and (anchor_pos[0] < 0 or anchor_pos[-1] >= n_items):
            raise InvalidInput(f"anchors must be positions in [0, {n_items})")
    m = min(neighbours, n_items - 1)
    if n == 0 or m < 2 or anchor_pos.size == 0:
        return []
    taken = _keys(exclude)
    # per anchor: its candidate pairs sorted by score: (anchor, scores, gaps, pairs)
    queues: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    pair_i, pair_j = (np.array(v, dtype=np.int64) for v in zip(*combinations(range(m), 2),
                                                                strict=True))
    for start in range(0, anchor_pos.size, _CHUNK):
        block = anchor_pos[start:start + _CHUNK]
        sims = x[block] @ x.T
        sims[np.arange(block.size), block] = -np.inf
        near = np.argpartition(-sims, m - 1, axis=1)[:, :m]
        near_sims = np.take_along_axis(sims, near, axis=1)
        gaps = np.abs(near_sims[:, pair_i] - near_sims[:, pair_j])
        scores = gaps
        if spread > 0:
            vectors = x[near]  # (anchors, m, d)
            between = np.einsum("bid,bjd->bij", vectors, vectors)[:, pair_i, pair_j]
            scores = gaps + spread * between
        for row, anchor in enumerate(block.tolist()):
            order = np.lexsort((rng.random(gaps.shape[1]), scores[row]))
            pairs = np.stack([near[row, pair_i[order]], near[row, pair_j[order]]], axis=1)
            queues.append((anchor, scores[row, order], gaps[row, order], pairs))
    out: list[MinedTriplet] = []
    chosen: set[tuple[int, int, int]] = set()
    cursor = [0] * len(queues)
    while len(out) < n:
        turn: list[tuple[float, float, float, int, int, int]] = []  # score, tiebreak, gap, ...
        for q, (anchor, scores_q, gaps_q, pairs_q) in enumerate(queues):
            while cursor[q] < gaps_q.size:
                a, b = (int(v) for v in pairs_q[cursor[q]])
                score, gap = float(scores_q[cursor[q]]), float(gaps_q[cursor[q]])
                cursor[q] += 1
                key = (anchor, min(a, b), max(a, b))
                if key not in taken and key not in chosen:
                    turn.append((score, float(rng.random()), gap, anchor, a, b))
                    chosen.add(key)
                    break
        if not turn:
            break
        turn.sort()
        for _, _, gap, anchor, a, b in turn[:n - len(out)]:
            out.append(MinedTriplet(_ordered(anchor, a, b, rng), max(0.0, 1.0 - gap / 2.0)))
    return out


def random_triplets(n_items: int, n: int, *, rng: np.random.Generator,
                    exclude: Collection[Triplet] = ()) -> list[Triplet]:
    """Up to ``n`` triplets drawn uniformly (anchor, then two other distinct items), never one
    of ``exclude`` (either candidate order), never two equal up to candidate order; fewer only
    when the corpus has fewer such triplets left."""
    _check_count(n)
    if n_items < 3 or n == 0:
        return []
    taken = _keys(exclude)
    total = n_items * (n_items - 1) * (n_items - 2) // 2
    if total - len(taken) <= 4 * n:  # a small corpus: list what is left and draw from it
        left = [(a, b, c) for a in range(n_items)
                for b, c in combinations([i for i in range(n_items) if i != a], 2)
                if (a, b, c) not in taken]
        picks = rng.permutation(len(left))[:n]
        return [_ordered(left[i][0], left[i][1], left[i][2], rng) for i in picks.tolist()]
    out: list[Triplet] = []
    chosen: set[tuple[int, int, int]] = set()
    while len(out) < n:
        a = int(rng.integers(n_items))
        b, c = (int(v) for v in rng.choice(n_items - 1, size=2, replace=False))
        b, c = b + (b >= a), c + (c >= a)  # skip the anchor
        key = (a, min(b, c), max(b, c))
        if key in taken or key in chosen:
            continue
        chosen.add(key)
        out.append(Triplet(a, b, c))
    return out


def training_triplets(triplets: Sequence[Triplet],
                      judgements: Sequence[Judgement]) -> list[tuple[int, int, int]]:
    """``(anchor, positive, negative)`` per triplet judged ``"first"`` or ``"second"``; ties
    teach nothing and are dropped."""
    if len(triplets) != len(judgements):
        raise InvalidInput(f"{len(triplets)} triplets but {len(judgements)} judgements")
    out: list[tuple[int, int, int]] = []
    for t, j in zip(triplets, judgements, strict=True):
        if j == "first":
            out.append((t.anchor, t.first, t.second))
        elif j == "second":
            out.append((t.anchor, t.second, t.first))
        elif j != "tie":
            raise InvalidInput(f"a judgement is one of {JUDGEMENTS}, got {j!r}")
    return out
