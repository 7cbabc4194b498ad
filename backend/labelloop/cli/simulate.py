"""``labelloop simulate``: replay the active-learning loop on a labeled JSONL file.

Gold labels play the annotator; each strategy's learning curve (accuracy and macro-F1 after
every batch, mean ± std over seeds) is printed as a table, written as JSON and optionally drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labelloop.errors import LabelloopError


def _strategies(value: str) -> tuple[str, ...]:
    from labelloop.selection import STRATEGY_NAMES

    names = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in names if s not in STRATEGY_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown strategies {unknown or value!r}; choose from {','.join(STRATEGY_NAMES)}")
    return names


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _batch(value: str) -> int:
    n = int(value)
    if not 10 <= n <= 100:
        raise argparse.ArgumentTypeError(f"batch size must be between 10 and 100, got {n}")
    return n


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate", help="replay active learning offline on labeled JSONL (gold labels)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="JSONL file, one labeled text a line")
    p.add_argument("--text-field", default="text")
    p.add_argument("--label-field", default="label")
    p.add_argument("--llm-base-url", help="OpenAI-compatible base URL: the LLM joins the "
                   "committee and the cold start (needs --llm-model)")
    p.add_argument("--llm-model")
    p.add_argument("--llm-api-key", help="API key for the LLM server, if it needs one")
    p.add_argument("--strategies", type=_strategies,
                   default=("random", "uncertainty", "diversity", "committee", "default"),
                   help="comma-separated, from random,uncertainty,diversity,committee,default")
    p.add_argument("--batch-size", type=_batch, default=20, help="10-100 (default 20)")
    p.add_argument("--budget", type=_positive, default=400, help="labels to spend (default 400)")
    p.add_argument("--seeds", type=_positive, default=5, help="repetitions (default 5)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="held-out share (ignored when rows carry a split field)")
    p.add_argument("--output", type=Path, default=Path("results.json"))
    p.add_argument("--plot", type=Path, help="write the learning curves to this PNG")
    p.add_argument("--cache-dir", type=Path, default=Path(".labelloop") / "cache",
                   help="embedding cache (default .labelloop/cache)")
    p.add_argument("--no-cache", action="store_true", help="embed without the disk cache")
    p.add_argument("--torch-threads", type=_positive, help="threads for embedding")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except LabelloopError as exc:
        print(f"labelloop simulate: {exc.message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import (
        LlmSource,
        SimulationConfig,
        budget_points,
        markdown_table,
        plot_curves,
        simulate_file,
        to_json,
    )

    if bool(args.llm_base_url) != bool(args.llm_model):
        print("labelloop simulate: --llm-base-url and --llm-model go together", file=sys.stderr)
        return 2
    llm = LlmSource(args.llm_base_url, args.llm_model, args.llm_api_key) \
        if args.llm_base_url else None
    config = SimulationConfig(strategies=args.strategies, batch_size=args.batch_size,
                              budget=args.budget, seeds=args.seeds)
    quiet = args.no_progress
    embed_bar = tqdm(desc="embedding (new texts)", unit="text", disable=quiet)
    steps = len(config.strategies) * config.seeds * len(budget_points(config.batch_size,
                                                                      config.budget))
    loop_bar = tqdm(total=steps, desc="simulating", unit="batch", disable=quiet)
    if llm is None:
        print("no LLM given: the committee strategy falls back to the local model alone",
              file=sys.stderr)
    try:
        _, result = simulate_file(
            args.data, config=config, text_field=args.text_field, label_field=args.label_field,
            test_fraction=args.test_fraction,
            embedder=SentenceTransformerEmbedder(torch_threads=args.torch_threads),
            cache_dir=None if args.no_cache else args.cache_dir, llm=llm,
            embed_progress=embed_bar.update, step=loop_bar.update)
    finally:
        embed_bar.close()
        loop_bar.close()
    print(markdown_table(result))
    doc = to_json(result, data=str(args.data))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {args.output}")
    if args.plot:
        plot_curves(result, args.plot, title=f"{args.data.name}: {result.n_train} train, "
                    f"{result.n_test} test, batch {config.batch_size}")
        print(f"wrote {args.plot}")
    return 0
