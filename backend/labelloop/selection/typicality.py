"""Typicality: low-budget picks from the dense regions of the embedding space that no label covers.

With a handful of labels, the items that teach a model most are the *typical* ones — each the
centre of a dense region — one per region, not the uncertain ones (the model's uncertainty
means little yet). This is TypiClust's rule (Hacohen, Dekel and Weinshall, "Active learning on
a budget", ICML 2022), as a pure function:

1. cluster the labeled items and the pool together into ``len(labeled) + batch_size`` k-means
   clusters (at most ``max_clusters``);
2. repeatedly take the cluster with the fewest labeled (or already picked) items, the largest
   first among equals (clusters smaller than ``min_cluster_size`` last: they are outliers);
3. from it, the pool item of highest typicality — the inverse of its mean Euclidean distance to
   its ``neighbours`` nearest neighbours within the cluster.

So the first picks cover every dense region once, the biggest first, and each pick is the
region's most typical item. Cost is bounded: above ``max_points`` items, clustering and
picking run on a random sample (all labeled items up to half of it, the pool for the rest); the
neighbour search runs per cluster. :func:`typicality_batch` has the cold start's signature
(positions into ``embeddings``); :func:`typicality_scores` is the measure alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from labelloop.selection.errors import SelectionInputError
from labelloop.selection.validation import check_batch_size, check_embeddings, check_pool

_CHUNK = 2048
_KMEANS_FULL_UP_TO = 50  # above this many clusters MiniBatchKMeans (as TypiClust does)


@dataclass(frozen=True)
class TypicalityOptions:
    neighbours: int = 20  # typicality: inverse mean distance to this many nearest neighbours
    max_clusters: int = 500  # the cluster count never exceeds this
    min_cluster_size: int = 5  # smaller clusters are picked from only after the others
    max_points: int = 3_000  # cluster and pick on a random sample of at most this many items


def _check_options(options: TypicalityOptions) -> None:
    if options.neighbours < 1 or options.max_clusters < 1 or options.min_cluster_size < 1:
        raise SelectionInputError("neighbours, max_clusters and min_cluster_size must be >= 1")
    if options.max_points < 2:
        raise SelectionInputError("max_points must be >= 2")


def typicality_scores(embeddings: np.ndarray, *, neighbours: int = 20) -> np.ndarray:
    """Each row's typicality among the rows: ``1 / (mean distance to its nearest neighbours +
    1e-12)``, at most ``neighbours`` of them (all other rows when there are fewer). A single row
    scores 0 (it has no neighbours). ``O(n^2 * dim)``: run it on a cluster or a sample."""
    e = check_embeddings(embeddings).astype(np.float64)
    if neighbours < 1:
        raise SelectionInputError(f"neighbours must be >= 1, got {neighbours}")
    n = e.shape[0]
    if n < 2:
        return np.zeros(n)
    k = min(neighbours, n - 1)
    sq = (e * e).sum(axis=1)
    out = np.empty(n)
    for s in range(0, n, _CHUNK):
        block = e[s : s + _CHUNK]
        d = sq[s : s + _CHUNK, None] - 2.0 * block @ e.T + sq[None, :]
        d = np.sqrt(np.maximum(d, 0.0))
        d[np.arange(block.shape[0]), np.arange(s, s + block.shape[0])] = np.inf  # not itself
        nearest = np.partition(d, k - 1, axis=1)[:, :k]
        out[s : s + _CHUNK] = 1.0 / (nearest.mean(axis=1) + 1e-12)
    return out


def _sample(p: np.ndarray, lab: np.ndarray, max_points: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The labeled and pool positions clustering sees: all of them when they fit."""
    if p.size + lab.size <= max_points:
        return p, lab
    if lab.size > max_points // 2:
        lab = np.sort(rng.choice(lab, size=max_points // 2, replace=False))
    room = max_points - lab.size
    if p.size > room:
        p = np.sort(rng.choice(p, size=room, replace=False))
    return p, lab


def _clusters(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A k-means cluster id per point (one thread, seeded from ``rng``)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    if k <= 1:
        return np.zeros(points.shape[0], dtype=np.int64)
    seed = int(rng.integers(2**31 - 1))
    km: KMeans | MiniBatchKMeans
    if k <= _KMEANS_FULL_UP_TO:
        km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=1024, max_iter=50,
                             random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # duplicate points can leave fewer distinct clusters
        km.fit(points)
    return np.asarray(km.labels_, dtype=np.int64)


def typicality_batch(embeddings: np.ndarray, pool: np.ndarray, labeled: np.ndarray,
                     batch_size: int, *, rng: np.random.Generator,
                     options: TypicalityOptions = TypicalityOptions()) -> np.ndarray:
    """``min(batch_size, len(pool))`` distinct positions from ``pool``, most wanted first: the
    most typical item of each dense region not yet covered by ``labeled`` (module docstring).
    ``pool`` and ``labeled`` are disjoint positions into ``embeddings``; randomness (the sample
    and the k-means start) comes only from ``rng``."""
    e = check_embeddings(embeddings)
    p, lab = check_pool(pool, labeled, e.shape[0])
    n = check_batch_size(batch_size)
    _check_options(options)
    if p.size <= n:
        return rng.permutation(p)
    p_s, lab_s = _sample(p, lab, options.max_points, rng)
    positions = np.concatenate([lab_s, p_s])
    is_pool = np.concatenate([np.zeros(lab_s.size, bool), np.ones(p_s.size, bool)])
    k = min(lab_s.size + n, options.max_clusters, positions.size)
    assign = _clusters(e[positions], k, rng)
    k = int(assign.max()) + 1
    size = np.bincount(assign, minlength=k)
    covered = np.bincount(assign[~is_pool], minlength=k)
    # per cluster: its pool members, most typical first
    queues: dict[int, list[int]] = {}
    for c in range(k):
        members = np.flatnonzero(assign == c)
        candidates = members[is_pool[members]]
        if candidates.size == 0:
            continue
        typ = typicality_scores(e[positions[members]], neighbours=options.neighbours)
        typ = typ[is_pool[members]]
        order = np.lexsort((positions[candidates], -typ))  # ties: lowest position
        queues[c] = [int(positions[candidates[j]]) for j in order]
    small = size < options.min_cluster_size
    picked: list[int] = []
    while len(picked) < n and queues:
        open_ = np.fromiter(queues, dtype=np.int64)
        best = open_[np.lexsort((open_, -size[open_], covered[open_], small[open_]))[0]]
        picked.append(queues[int(best)].pop(0))
        covered[best] += 1
        if not queues[int(best)]:
            del queues[int(best)]
    if len(picked) < n:  # the sample held too few pool items: top up at random
        rest = np.setdiff1d(p, np.asarray(picked, dtype=np.int64), assume_unique=True)
        picked.extend(int(i) for i in rng.choice(rest, size=n - len(picked), replace=False))
    return np.asarray(picked, dtype=np.int64)
