"""``labelloop simulate --fine-tune``: after the learning curves of a text classification file,
fine-tune the encoder at the label counts the service would (``--fine-tune-min-labels``, then
every ``--fine-tune-every`` more, up to ``--budget``; defaults: the service's settings) and
report the logistic regression's test accuracy on frozen vs fine-tuned vectors per count
(:mod:`labelloop.simulate.finetune_replay`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelloop.simulate.data import LabeledData


def _positive_float(value: str) -> float:
    out = float(value)
    if out <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return out


def _tick(bar: Any) -> None:
    bar.update(1)


def add_arguments(p: Any) -> None:
    from labelloop.settings import Settings

    defaults = Settings.model_fields
    g = p.add_argument_group("encoder fine-tuning (text classification)")
    g.add_argument("--fine-tune", action="store_true",
                   help="also fine-tune the encoder at the service's label counts and report "
                   "the gain over frozen embeddings")
    g.add_argument("--fine-tune-budget", type=_positive_float,
                   default=defaults["finetune_budget_s"].default,
                   help="CPU seconds per fine-tune (default: LABELLOOP_FINETUNE_BUDGET_S's)")
    g.add_argument("--fine-tune-min-labels", type=int,
                   default=defaults["finetune_min_labels"].default,
                   help="labels at the first round (default: the service's)")
    g.add_argument("--fine-tune-every", type=int, default=defaults["finetune_every_n"].default,
                   help="labels between rounds (default: the service's)")


def run_fine_tune(args: argparse.Namespace, data: LabeledData) -> None:
    """Replay the rounds on ``data`` (the file ``simulate`` just read; same split) and print
    the table; the points are added to ``args.output``'s JSON under ``fine_tune``."""
    from tqdm import tqdm

    from labelloop.embeddings import SentenceTransformerEmbedder, bundled_model_path
    from labelloop.simulate.data import train_test_split
    from labelloop.simulate.finetune_replay import (
        fine_tune_table,
        finetune_counts,
        replay_fine_tune,
    )
    from labelloop.simulate.pipeline import embed_texts

    train, test = train_test_split(data, test_fraction=args.test_fraction, seed=0)
    embedder = SentenceTransformerEmbedder(torch_threads=args.torch_threads)
    frozen = embed_texts(data.texts, embedder=embedder,
                         cache_dir=None if args.no_cache else args.cache_dir)
    counts = finetune_counts(min(args.budget, train.size), min_labels=args.fine_tune_min_labels,
                             every_n=args.fine_tune_every)
    if not counts:
        print(f"\nno fine-tune round within {args.budget} labels (the first is at "
              f"{args.fine_tune_min_labels})")
        return
    with tqdm(total=len(counts) * args.seeds, desc="fine-tuning", unit="round",
              disable=args.no_progress) as bar:
        points = replay_fine_tune(data.texts, data.y, train, test, frozen, labels=data.labels,
                                  base=embedder.model_path or bundled_model_path(),
                                  counts=counts, seeds=args.seeds,
                                  budget_s=args.fine_tune_budget, threads=args.torch_threads,
                                  step=lambda: _tick(bar))
    print(f"\nEncoder fine-tuning ({args.fine_tune_budget:.0f} CPU-s per round, random "
          "labelled samples, same test split):")
    print(fine_tune_table(points))
    if args.output.is_file():
        doc = json.loads(args.output.read_text())
        doc["fine_tune"] = {"budget_s": args.fine_tune_budget,
                            "points": [p.to_json() for p in points]}
        args.output.write_text(json.dumps(doc, indent=2))
