"""`labelloop simulate` end to end (real embedder, loopback LLM server) and the JSONL reader."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from tests.datasets import rotten_tomatoes

from labelloop.cli import simulate as simulate_cli
from labelloop.simulate import load_jsonl, train_test_split
from labelloop.simulate.data import InvalidDataFile


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    simulate_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def rt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = rotten_tomatoes(250, seed=1)
    rows = [{"review": t, "category": c} for t, c in zip(data.texts, data.labels)]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "rt.jsonl", rows)


def test_cli_without_llm(rt_file: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out, plot = tmp_path / "results.json", tmp_path / "curve.png"
    code = _run(["simulate", "--data", str(rt_file), "--text-field", "review",
                 "--label-field", "category", "--strategies", "random,committee,default",
                 "--batch-size", "10", "--budget", "30", "--seeds", "2", "--output", str(out),
                 "--plot", str(plot), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc["strategies"]) == {"random", "committee", "default"}
    assert doc["n_train"] + doc["n_test"] == 250 and doc["batch_size"] == 10
    assert doc["strategies"]["default"]["labels"] == [10, 20, 30]
    assert np.asarray(doc["strategies"]["random"]["accuracy"]).shape == (2, 3)
    assert doc["committee_fallback"] is True
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert "| labels |" in captured.out and "labels to 95 %" in captured.out
    assert "falls back to the local model alone" in captured.err


def test_cli_with_the_loopback_llm(rt_file: Path, tmp_path: Path) -> None:
    llm_server = pytest.importorskip("tests.fakes.llm_server",
                                     reason="the LLM helper's fake server is not in this tree")
    rows = [json.loads(line) for line in rt_file.read_text().splitlines()]
    gold = {r["review"]: r["category"] for r in rows}
    out = tmp_path / "results.json"
    with llm_server.FakeLLM(gold, noise=0.3, seed=3) as llm:
        code = _run(["simulate", "--data", str(rt_file), "--text-field", "review",
                     "--label-field", "category", "--strategies", "committee,default",
                     "--batch-size", "10", "--budget", "20", "--seeds", "1",
                     "--llm-base-url", llm.url, "--llm-model", "fake", "--output", str(out),
                     "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
        assert llm.calls >= 200  # every train text was labeled by the LLM
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["committee_fallback"] is False
    assert 0.55 < doc["llm"]["train_accuracy"] < 0.85  # noise 0.3


def test_cli_refuses_half_an_llm(rt_file: Path, tmp_path: Path) -> None:
    assert _run(["simulate", "--data", str(rt_file), "--llm-model", "x", "--output",
                 str(tmp_path / "r.json"), "--no-progress"]) == 2


@pytest.mark.parametrize("argv", [["--strategies", "random,best"], ["--batch-size", "5"],
                                  ["--batch-size", "500"], ["--budget", "0"]])
def test_cli_bad_options(argv: list[str], rt_file: Path) -> None:
    with pytest.raises(SystemExit):
        _run(["simulate", "--data", str(rt_file), *argv])


def test_cli_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "a", "label": "x"}])
    assert _run(["simulate", "--data", str(bad), "--no-progress", "--no-cache",
                 "--output", str(tmp_path / "r.json")]) == 2
    assert "two distinct labels" in capsys.readouterr().err


class TestJsonl:
    def test_split_field_overrides_the_fraction(self, tmp_path: Path) -> None:
        rows = [{"text": f"t{i}", "label": i % 2, "split": "test" if i < 3 else "train"}
                for i in range(10)]
        data = load_jsonl(_write_jsonl(tmp_path / "d.jsonl", rows))
        train, test = train_test_split(data, test_fraction=0.5)
        assert test.tolist() == [0, 1, 2] and train.size == 7
        assert data.labels == ["0", "1"]

    def test_stratified_split(self, tmp_path: Path) -> None:
        rows = [{"text": f"t{i}", "label": "a" if i < 80 else "b"} for i in range(100)]
        data = load_jsonl(_write_jsonl(tmp_path / "d.jsonl", rows))
        train, test = train_test_split(data, test_fraction=0.2, seed=0)
        assert test.size == 20 and (data.y[test] == 1).sum() == 4
        assert not set(train) & set(test)

    @pytest.mark.parametrize("line, match", [
        ("not json", "not JSON"), ('["a list"]', "JSON object"), ('{"label": "a"}', "no text"),
        ('{"text": "x", "label": ["a", "b"]}', "one label"),
        ('{"text": "x", "label": "a", "split": "dev"}', "'train' or 'test'")])
    def test_bad_rows_name_the_line(self, tmp_path: Path, line: str, match: str) -> None:
        path = tmp_path / "d.jsonl"
        path.write_text('{"text": "ok", "label": "b"}\n' + line + "\n")
        with pytest.raises(InvalidDataFile, match=match) as info:
            load_jsonl(path)
        assert ":2:" in info.value.message

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidDataFile, match="cannot read"):
            load_jsonl(tmp_path / "nope.jsonl")
