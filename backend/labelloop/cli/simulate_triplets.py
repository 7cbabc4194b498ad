"""``labelloop simulate --task triplets``: hard-triplet active learning replayed on a text
classification file (same class = similar; a tie when both or neither candidate shares the
anchor's class): hard mining vs random triplets, ``--triplets-per-round`` judgements a round up
to ``--budget`` judgements, the encoder fine-tuned after each round, recall@10 and MRR on the
held-out split (:mod:`labelloop.simulate.triplet_replay`). Defaults follow the service's
settings (``LABELLOOP_TRIPLET_*``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _strategies(value: str) -> tuple[str, ...]:
    from labelloop.simulate.triplet_replay import TRIPLET_STRATEGIES

    names = tuple(s.strip() for s in value.split(",") if s.strip())
    if not names or any(s not in TRIPLET_STRATEGIES for s in names):
        raise argparse.ArgumentTypeError(
            f"choose from {','.join(TRIPLET_STRATEGIES)}, got {value!r}")
    return names


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


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
    g = p.add_argument_group("similarity triplets (--task triplets; --budget counts "
                             "judgements)")
    g.add_argument("--triplet-strategies", type=_strategies, default=("hard", "random"),
                   help="comma-separated, from hard,spread,random (default hard,random)")
    g.add_argument("--triplets-per-round", type=_positive,
                   default=defaults["triplet_batch"].default,
                   help="judgements between two fine-tunes (default: LABELLOOP_TRIPLET_BATCH's)")
    g.add_argument("--triplet-budget", type=_positive_float,
                   default=defaults["finetune_budget_s"].default,
                   help="CPU seconds per fine-tune (default: LABELLOOP_FINETUNE_BUDGET_S's)")
    g.add_argument("--triplet-loss", choices=("mnrl", "triplet"),
                   default=defaults["triplet_loss"].default,
                   help="default: LABELLOOP_TRIPLET_LOSS's")
    g.add_argument("--triplet-encoder", type=Path,
                   help="a local sentence-transformers folder to start from (default: the "
                   "bundled MiniLM)")
    g.add_argument("--triplet-neighbours", type=_positive,
                   default=defaults["triplet_neighbours"].default,
                   help="nearest neighbours hard candidates come from")


def run_triplets(args: argparse.Namespace) -> int:
    """Replay on ``args.data``, print the table, write ``args.output``."""
    from tqdm import tqdm

    from labelloop.embeddings import bundled_model_path
    from labelloop.simulate.data import load_jsonl, train_test_split
    from labelloop.simulate.triplet_replay import (
        TripletReplayConfig,
        replay_triplets,
        runs_to_json,
        triplet_table,
    )

    data = load_jsonl(args.data, text_field=args.text_field, label_field=args.label_field)
    train, test = train_test_split(data, test_fraction=args.test_fraction, seed=0)
    rounds = max(1, args.budget // args.triplets_per_round)
    config = TripletReplayConfig(strategies=args.triplet_strategies,
                                 per_round=args.triplets_per_round, rounds=rounds,
                                 seeds=args.seeds, budget_s=args.triplet_budget,
                                 loss=args.triplet_loss, neighbours=args.triplet_neighbours,
                                 threads=args.torch_threads)
    with tqdm(total=rounds * args.seeds * len(config.strategies), desc="triplet rounds",
              unit="round", disable=args.no_progress) as bar:
        runs = replay_triplets(data.texts, data.y, train, test,
                               base=args.triplet_encoder or bundled_model_path(),
                               config=config, step=lambda: _tick(bar))
    print(f"Triplets on {args.data}: {train.size} train texts, {test.size} held out, "
          f"{config.per_round} judgements a round, {config.budget_s:.0f} CPU-s per fine-tune, "
          f"loss {config.loss}:")
    print(triplet_table(runs, k=config.k))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"data": str(args.data), **runs_to_json(runs, config)},
                                      indent=2))
    print(f"\nwrote {args.output}")
    return 0
