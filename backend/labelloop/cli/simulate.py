"""``labelloop simulate``: replay the active-learning loop on a labeled JSONL file.

Gold labels play the annotator; each strategy's learning curve (accuracy and macro-F1 after
every batch, mean ± std over seeds) is printed as a table, written as JSON and optionally drawn.

Span (NER) data — rows ``{"text": ..., "spans": [{"start", "end", "label"}]}``, found by the
``spans`` key of the first row or by ``--task spans`` — trains the token model instead and
measures exact-match span-F1 on the test split (strategies: random, uncertainty,
disagreement, diversity, default); with ``--llm-*`` the LLM's entities of the train texts feed
disagreement and the cold start.

``--objective dataset`` measures the exported dataset instead of the model: at each budget point
(``--fractions``, shares of the pool) the pool's dataset — human labels where reviewed, the best
machine label elsewhere — is scored against the gold labels, with the product's own accuracy
estimate and its 95 % interval, per strategy (random, llm_confidence, model, dataset, default).
It needs an LLM: ``--llm-base-url``/``--llm-model``, or precomputed answers in the file
(``--llm-label-field`` and optionally ``--llm-confidence-field``).

Images, audio, video (``--images``/``--audio``/``--video DIR``, ``--dataset digits``, JSON lines
with an ``image``/``audio``/``video`` key): media embedders, then as class labels (see below).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.cli import simulate_finetune, simulate_media, simulate_triplets
from labelloop.errors import LabelloopError

if TYPE_CHECKING:
    from labelloop.selection import SpanStrategyName, StrategyName
    from labelloop.simulate import SimulationResult


CLASS_DEFAULT: tuple[StrategyName, ...] = ("random", "uncertainty", "diversity", "committee", "default")
SPAN_DEFAULT: tuple[SpanStrategyName, ...] = ("random", "uncertainty", "diversity", "default")


def _strategies(value: str) -> tuple[str, ...]:
    from labelloop.selection import SPAN_STRATEGY_NAMES, STRATEGY_NAMES
    from labelloop.simulate import DATASET_STRATEGIES

    known = dict.fromkeys([*STRATEGY_NAMES, *SPAN_STRATEGY_NAMES, *DATASET_STRATEGIES])
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in names if s not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown strategies {unknown or value!r}; choose from {','.join(known)}")
    return names


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _fractions(value: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) / 100.0 for v in value.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"percentages separated by commas, got {value!r}") \
            from exc
    if not out or any(not 0.0 < f <= 1.0 for f in out):
        raise argparse.ArgumentTypeError(f"percentages must be in (0, 100], got {value!r}")
    return out


def _batch(value: str) -> int:
    n = int(value)
    if not 10 <= n <= 100:
        raise argparse.ArgumentTypeError(f"batch size must be between 10 and 100, got {n}")
    return n


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate", help="replay active learning offline on labeled JSONL (gold labels)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="JSONL file, one labeled text (or an image, "
                   "audio or video file/URL: see below) a line")
    p.add_argument("--text-field", default="text")
    p.add_argument("--label-field", default="label")
    p.add_argument("--task", choices=("auto", "choices", "spans", "triplets"),
                   default="auto",
                   help="auto (default): span data when the first row has the spans field; "
                   "triplets: similarity judgements replayed on the labels (see below)")
    p.add_argument("--spans-field", default="spans", help="span data: the field of the spans")
    p.add_argument("--token-model", choices=("crf", "lr"), default="crf",
                   help="span data: the token model (default crf)")
    p.add_argument("--llm-base-url", help="OpenAI-compatible base URL: the LLM joins the "
                   "committee and the cold start (needs --llm-model)")
    p.add_argument("--llm-model")
    p.add_argument("--llm-api-key", help="API key for the LLM server, if it needs one")
    p.add_argument("--objective", choices=("model", "dataset"), default="model",
                   help="model (default): the local model's learning curve; dataset: the "
                   "exported dataset's accuracy per human label (needs an LLM)")
    p.add_argument("--llm-label-field", help="dataset objective: the field holding a "
                   "precomputed LLM label per row (instead of --llm-base-url)")
    p.add_argument("--llm-confidence-field", help="dataset objective: the field holding the "
                   "LLM's confidence in it (0-1; the rest is spread evenly over other labels)")
    p.add_argument("--fractions", type=_fractions, default=(0.05, 0.10, 0.20, 0.30),
                   help="dataset objective: budget points in %% of the pool (default 5,10,20,30)")
    p.add_argument("--strategies", type=_strategies, default=None,
                   help="comma-separated, from random,uncertainty,diversity,committee,default "
                   f"(default: all); span data: from random,uncertainty,disagreement,diversity,"
                   f"default (default: {','.join(SPAN_DEFAULT)}); dataset objective: from "
                   "random,llm_confidence,model,dataset,default (default: all)")
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
    simulate_media.add_arguments(p)
    simulate_finetune.add_arguments(p)
    simulate_triplets.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except LabelloopError as exc:
        print(f"labelloop simulate: {exc.message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from labelloop.simulate import is_span_file

    if args.data is None or simulate_media.is_media(args):  # no source at all: it says so
        return simulate_media.run_media(args)
    if args.objective == "dataset":
        return _run_dataset(args)
    if args.task == "triplets":
        return simulate_triplets.run_triplets(args)

    spans = args.task == "spans" or (
        args.task == "auto" and is_span_file(args.data, spans_field=args.spans_field))
    return _run_spans(args) if spans else _run_choices(args)


def _report(args: argparse.Namespace, result: SimulationResult, *, batch_size: int,
            source: str | None = None) -> int:
    from labelloop.simulate import markdown_table, plot_curves, to_json

    print(markdown_table(result))
    source = source or str(args.data)
    doc = to_json(result, data=source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {args.output}")
    if args.plot:
        plot_curves(result, args.plot, title=f"{Path(source).name}: {result.n_train} train, "
                    f"{result.n_test} test, batch {batch_size}")
        print(f"wrote {args.plot}")
    return 0


@contextmanager
def _progress(steps: int, *, quiet: bool) -> Iterator[tuple[Callable[[int], None],
                                                            Callable[[], None]]]:
    """Two progress bars on stderr (texts embedded, batches simulated) and their callbacks."""
    from tqdm import tqdm

    embed_bar = tqdm(desc="embedding (new texts)", unit="text", disable=quiet)
    loop_bar = tqdm(total=steps, desc="simulating", unit="batch", disable=quiet)

    def embedded(n: int) -> None:
        embed_bar.update(n)

    def step() -> None:
        loop_bar.update()

    try:
        yield embedded, step
    finally:
        embed_bar.close()
        loop_bar.close()


def _run_spans(args: argparse.Namespace) -> int:
    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.selection import SPAN_STRATEGY_NAMES
    from labelloop.simulate import (
        LlmSource,
        SpanSimulationConfig,
        budget_points,
        simulate_span_file,
    )

    if bool(args.llm_base_url) != bool(args.llm_model):
        print("labelloop simulate: --llm-base-url and --llm-model go together", file=sys.stderr)
        return 2
    llm = LlmSource(args.llm_base_url, args.llm_model, args.llm_api_key) \
        if args.llm_base_url else None
    names: tuple[SpanStrategyName, ...] = args.strategies or SPAN_DEFAULT
    wrong = [s for s in names if s not in SPAN_STRATEGY_NAMES]
    if wrong:
        print(f"labelloop simulate: {wrong} not for span data; choose from "
              f"{','.join(SPAN_STRATEGY_NAMES)}", file=sys.stderr)
        return 2
    config = SpanSimulationConfig(strategies=names,
                                  batch_size=args.batch_size, budget=args.budget,
                                  seeds=args.seeds, kind=args.token_model)
    steps = len(config.strategies) * config.seeds * len(budget_points(config.batch_size,
                                                                      config.budget))
    with _progress(steps, quiet=args.no_progress) as (embedded, step):
        _, result = simulate_span_file(
            args.data, config=config, text_field=args.text_field, spans_field=args.spans_field,
            test_fraction=args.test_fraction,
            embedder=SentenceTransformerEmbedder(torch_threads=args.torch_threads),
            cache_dir=None if args.no_cache else args.cache_dir, llm=llm,
            embed_progress=embedded, step=step)
    return _report(args, result, batch_size=config.batch_size)


def _run_choices(args: argparse.Namespace) -> int:
    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.models.distill import DistillOptions
    from labelloop.selection import STRATEGY_NAMES
    from labelloop.simulate import SimulationConfig, budget_points, simulate_file

    try:
        llm = simulate_media.llm_source(args)
    except ValueError as exc:
        print(f"labelloop simulate: {exc}", file=sys.stderr)
        return 2
    names: tuple[StrategyName, ...] = args.strategies or CLASS_DEFAULT
    wrong = [s for s in names if s not in STRATEGY_NAMES]
    if wrong:
        print(f"labelloop simulate: {wrong} only for span data; choose from "
              f"{','.join(STRATEGY_NAMES)}", file=sys.stderr)
        return 2
    config = SimulationConfig(strategies=names, batch_size=args.batch_size, budget=args.budget,
                              seeds=args.seeds, distill=DistillOptions(mode=args.distill_llm))
    steps = len(config.strategies) * config.seeds * len(budget_points(config.batch_size,
                                                                      config.budget))
    if llm is None:
        print("no LLM given: the committee strategy falls back to the local model alone",
              file=sys.stderr)
    with _progress(steps, quiet=args.no_progress) as (embedded, step):
        data, result = simulate_file(
            args.data, config=config, text_field=args.text_field, label_field=args.label_field,
            test_fraction=args.test_fraction,
            embedder=SentenceTransformerEmbedder(torch_threads=args.torch_threads),
            cache_dir=None if args.no_cache else args.cache_dir, llm=llm,
            embed_progress=embedded, step=step)
    code = _report(args, result, batch_size=config.batch_size)
    if args.fine_tune:  # the encoder's rounds at the service's label counts, and their gain
        simulate_finetune.run_fine_tune(args, data)
    return code


def _run_dataset(args: argparse.Namespace) -> int:
    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.simulate import (
        DATASET_STRATEGIES,
        DatasetSimulationConfig,
        DatasetStrategy,
        LlmSource,
        simulate_dataset_file,
    )

    if bool(args.llm_base_url) != bool(args.llm_model):
        print("labelloop simulate: --llm-base-url and --llm-model go together", file=sys.stderr)
        return 2
    if not args.llm_base_url and not args.llm_label_field:
        print("labelloop simulate: --objective dataset needs an LLM: --llm-base-url and "
              "--llm-model, or --llm-label-field", file=sys.stderr)
        return 2
    if args.llm_confidence_field and not args.llm_label_field:
        print("labelloop simulate: --llm-confidence-field goes with --llm-label-field",
              file=sys.stderr)
        return 2
    names: tuple[DatasetStrategy, ...] = args.strategies or DATASET_STRATEGIES
    wrong = [s for s in names if s not in DATASET_STRATEGIES]
    if wrong:
        print(f"labelloop simulate: {wrong} not for the dataset objective; choose from "
              f"{','.join(DATASET_STRATEGIES)}", file=sys.stderr)
        return 2
    llm = LlmSource(args.llm_base_url, args.llm_model, args.llm_api_key) \
        if args.llm_base_url and not args.llm_label_field else None
    config = DatasetSimulationConfig(strategies=names, fractions=args.fractions,
                                     batch_size=args.batch_size, seeds=args.seeds)
    steps = len(names) * config.seeds * len(set(args.fractions))
    with _progress(steps, quiet=args.no_progress) as (embedded, step):
        _, result = simulate_dataset_file(
            args.data, config=config, text_field=args.text_field, label_field=args.label_field,
            test_fraction=args.test_fraction,
            embedder=SentenceTransformerEmbedder(torch_threads=args.torch_threads),
            cache_dir=None if args.no_cache else args.cache_dir, llm=llm,
            llm_label_field=args.llm_label_field,
            llm_confidence_field=args.llm_confidence_field, embed_progress=embedded, step=step)
    return _report(args, result, batch_size=config.batch_size)
