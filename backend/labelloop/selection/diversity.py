"""Diversity on embeddings: pick items that cover the space instead of clustering together.

* :func:`k_center_greedy` — the core-set heuristic: repeatedly take the candidate farthest from
  everything chosen so far (and from the given ``centers``, e.g. the labeled items).
  ``O(n_candidates * (n_centers + k) * dim)``: run it on a shortlist, not on 100k items.
* :func:`kmeans_representatives` — cluster the candidates into ``k`` groups and take one item per
  group: the one nearest the centroid, or the highest-scoring one when ``scores`` are given
  (Zhdanov's "diverse mini-batch" selection).

Both take positions into ``embeddings`` and return positions from ``candidates``; both are
deterministic for a given ``rng`` state.
"""

from __future__ import annotations

import warnings

import numpy as np

from labelloop.selection.errors import SelectionInputError
from labelloop.selection.validation import check_embeddings, check_indices

_CHUNK = 4096


def min_sq_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance from each point to its nearest center (chunked)."""
    out = np.full(points.shape[0], np.inf, dtype=np.float32)
    if centers.shape[0] == 0:
        return out
    c_sq = (centers * centers).sum(axis=1)
    for s in range(0, points.shape[0], _CHUNK):
        p = points[s : s + _CHUNK]
        d = (p * p).sum(axis=1)[:, None] - 2.0 * p @ centers.T + c_sq[None, :]
        out[s : s + _CHUNK] = np.maximum(d.min(axis=1), 0.0)
    return out


def k_center_greedy(embeddings: np.ndarray, candidates: np.ndarray, k: int, *,
                    rng: np.random.Generator, centers: np.ndarray | None = None) -> np.ndarray:
    """``min(k, len(candidates))`` positions from ``candidates``, each the farthest from those
    picked before it and from ``centers`` (positions too). With no centers the first pick is
    random (from ``rng``)."""
    e = check_embeddings(embeddings)
    cand = check_indices(candidates, e.shape[0], name="candidates")
    if k < 1:
        raise SelectionInputError(f"k must be >= 1, got {k}")
    k = min(k, cand.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    points = e[cand]
    cen = check_indices(centers if centers is not None else [], e.shape[0], name="centers")
    dist = min_sq_distances(points, e[cen])
    chosen: list[int] = []
    for _ in range(k):
        if np.isinf(dist).all():
            j = int(rng.integers(cand.size))
        else:
            j = int(np.argmax(dist))
        chosen.append(j)
        diff = points - points[j]
        dist = np.minimum(dist, np.einsum("ij,ij->i", diff, diff))
        dist[j] = -1.0  # never again
    return cand[np.asarray(chosen, dtype=np.int64)]


def kmeans_representatives(embeddings: np.ndarray, candidates: np.ndarray, k: int, *,
                           rng: np.random.Generator, scores: np.ndarray | None = None,
                           max_points: int = 20_000) -> np.ndarray:
    """``min(k, len(candidates))`` positions, one per k-means cluster of the candidates.

    ``scores`` (one per candidate, higher = better) picks each cluster's best-scoring member
    instead of the member nearest its centroid, and weights the clustering. Above ``max_points``
    candidates, clustering and picking run on a random sample of that many of them.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    e = check_embeddings(embeddings)
    cand = check_indices(candidates, e.shape[0], name="candidates")
    if k < 1:
        raise SelectionInputError(f"k must be >= 1, got {k}")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != cand.shape or not np.isfinite(scores).all():
            raise SelectionInputError("scores must be finite, one per candidate")
    if k >= cand.size:
        return cand.copy()
    if cand.size > max_points:
        keep = np.sort(rng.choice(cand.size, size=max_points, replace=False))
        cand = cand[keep]
        scores = scores[keep] if scores is not None else None
    points = e[cand]
    weight = None if scores is None else scores - scores.min() + 1e-6
    km = KMeans(n_clusters=k, n_init=1, max_iter=50,
                random_state=int(rng.integers(2**31 - 1)))
    # One thread: on a few thousand points OpenMP gains nothing, and on a busy machine its
    # threads made single fits erratic (20 ms -> 0.5 s).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # duplicate points can leave fewer distinct clusters
        km.fit(points, sample_weight=weight)
    assign = km.labels_
    centers = km.cluster_centers_.astype(np.float32)[assign]
    d = np.einsum("ij,ij->i", points - centers, points - centers)
    key = -scores if scores is not None else d
    picked: list[int] = []
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if members.size:
            picked.append(int(members[np.argmin(key[members])]))
    if len(picked) < k:  # empty clusters: top up by the farthest-point rule
        rest = np.setdiff1d(np.arange(cand.size), picked)
        more = k_center_greedy(points, rest, k - len(picked), rng=rng,
                               centers=np.asarray(picked, dtype=np.int64))
        picked.extend(int(i) for i in more)
    return cand[np.asarray(picked, dtype=np.int64)]


def drop_near_duplicates(embeddings: np.ndarray, ordered: np.ndarray, k: int, *,
                         max_similarity: float = 0.9) -> np.ndarray:
    """The first ``min(k, len(ordered))`` of ``ordered`` (positions, best first), skipping any
    item whose cosine similarity to one already taken exceeds ``max_similarity``. If too few
    are left, skipped items fill the batch, each time the one least similar to those taken."""
    e = check_embeddings(embeddings)
    cand = check_indices(ordered, e.shape[0], name="ordered")
    if k < 1:
        raise SelectionInputError(f"k must be >= 1, got {k}")
    if not -1.0 <= max_similarity <= 1.0:
        raise SelectionInputError(f"max_similarity must be in [-1, 1], got {max_similarity}")
    norms = np.linalg.norm(e[cand], axis=1, keepdims=True)
    unit = e[cand] / np.where(norms > 0, norms, 1.0)
    taken: list[int] = []
    skipped: list[int] = []
    for j in range(cand.size):
        if len(taken) == k:
            break
        if taken and float((unit[taken] @ unit[j]).max()) > max_similarity:
            skipped.append(j)
        else:
            taken.append(j)
    while len(taken) < k and skipped:
        sims = (unit[skipped] @ unit[taken].T).max(axis=1)
        taken.append(skipped.pop(int(np.argmin(sims))))
    return cand[np.asarray(taken, dtype=np.int64)]
