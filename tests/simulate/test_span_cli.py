"""`labelloop simulate` on span data: detection from the spans key, results.json, the refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from tests.simulate.span_corpus import span_corpus

from labelloop.cli import simulate as simulate_cli


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    simulate_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def _write(path: Path, *, field: str = "spans") -> Path:
    texts, spans = span_corpus(100, seed=3)
    rows = [{"text": t, field: [{"start": s.start, "end": s.end, "label": s.label} for s in f]}
            for t, f in zip(texts, spans)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def span_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("data") / "ner.jsonl")


def test_span_data_is_detected_from_the_spans_key(span_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, plot = tmp_path / "results.json", tmp_path / "curve.png"
    code = _run(["simulate", "--data", str(span_file), "--strategies", "random,default",
                 "--batch-size", "10", "--budget", "30", "--seeds", "2", "--output", str(out),
                 "--plot", str(plot), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["task"] == "spans" and doc["n_train"] + doc["n_test"] == 100
    assert doc["class_labels"] == ["LOC", "ORG", "PER"]
    assert set(doc["strategies"]) == {"random", "default"}
    for entry in doc["strategies"].values():
        assert entry["labels"] == [10, 20, 30]
        f1 = np.asarray(entry["span_f1"])
        assert f1.shape == (2, 3) and ((f1 >= 0) & (f1 <= 1)).all()
        assert np.asarray(entry["accuracy"]).shape == (2, 3)  # the classic keys stay
        assert entry["invalid_spans"] == 0
    assert doc["invalid_spans"] == 0 and 0.9 < doc["full_pool_span_f1"] <= 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "default span-F1" in printed and "labels to random's span-F1 at 30" in printed


def test_task_spans_with_another_field(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "ents.jsonl", field="entities")
    out = tmp_path / "r.json"
    argv = ["simulate", "--data", str(path), "--strategies", "uncertainty", "--batch-size", "10",
            "--budget", "10", "--seeds", "1", "--output", str(out), "--no-cache",
            "--no-progress"]
    # not detected (no "spans" key): read as class data, which has no label field
    assert _run(argv) == 2
    assert "'label' must hold one label" in capsys.readouterr().err
    assert _run([*argv, "--task", "spans", "--spans-field", "entities"]) == 0
    doc = json.loads(out.read_text())
    assert doc["task"] == "spans" and list(doc["strategies"]) == ["uncertainty"]


@pytest.mark.parametrize("extra, message", [
    (["--strategies", "committee"], "not for span data"),
    (["--llm-model", "m"], "--llm-base-url and --llm-model go together"),
])
def test_span_data_refuses_what_it_does_not_do(span_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               extra: list[str], message: str) -> None:
    assert _run(["simulate", "--data", str(span_file), "--output", str(tmp_path / "r.json"),
                 "--no-cache", "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_span_strategy_on_class_data_is_refused(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"t {i}", "label": i % 2}) for i in range(20)))
    assert _run(["simulate", "--data", str(path), "--strategies", "disagreement",
                 "--output", str(tmp_path / "r.json"), "--no-cache", "--no-progress"]) == 2
    assert "only for span data" in capsys.readouterr().err


def test_span_data_with_the_loopback_llm(tmp_path: Path) -> None:
    """--llm-* on span data: every train text's entities come from the LLM through the real
    client, are located in the text by labelloop and feed disagreement and the cold start; the
    LLM's own span-F1 on the train texts is reported (one entity per text is mislabelled)."""
    from tests.fakes.llm_server import FakeLLM

    texts, spans = span_corpus(100, seed=3)
    path = _write(tmp_path / "ner.jsonl")
    entities = {}
    for t, found in zip(texts, spans):
        named = [(t[s.start:s.end], s.label) for s in found]
        if named:  # the first entity's label is wrong: the LLM is not the gold
            named[0] = (named[0][0], "ORG" if named[0][1] != "ORG" else "PER")
        entities[t] = named
    out = tmp_path / "r.json"
    with FakeLLM(entities=entities, labels=["LOC", "ORG", "PER"]) as llm:
        code = _run(["simulate", "--data", str(path), "--strategies", "default,disagreement",
                     "--batch-size", "10", "--budget", "20", "--seeds", "1",
                     "--llm-base-url", llm.url, "--llm-model", "fake", "--output", str(out),
                     "--no-cache", "--no-progress"])
        calls = llm.calls
    assert code == 0
    # the train texts were asked (a repeated text is answered from the cache; the capability
    # probes are calls too)
    assert calls > len(set(texts)) // 2
    doc = json.loads(out.read_text())
    assert set(doc["strategies"]) == {"default", "disagreement"} and doc["invalid_spans"] == 0
    n_spans = sum(len(f) for f in spans)
    n_texts = sum(1 for f in spans if f)
    wrong_share = n_texts / n_spans  # one wrong label per text with entities
    assert doc["llm"]["train_span_f1"] == pytest.approx(1 - wrong_share, abs=0.08)
