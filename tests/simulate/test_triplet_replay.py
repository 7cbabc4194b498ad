"""``simulate --task triplets`` (:mod:`labelloop.simulate.triplet_replay` and the CLI) on the
tiny offline sentence-transformer: the oracle's judgements, rounds and their counts, the reach
ratio, the table and ``results.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from tests.embeddings.st_tiny import build_tiny_sentence_transformer

from labelloop.cli import simulate as simulate_cli
from labelloop.errors import InvalidInput
from labelloop.simulate.triplet_replay import (
    RoundPoint,
    TripletReplayConfig,
    TripletRun,
    judgements_to_reach,
    oracle_judgements,
    reach_ratio,
    replay_triplets,
    triplet_table,
)
from labelloop.triplets.mining import Triplet

GOOD = ["good", "great", "fine", "lovely", "superb", "fun"]
BAD = ["bad", "awful", "poor", "dull", "boring", "ugly"]


def _corpus(n: int = 48) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(GOOD if i % 2 == 0 else BAD, size=3)) + " movie"
             for i in range(n)]
    return texts, np.arange(n) % 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


def test_the_oracle_judges_by_class():
    y = np.array([0, 0, 1, 1, 0])
    ts = [Triplet(0, 1, 2), Triplet(0, 2, 1), Triplet(0, 1, 4), Triplet(0, 2, 3)]
    assert oracle_judgements(ts, y) == ["first", "second", "tie", "tie"]


def _run(strategy: str, seed: int, recalls: list[float]) -> TripletRun:
    return TripletRun(strategy, seed, [RoundPoint(50 * i, 20 * i, r, 1.0, r)  # type: ignore[arg-type]
                                       for i, r in enumerate(recalls)])


def test_judgements_to_reach_and_the_ratio_use_the_mean_over_seeds():
    runs = [_run("hard", 0, [0.5, 0.6, 0.7, 0.8]), _run("hard", 1, [0.5, 0.5, 0.66, 0.8]),
            _run("random", 0, [0.5, 0.55, 0.6, 0.65]), _run("random", 1, [0.5, 0.55, 0.6, 0.67])]
    assert judgements_to_reach(runs, "hard", 0.66) == 100  # mean 0.68 at 100, 0.55 at 50
    assert judgements_to_reach(runs, "hard", 0.9) is None
    target, spent, needed = reach_ratio(runs)  # type: ignore[misc]
    assert target == pytest.approx(0.66) and spent == 150 and needed == 100
    table = triplet_table(runs)
    assert "| 150 | 0.800 ± 0.000 | 0.800 ± 0.000 | 60 | 0.660 ± 0.010 |" in table
    assert "- hard reaches random's final recall@10 (0.660 at 150 judgements) at 100 " \
        "judgements: 0.67×" in table
    # a target already met at the start does not count: the search starts after it
    flat = [_run("hard", 0, [0.7, 0.6, 0.6, 0.6]), _run("random", 0, [0.7, 0.6, 0.6, 0.5])]
    assert judgements_to_reach(flat, "hard", 0.5) == 50
    assert "random ends at or below its start, 0.700" in triplet_table(flat)
    assert reach_ratio([r for r in runs if r.strategy == "hard"]) is None


def test_the_replay_runs_rounds_and_scores_the_held_out_split(tiny):
    texts, y = _corpus()
    train, test = np.arange(0, 32), np.arange(32, 48)
    ticks: list[int] = []
    config = TripletReplayConfig(per_round=12, rounds=2, seeds=2, budget_s=30.0, lr=5e-3,
                                 neighbours=6, threads=1)
    runs = replay_triplets(texts, y, train, test, base=tiny, config=config,
                           step=lambda: ticks.append(1))
    assert [(r.strategy, r.seed) for r in runs] == [("hard", 0), ("random", 0), ("hard", 1),
                                                    ("random", 1)]
    assert len(ticks) == 8
    for run in runs:
        assert [p.judgements for p in run.points] == [0, 12, 24]
        assert run.points[-1].steps <= 2 * 2  # two passes over at most 24 - 1 triplets
        assert run.points[0].steps == 0
        for p in run.points[1:]:
            assert 0 < p.informative <= p.judgements and p.steps >= 1
        for p in run.points:
            assert 0.0 <= p.recall <= 1.0 and 0.0 < p.mrr <= 1.0
            assert p.recall <= p.recall_hit + 1e-12
        assert run.points[-1].recall != run.points[0].recall  # training moved the encoder
    # the same seed gives the same run
    again = replay_triplets(texts, y, train, test, base=tiny, config=config)
    def strip(rs: list[TripletRun]) -> list[list[tuple[int, int, float, float, int]]]:
        return [[(p.judgements, p.informative, p.recall, p.mrr, p.steps) for p in r.points]
                for r in rs]

    assert strip(again) == strip(runs)  # CPU seconds aside


def test_bad_configs_are_refused():
    with pytest.raises(InvalidInput):
        TripletReplayConfig(strategies=("hardest",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        TripletReplayConfig(rounds=0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    simulate_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_the_cli_writes_the_table_and_results(tiny, tmp_path: Path, capsys):
    texts, y = _corpus(40)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": ["good", "bad"][c]}) + "\n"
                            for t, c in zip(texts, y, strict=True)))
    out = tmp_path / "results.json"
    args = _parser().parse_args(
        ["simulate", "--data", str(data), "--task", "triplets", "--budget", "20",
         "--triplets-per-round", "10", "--seeds", "1", "--triplet-budget", "20",
         "--triplet-encoder", str(tiny), "--triplet-loss", "triplet", "--torch-threads", "1",
         "--no-progress", "--output", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| judgements | hard recall@10 |" in printed and "| 20 |" in printed
    doc = json.loads(out.read_text())
    assert doc["config"]["rounds"] == 2 and doc["config"]["loss"] == "triplet"
    assert [r["strategy"] for r in doc["runs"]] == ["hard", "random"]
    assert [p["judgements"] for p in doc["runs"][0]["points"]] == [0, 10, 20]
    assert set(doc["reach"]) == {"target", "random_judgements", "hard_judgements"}
