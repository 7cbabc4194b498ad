"""Ranking at scale: time and peak memory of ``rank_pool`` over 100,000 and 1,000,000 items.

Synthetic data as in ``bench_active_learning.py``'s ranking part (unit-normalised 384-d float32
embeddings, Dirichlet probabilities for the local model and the LLM, 4 classes, 2 % labeled),
with the probabilities stored as float32. Each (size, phase, strategy) case runs in a fresh
subprocess, so the peak RSS (``ru_maxrss``) is that case's alone; the embeddings are generated
in chunks (same values as one ``standard_normal`` call), so building the data peaks only a few
MiB above the data itself. *Ranking's own* memory is the peak minus the RSS once the data was built
(after ``malloc_trim``, so freed build temporaries do not hide in the baseline).

    .venv/bin/python bench/bench_rank_scale.py                    # 100k and 1M, 3 runs (~40 s)
    .venv/bin/python bench/bench_rank_scale.py --sizes 1000000 --runs 5

Prints markdown.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIM, N_CLASSES, CHUNK = 384, 4, 1_024
CASES = [("active", "default", (500, 500, 500, 500)),
         ("active", "committee", (500, 500, 500, 500)),
         ("cold_start", "default", (1, 0, 2, 0))]
MIB = 1024 * 1024


def rss_mib() -> float:
    """The current resident set size (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back (glibc ``malloc_trim``): otherwise the
    build's freed temporaries stay in the RSS and the ranking reuses them unseen."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def build(n: int):
    """``run_ranking``'s data, without its float64 (n, 384) temporary: same values, float32
    probabilities."""
    from labelloop.selection import PoolData

    rng = np.random.default_rng(0)
    x = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, CHUNK):
        c = rng.standard_normal((min(CHUNK, n - s), DIM)).astype(np.float32)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        x[s : s + c.shape[0]] = c
    probas, llm = (np.concatenate([rng.dirichlet(np.ones(N_CLASSES), size=min(CHUNK, n - s))
                                   .astype(np.float32) for s in range(0, n, CHUNK)])
                   for _ in range(2))
    return PoolData(x, probas=probas, llm_probas=llm, llm_weight=0.8, model_weight=0.4)


def child(n: int, phase: str, strategy: str, counts: tuple[int, ...], runs: int) -> dict:
    from labelloop.selection import rank_pool

    def rank(data, pool, labeled, seed):  # type: ignore[no-untyped-def]
        return rank_pool(data, pool, labeled, rng=np.random.default_rng(seed), batch_size=20,
                         strategy=strategy, label_counts=np.array(counts))  # type: ignore[arg-type]

    small = build(2_000)  # warm-up on a small pool: imports, thread pools
    rank(small, np.arange(40, 2_000), np.arange(40), 0)
    del small
    data = build(n)
    labeled, pool = np.arange(n // 50), np.arange(n // 50, n)
    release_free_memory()
    base, build_peak = rss_mib(), peak_rss_mib()
    times = []
    for seed in range(runs):
        t = time.perf_counter()
        r = rank(data, pool, labeled, seed)
        times.append(time.perf_counter() - t)
        assert r.phase == phase and r.order.size == pool.size, (r.phase, r.order.size)
        del r
    return {"items": n, "phase": phase, "strategy": strategy, "times": times,
            "peak": peak_rss_mib(), "base": base, "build_peak": build_peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=3, metavar=("N", "PHASE", "STRATEGY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        n, phase, strategy = int(args.child[0]), args.child[1], args.child[2]
        counts = next(c for p, s, c in CASES if (p, s) == (phase, strategy))
        print(json.dumps(child(n, phase, strategy, counts, args.runs)), flush=True)
        return
    rows = []
    for n in args.sizes:
        for phase, strategy, _ in CASES:
            out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--child",
                                  str(n), phase, strategy],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{n:,} {phase} {strategy}: done", file=sys.stderr, flush=True)
    print("## Ranking at scale (`bench/bench_rank_scale.py`)\n")
    print("`rank_pool` (batch 20) on synthetic unit-normalised 384-d float32 embeddings with "
          "float32 Dirichlet probabilities for the local model and the LLM (4 classes, 2 % "
          f"labeled), median of {args.runs} runs, each case in a fresh process: *peak RSS* is "
          "the process's `ru_maxrss` (data, interpreter and libraries included), *ranking's "
          "own* is that peak minus the RSS once the data was built (freed build temporaries "
          "returned with `malloc_trim`).\n")
    print("| items | phase | strategy | median s | max s | peak RSS MiB | ranking's own MiB |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['items']:,} | {r['phase']} | {r['strategy']} | "
              f"{statistics.median(r['times']):.2f} | {max(r['times']):.2f} | "
              f"{r['peak']:,.0f} | {r['peak'] - r['base']:,.0f} |")
    worst = max(r["build_peak"] - r["base"] for r in rows)
    build_bound = [f"{r['items']:,} {r['phase']} {r['strategy']}" for r in rows
                   if r["build_peak"] >= r["peak"]]
    verdict = ("below every case's peak, so the peaks above are the ranking's" if not build_bound
               else f"the peak of {', '.join(build_bound)}: there the ranking stayed below it")
    print(f"\nBuilding the data rose at most {worst:,.0f} MiB above its settled RSS, {verdict}. "
          "The committee strategy never imports scikit-learn (no k-means), hence its lower "
          "baseline.")


if __name__ == "__main__":
    main()
