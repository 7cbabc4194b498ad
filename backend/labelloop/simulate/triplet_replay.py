"""``labelloop simulate --task triplets``: hard-triplet active learning replayed on labelled
texts, hard mining against random triplets.

Class labels play the judge: a candidate is similar to the anchor when it has the anchor's
class, so a triplet is judged ``"first"``/``"second"`` when exactly one candidate shares it and
``"tie"`` otherwise (a tie costs a judgement and trains nothing). Per strategy and seed, the
encoder starts from ``base``; every round asks ``per_round`` new triplets about the train split
(hard: :func:`~labelloop.triplets.mining.mine_hard_triplets` on the current encoder's vectors;
random: :func:`~labelloop.triplets.mining.random_triplets`), then trains the current encoder
once more on every judged triplet so far within the CPU budget
(:func:`~labelloop.triplets.finetune.train_on_triplets`), and scores retrieval on the held-out
split, each held-out item a query against the others: recall@k (``"capped"``: the share of the
k nearest that share the class, out of at most k — with a few large classes, the ``"hit"``
recall, at least one among the k nearest, is near 1 for any encoder; both are kept), and MRR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from labelloop.embeddings.finetune import load_encoder
from labelloop.errors import InvalidInput
from labelloop.triplets.finetune import TripletLossName, train_on_triplets
from labelloop.triplets.mining import (
    Judgement,
    Triplet,
    mine_hard_triplets,
    random_triplets,
    training_triplets,
)
from labelloop.triplets.retrieval import mean_reciprocal_rank, recall_at_k

TripletStrategy = Literal["hard", "spread", "random"]
TRIPLET_STRATEGIES: tuple[str, ...] = get_args(TripletStrategy)


@dataclass(frozen=True)
class TripletReplayConfig:
    strategies: tuple[TripletStrategy, ...] = ("hard", "random")
    per_round: int = 50
    rounds: int = 6
    seeds: int = 2
    budget_s: float = 60.0  # CPU seconds per fine-tune
    loss: TripletLossName = "triplet"
    margin: float = 0.3
    lr: float = 1e-4
    epochs: int = 2  # passes over the judged triplets per round, within the budget
    batch_size: int = 16
    spread: float = 1.0  # the "spread" strategy's weight on the candidates' own cosine
    neighbours: int = 10
    k: int = 10
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.per_round < 1 or self.rounds < 1 or self.seeds < 1 or self.budget_s <= 0:
            raise InvalidInput("per_round, rounds, seeds must be >= 1 and budget_s > 0")
        unknown = [s for s in self.strategies if s not in TRIPLET_STRATEGIES]
        if unknown or not self.strategies:
            raise InvalidInput(f"strategies are from {TRIPLET_STRATEGIES}, got {unknown}")


@dataclass(frozen=True)
class RoundPoint:
    """After ``judgements`` judgements (``informative`` of them not ties): held-out retrieval
    and the round's fine-tune (0 steps at the start)."""

    judgements: int
    informative: int
    recall: float
    recall_hit: float
    mrr: float
    steps: int = 0
    cpu_seconds: float = 0.0


@dataclass
class TripletRun:
    strategy: TripletStrategy
    seed: int
    points: list[RoundPoint] = field(default_factory=list)


def oracle_judgements(triplets: Sequence[Triplet], y: np.ndarray) -> list[Judgement]:
    """Same class = similar: the candidate that alone shares the anchor's class is closer;
    both or neither is a tie."""
    out: list[Judgement] = []
    for t in triplets:
        a, b = y[t.first] == y[t.anchor], y[t.second] == y[t.anchor]
        out.append("tie" if a == b else "first" if a else "second")
    return out


def _encode(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


def _score(model: Any, texts: list[str], groups: np.ndarray, k: int) -> tuple[float, float,
                                                                               float]:
    x = _encode(model, texts)
    return (recall_at_k(x, x, groups, groups, k=k, exclude_self=True, kind="capped"),
            recall_at_k(x, x, groups, groups, k=k, exclude_self=True, kind="hit"),
            mean_reciprocal_rank(x, x, groups, groups, exclude_self=True))


def _ask(strategy: TripletStrategy, model: Any, texts: list[str], n: int,
         asked: list[Triplet], config: TripletReplayConfig,
         rng: np.random.Generator) -> list[Triplet]:
    if strategy == "random":
        return random_triplets(len(texts), n, rng=rng, exclude=asked)
    mined = mine_hard_triplets(_encode(model, texts), n, rng=rng,
                               neighbours=config.neighbours, exclude=asked,
                               spread=config.spread if strategy == "spread" else 0.0)
    return [m.triplet for m in mined]


def replay_run(texts: Sequence[str], y: np.ndarray, train: np.ndarray, test: np.ndarray, *,
               base: Path, strategy: TripletStrategy, seed: int, config: TripletReplayConfig,
               step: Callable[[], None] | None = None) -> TripletRun:
    """One strategy, one seed: ``config.rounds`` rounds of ``config.per_round`` judgements on
    the ``train`` positions, retrieval on the ``test`` positions after each."""
    import torch

    rng = np.random.default_rng([seed, TRIPLET_STRATEGIES.index(strategy)])
    pool = [texts[i] for i in train.tolist()]
    pool_y, test_y = np.asarray(y)[train], np.asarray(y)[test]
    held_out = [texts[i] for i in test.tolist()]
    previous = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        model = load_encoder(base)
        run = TripletRun(strategy, seed, [RoundPoint(0, 0, *_score(model, held_out, test_y,
                                                                     config.k))])
        asked: list[Triplet] = []
        judged: list[Judgement] = []
        for _ in range(config.rounds):
            new = _ask(strategy, model, pool, config.per_round, asked, config, rng)
            asked += new
            judged += oracle_judgements(new, pool_y)
            train_on = training_triplets(asked, judged)
            steps, cpu = 0, 0.0
            if train_on:
                stats = train_on_triplets(model, pool, train_on, budget_s=config.budget_s,
                                          rng=rng, loss=config.loss, margin=config.margin,
                                          lr=config.lr, batch_size=config.batch_size,
                                          epochs=config.epochs,
                                          threads=config.threads)
                steps, cpu = stats.steps, stats.cpu_seconds
            run.points.append(RoundPoint(len(asked), len(train_on),
                                         *_score(model, held_out, test_y, config.k),
                                         steps=steps, cpu_seconds=cpu))
            if step is not None:
                step()
    finally:
        torch.set_num_threads(previous)
    return run


def replay_triplets(texts: Sequence[str], y: np.ndarray, train: np.ndarray, test: np.ndarray,
                    *, base: Path, config: TripletReplayConfig,
                    step: Callable[[], None] | None = None) -> list[TripletRun]:
    """Every strategy of ``config`` for every seed (:func:`replay_run`)."""
    if train.size < 3 or test.size < 2:
        raise InvalidInput("the replay needs at least 3 train and 2 test texts")
    return [replay_run(texts, y, train, test, base=base, strategy=s, seed=seed, config=config,
                       step=step)
            for seed in range(config.seeds) for s in config.strategies]


def _curve(runs: Sequence[TripletRun], strategy: str, metric: str) -> tuple[list[int],
                                                                          np.ndarray]:
    """Judgement counts and the metric per run at each, for runs of ``strategy``."""
    mine = [r for r in runs if r.strategy == strategy]
    if not mine:
        return [], np.empty((0, 0))
    counts = [p.judgements for p in mine[0].points]
    values = np.array([[getattr(p, metric) for p in r.points] for r in mine])
    return counts, values


def judgements_to_reach(runs: Sequence[TripletRun], strategy: str, target: float, *,
                        metric: str = "recall") -> int | None:
    """The first judgement count after the start where ``strategy``'s mean ``metric`` over
    seeds is at least ``target``; None when it never is."""
    counts, values = _curve(runs, strategy, metric)
    if not counts:
        return None
    mean = values.mean(axis=0)
    hit = np.flatnonzero((mean >= target - 1e-12) & (np.array(counts) > 0))
    return counts[int(hit[0])] if hit.size else None


def reach_ratio(runs: Sequence[TripletRun], *, metric: str = "recall",
                strategy: str = "hard", baseline: str = "random"
                ) -> tuple[float, int, int | None] | None:
    """(``baseline``'s final mean ``metric``, its judgements, ``strategy``'s judgements to reach
    it or None); None without both strategies."""
    counts, values = _curve(runs, baseline, metric)
    if not counts or not _curve(runs, strategy, metric)[0]:
        return None
    target = float(values.mean(axis=0)[-1])
    return target, counts[-1], judgements_to_reach(runs, strategy, target, metric=metric)


def triplet_table(runs: Sequence[TripletRun], *, k: int = 10) -> str:
    """Markdown: per judgement count, each strategy's capped recall@k and MRR (mean ± std over
    seeds) and informative judgements; then, per mining strategy, the judgements it needs to
    reach random's final values (hit recall@k stays in the JSON: near 1 with few classes)."""
    strategies = list(dict.fromkeys(r.strategy for r in runs))
    head = "| judgements | " + " | ".join(
        f"{s} recall@{k} | {s} MRR | {s} informative" for s in strategies) + " |"
    rows = [head, "|---" * (1 + 3 * len(strategies)) + "|"]
    counts = _curve(runs, strategies[0], "recall")[0] if strategies else []
    for i, n in enumerate(counts):
        cells = [str(n)]
        for s in strategies:
            for metric in ("recall", "mrr", "informative"):
                v = _curve(runs, s, metric)[1][:, i]
                cells.append(f"{v.mean():.0f}" if metric == "informative"
                             else f"{v.mean():.3f} ± {v.std():.3f}")
        rows.append("| " + " | ".join(cells) + " |")
    rows.append("")
    for strategy in [s for s in strategies if s != "random"]:
        for metric, name in (("recall", f"recall@{k}"), ("mrr", "MRR")):
            ratio = reach_ratio(runs, metric=metric, strategy=strategy)
            if ratio is None:
                continue
            target, spent, needed = ratio
            start = float(_curve(runs, "random", metric)[1].mean(axis=0)[0])
            note = "" if target > start else f" (random ends at or below its start, {start:.3f})"
            rows.append(f"- {strategy} reaches random's final {name} ({target:.3f} at {spent} "
                        "judgements" + note + ") " +
                        (f"at {needed} judgements: {needed / spent:.2f}×" if needed is not None
                         else f"not within {counts[-1]} judgements"))
    return "\n".join(rows)


def runs_to_json(runs: Sequence[TripletRun], config: TripletReplayConfig) -> dict[str, Any]:
    ratio = reach_ratio(runs)
    return {"config": asdict(config),
            "runs": [{"strategy": r.strategy, "seed": r.seed,
                      "points": [asdict(p) for p in r.points]} for r in runs],
            "reach": None if ratio is None else {"target": ratio[0], "random_judgements":
                                                 ratio[1], "hard_judgements": ratio[2]}}
