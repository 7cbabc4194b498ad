"""`labelloop simulate` measures the retrain's learning from the LLM's labels (issue 16 part 1):
the same code as the retrain (models/distill.py) inside the engine, with an LLM simulated from
the data (85 % right, wrong on the hard items, confidence AUROC 0.8)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from tests.datasets import rotten_tomatoes
from tests.simulate.conftest import Embedded

from labelloop.cli import simulate as simulate_cli
from labelloop.models.distill import DistillOptions
from labelloop.simulate import SimulatedLlmSource, SimulationConfig, train_test_split
from labelloop.simulate.data import LabeledData
from labelloop.simulate.engine import run_simulation
from labelloop.simulate.pipeline import simulated_llm_probas


def test_the_engine_learns_from_a_good_llm_early_on(rt_small: Embedded) -> None:
    d, x = rt_small.data, rt_small.x
    data = LabeledData(d.texts, d.y(), d.label_set, None)
    train, test = train_test_split(data, test_fraction=0.3, seed=0)
    llm = simulated_llm_probas(x[train], data.y[train], n_classes=3,
                               source=SimulatedLlmSource(0.85), seed=0)
    base = SimulationConfig(strategies=("default",), batch_size=20, budget=60, seeds=2)
    got = {}
    for mode in ("off", "auto"):
        r = run_simulation(x[train], data.y[train], x[test], data.y[test], labels=data.labels,
                           config=replace(base, distill=DistillOptions(mode=mode)),
                           llm_probas=llm)
        got[mode] = r.mean_curve("default")
        assert any("learned from the LLM" in n for n in r.notes) == (mode == "auto")
    # 20-60 labels: the LLM's labels of the pool lift the model (off: human labels only)
    assert got["auto"].mean() > got["off"].mean() + 0.03, got


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    simulate_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_the_cli_learns_from_the_simulated_llm_by_default(tmp_path: Path) -> None:
    data = rotten_tomatoes(250, seed=1)
    path = tmp_path / "rt.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": c})
                              for t, c in zip(data.texts, data.labels)) + "\n")
    out = tmp_path / "results.json"
    assert _run(["simulate", "--data", str(path), "--strategies", "default", "--batch-size",
                 "20", "--budget", "40", "--seeds", "1", "--simulated-llm", "0.85",
                 "--output", str(out), "--cache-dir",
                 str(tmp_path / "cache"), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    notes = " ".join(doc.get("notes") or [])
    assert "learned from the LLM's labels" in notes, doc.get("notes")  # --distill-llm auto
    assert np.asarray(doc["strategies"]["default"]["accuracy"]).shape == (1, 2)
