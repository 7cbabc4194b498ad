"""`labelloop simulate --objective dataset` end to end on a tiny JSONL with precomputed LLM
columns (real embedder), and the reader of those columns."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from tests.datasets import rotten_tomatoes

from labelloop.cli import simulate as simulate_cli
from labelloop.simulate.data import InvalidDataFile
from labelloop.simulate.pipeline import precomputed_llm_probas


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    simulate_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def llm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """250 snippets; an LLM right on 80 % of them, more confident when right."""
    data = rotten_tomatoes(250, seed=1)
    rng = np.random.default_rng(0)
    classes = data.label_set
    rows: list[dict[str, object]] = []
    for text, gold in zip(data.texts, data.labels):
        right = rng.random() < 0.8
        answer = gold if right else str(rng.choice([c for c in classes if c != gold]))
        conf = rng.uniform(0.6, 1.0) if right else rng.uniform(0.4, 0.8)
        rows.append({"text": text, "label": gold, "llm": answer, "llm_conf": round(conf, 3)})
    return _write(tmp_path_factory.mktemp("data") / "rt-llm.jsonl", rows)


def test_cli_dataset_objective_with_precomputed_llm(llm_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    code = _run(["simulate", "--data", str(llm_file), "--objective", "dataset",
                 "--llm-label-field", "llm", "--llm-confidence-field", "llm_conf",
                 "--strategies", "random,llm_confidence,dataset,default", "--fractions", "10,20",
                 "--batch-size", "10", "--seeds", "2", "--output", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc["strategies"]) == {"random", "llm_confidence", "dataset", "default"}
    assert doc["n_train"] == 200 and doc["budget"] == 40
    assert doc["llm"]["train_accuracy"] == pytest.approx(0.8, abs=0.08)
    for s in doc["strategies"].values():
        assert s["labels"] == [20, 40]
        assert np.asarray(s["accuracy"]).shape == (2, 2)  # the model's test accuracy: kept
        acc = np.asarray(s["dataset_accuracy"])
        assert acc.shape == (2, 2) and np.all((acc > 0.5) & (acc <= 1.0))
        iv = np.asarray(s["estimated_interval"])
        assert iv.shape == (2, 2, 2) and np.all(iv[..., 0] <= iv[..., 1])
    # reviewed tasks are gold: random review keeps the LLM's share right on the rest
    rand = np.asarray(doc["strategies"]["random"]["dataset_accuracy"])
    assert np.all(rand[:, 1] >= rand[:, 0] - 0.02) and np.all(rand > 0.7)
    printed = capsys.readouterr().out
    assert "llm_confidence dataset acc" in printed and "interval coverage" in printed


def test_cli_dataset_objective_needs_an_llm(llm_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["simulate", "--data", str(llm_file), "--objective", "dataset",
                 "--output", str(tmp_path / "r.json"), "--no-progress"])
    assert code == 2
    assert "needs an LLM" in capsys.readouterr().err
    code = _run(["simulate", "--data", str(llm_file), "--objective", "dataset",
                 "--llm-label-field", "llm", "--strategies", "uncertainty",
                 "--output", str(tmp_path / "r.json"), "--no-progress"])
    assert code == 2
    assert "not for the dataset objective" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0,10", "abc", "120"])
def test_bad_fractions(value: str, llm_file: Path) -> None:
    with pytest.raises(SystemExit):
        _run(["simulate", "--data", str(llm_file), "--objective", "dataset", "--fractions",
              value])


def test_precomputed_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [
        {"text": "a", "label": "x", "llm": "y", "conf": 0.7},
        {"text": "b", "label": "y"},
        {"text": "c", "label": "z", "llm": "z"},
    ])
    p = precomputed_llm_probas(path, ["x", "y", "z"], label_field="llm", confidence_field="conf")
    np.testing.assert_allclose(p[0], [0.15, 0.7, 0.15])
    assert np.isnan(p[1]).all()
    np.testing.assert_allclose(p[2], [0.0, 0.0, 1.0])  # no confidence: taken as 1
    bad = _write(tmp_path / "bad.jsonl", [{"text": "a", "label": "x", "llm": "w"}])
    with pytest.raises(InvalidDataFile, match="not one of the labels"):
        precomputed_llm_probas(bad, ["x", "y"], label_field="llm", confidence_field=None)
    worse = _write(tmp_path / "worse.jsonl", [{"text": "a", "label": "x", "llm": "x", "c": 2}])
    with pytest.raises(InvalidDataFile, match="number in"):
        precomputed_llm_probas(worse, ["x", "y"], label_field="llm", confidence_field="c")
