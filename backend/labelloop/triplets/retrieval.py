"""Retrieval metrics for an encoder: do an item's nearest neighbours share its group?

Pure functions over embeddings (rows are L2-normalised here, so any vectors do) and integer
group ids. A query is scored against the corpus by cosine similarity, highest first; ties keep
corpus order. With ``exclude_self`` the queries are the corpus itself and an item never
retrieves itself. Queries without any same-group item in the corpus cannot be answered and
are left out of the mean (:class:`InvalidInput` when no query is left).

- :func:`recall_at_k` — ``kind="hit"``: the share of queries with at least one same-group item
  among their ``k`` nearest; ``kind="capped"``: the mean of (same-group items among the ``k``
  nearest) / min(``k``, same-group items in the corpus) — the same as ``"hit"`` when every
  group has one relevant item, and still informative when groups are large (a few classes)
  and ``"hit"`` is near 1 for any encoder.
- :func:`mean_reciprocal_rank` — the mean of 1 / the rank of the first same-group item.
- :func:`triplet_accuracy` — the share of ``(anchor, positive, negative)`` triplets where the
  anchor is closer (cosine) to the positive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np

from labelloop.errors import InvalidInput

_CHUNK = 512  # queries per similarity block


def _unit(x: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 2:
        raise InvalidInput(f"{name} must be (n, d), got shape {v.shape}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def _relevance(queries: np.ndarray, corpus: np.ndarray, query_groups: np.ndarray,
               corpus_groups: np.ndarray, exclude_self: bool
               ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per block of queries: the corpus ranked for each (a boolean "same group" matrix in rank
    order) and each query's number of same-group items."""
    q, c = _unit(queries, "queries"), _unit(corpus, "corpus")
    qg, cg = np.asarray(query_groups), np.asarray(corpus_groups)
    if q.shape[1] != c.shape[1]:
        raise InvalidInput(f"queries have {q.shape[1]} dimensions, the corpus {c.shape[1]}")
    if qg.shape != (q.shape[0],) or cg.shape != (c.shape[0],):
        raise InvalidInput("one group per query and per corpus item")
    if exclude_self and q.shape[0] != c.shape[0]:
        raise InvalidInput("exclude_self needs the queries to be the corpus")
    for start in range(0, q.shape[0], _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, q.shape[0]))
        sims = q[rows] @ c.T
        same = qg[rows, None] == cg[None, :]
        if exclude_self:
            sims[np.arange(rows.size), rows] = -np.inf
            same[np.arange(rows.size), rows] = False
        order = np.argsort(-sims, axis=1, kind="stable")
        ranked = np.take_along_axis(same, order, axis=1)
        if exclude_self:
            ranked = ranked[:, :-1]  # the query itself, ranked last
        yield ranked, same.sum(axis=1)


def _mean(scores: list[np.ndarray]) -> float:
    joined = np.concatenate(scores) if scores else np.empty(0)
    if joined.size == 0:
        raise InvalidInput("no query has a same-group item in the corpus")
    return float(joined.mean())


def recall_at_k(queries: np.ndarray, corpus: np.ndarray, query_groups: np.ndarray,
                corpus_groups: np.ndarray, *, k: int = 10, exclude_self: bool = False,
                kind: Literal["hit", "capped"] = "hit") -> float:
    """Recall at ``k`` over the answerable queries (see the module's docstring for
    ``kind``)."""
    if k < 1:
        raise InvalidInput(f"k must be >= 1, got {k}")
    if kind not in ("hit", "capped"):
        raise InvalidInput(f"kind must be 'hit' or 'capped', got {kind!r}")
    scores: list[np.ndarray] = []
    for ranked, relevant in _relevance(queries, corpus, query_groups, corpus_groups,
                                       exclude_self):
        found = ranked[:, :k].sum(axis=1)
        ok = relevant > 0
        if kind == "hit":
            scores.append((found[ok] > 0).astype(np.float64))
        else:
            scores.append(found[ok] / np.minimum(k, relevant[ok]))
    return _mean(scores)


def mean_reciprocal_rank(queries: np.ndarray, corpus: np.ndarray, query_groups: np.ndarray,
                         corpus_groups: np.ndarray, *, exclude_self: bool = False) -> float:
    """Mean over the answerable queries of 1 / rank of the first same-group item."""
    scores: list[np.ndarray] = []
    for ranked, relevant in _relevance(queries, corpus, query_groups, corpus_groups,
                                       exclude_self):
        ok = relevant > 0
        first = np.argmax(ranked[ok], axis=1)  # a True exists in every kept row
        scores.append(1.0 / (first + 1.0))
    return _mean(scores)


def triplet_accuracy(embeddings: np.ndarray, triplets: Sequence[tuple[int, int, int]]) -> float:
    """Share of ``(anchor, positive, negative)`` with cos(anchor, positive) > cos(anchor,
    negative); :class:`InvalidInput` for no triplets."""
    if len(triplets) == 0:
        raise InvalidInput("no triplets to score")
    x = _unit(embeddings, "embeddings")
    t = np.asarray(triplets, dtype=np.int64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise InvalidInput("triplets must be (anchor, positive, negative) positions")
    if t.min() < 0 or t.max() >= x.shape[0]:
        raise InvalidInput(f"triplet positions must be in [0, {x.shape[0]})")
    a, p, n = x[t[:, 0]], x[t[:, 1]], x[t[:, 2]]
    return float(((a * p).sum(axis=1) > (a * n).sum(axis=1)).mean())
