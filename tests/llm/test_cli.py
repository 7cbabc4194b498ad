"""``labelloop label`` and ``labelloop estimate``: parsers and runs against the fake server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from labelloop.cli import estimate as estimate_cli
from labelloop.cli import label as label_cli
from labelloop.storage.base import open_storage
from labelloop.storage.records import Annotation
from tests.llm.conftest import CONFIG, GOLD


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labelloop")
    sub = p.add_subparsers(dest="command")
    label_cli.register(sub)
    estimate_cli.register(sub)
    return p


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    data = tmp_path / "tasks.jsonl"
    lines = [json.dumps({"id": 10 + i, "data": {"text": t}}) for i, t in enumerate(GOLD)]
    lines.append(json.dumps({"text": "bare data, no id"}))
    lines.append(json.dumps({"id": 99, "data": {"title": "no text field"}}))
    data.write_text("\n".join(lines) + "\n")
    examples = tmp_path / "labeled.json"
    examples.write_text(json.dumps([
        {"id": 1, "data": {"text": "Superb."}, "annotations": [{"result": [
            {"from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": ["positive"]}}]}]},
        {"id": 2, "data": {"text": "Awful."}, "annotations": [{"result": [
            {"from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": ["negative"]}}]}]},
        {"id": 3, "data": {"text": "Skipped."}, "annotations": [{"was_cancelled": True}]},
    ]))
    return {"config": config, "data": data, "examples": examples,
            "out": tmp_path / "out.jsonl", "dir": tmp_path / "state"}


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LABELLOOP_LLM_MODEL",
                "AZURE_OPENAI_ENDPOINT", "LABELLOOP_LLM_PROMPTS_DIR", "LABELLOOP_LLM_BUDGET_USD"):
        monkeypatch.delenv(var, raising=False)


def test_parsers() -> None:
    args = parser().parse_args(["label", "--data", "t.jsonl", "--config", "c.xml", "--output",
                                "o.jsonl", "--model", "m", "--concurrency", "3"])
    assert args.func is label_cli.run and args.concurrency == 3 and args.batch_size == 1000
    args = parser().parse_args(["estimate", "--project", "4", "--samples", "3"])
    assert args.func is estimate_cli.run and args.project == 4 and args.samples == 3
    with pytest.raises(SystemExit):
        parser().parse_args(["estimate", "--project", "4", "--data", "x"])  # one source
    with pytest.raises(SystemExit):
        parser().parse_args(["label", "--data", "x", "--config", "c"])  # --output missing


def test_label_writes_predictions_and_resumes_from_the_cache(
        fake_llm, files, monkeypatch, capsys) -> None:
    clean_env(monkeypatch)
    server = fake_llm()
    argv = ["label", "--data", str(files["data"]), "--config", str(files["config"]),
            "--output", str(files["out"]), "--data-dir", str(files["dir"]), "--model", "m",
            "--base-url", server.url, "--no-progress", "--batch-size", "3",
            "--examples", str(files["examples"])]
    args = parser().parse_args(argv)
    assert args.func(args) == 0
    rows = [json.loads(line) for line in files["out"].read_text().splitlines()]
    assert [r["id"] for r in rows] == [10, 11, 12, 13, 14, 15, 7, 99]
    assert rows[-1]["predictions"] == [] and "no text in data.text" in rows[-1]["llm"]["failure"]
    for row, gold in zip(rows, GOLD.values()):
        pred = row["predictions"][0]
        assert pred["result"][0]["value"]["choices"] == [gold]
        assert pred["model_version"].startswith("llm-m-p") and 0 < pred["score"] <= 1
        assert row["llm"]["confidence_method"] == "logprobs"
    assert "Superb." in server.requests[-1]["messages"][1]["content"]  # few-shot examples
    summary = capsys.readouterr().out
    assert "labeled 7/8 tasks" in summary and "calls: 7" in summary
    assert "failed: no_input=1" in summary
    assert "cost: unknown" in summary
    calls = server.calls
    args = parser().parse_args(argv)
    assert args.func(args) == 0
    assert server.calls == calls  # a re-run is all cache hits
    assert "calls: 0  from cache: 7 tasks" in capsys.readouterr().out


def test_label_reports_failures_with_exit_code(fake_llm, files, monkeypatch, capsys) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("LABELLOOP_LLM_MAX_RETRIES", "0")
    server = fake_llm()
    server.inject("500", times=None)
    args = parser().parse_args([
        "label", "--data", str(files["data"]), "--config", str(files["config"]),
        "--output", str(files["out"]), "--data-dir", str(files["dir"]), "--model", "m",
        "--base-url", server.url, "--no-progress"])
    assert args.func(args) == 1
    rows = [json.loads(line) for line in files["out"].read_text().splitlines()]
    assert all(r["predictions"] == [] and r["llm"]["failure"] for r in rows)
    assert "failed: no_input=1, request_failed=7" in capsys.readouterr().out


def test_estimate_a_file_before_any_call(files, monkeypatch, capsys) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("LABELLOOP_LLM_PRICES", '{"gpt-4o-mini": [0.15, 0.6]}')
    args = parser().parse_args([
        "estimate", "--data", str(files["data"]), "--config", str(files["config"]),
        "--data-dir", str(files["dir"]), "--model", "gpt-4o-mini-2024-07-18",
        "--base-url", "http://127.0.0.1:9/v1", "--samples", "5"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "tasks with text: 7  already cached: 0  to label: 7" in out
    assert "capabilities not detected yet" in out
    line = next(x for x in out.splitlines() if x.startswith("logprobs"))
    calls, prompt, output, cost = line.split()[1:5]
    assert int(calls) == 7 and 7 * 40 < int(prompt) < 7 * 200 and int(output) > 0
    assert float(cost.lstrip("$")) == pytest.approx(
        (int(prompt) * 0.15 + int(output) * 0.6) / 1e6, abs=1e-4)
    sc = next(x for x in out.splitlines() if x.startswith("self-consistency, 5 calls"))
    assert int(sc.split()[3]) == 35  # calls


def test_estimate_counts_cached_tasks_and_marks_the_scenario(fake_llm, files, monkeypatch,
                                                             capsys) -> None:
    clean_env(monkeypatch)
    server = fake_llm()
    common = ["--config", str(files["config"]), "--data-dir", str(files["dir"]), "--model", "m",
              "--base-url", server.url]
    args = parser().parse_args(["label", "--data", str(files["data"]), "--output",
                                str(files["out"]), "--no-progress", *common])
    args.func(args)
    more = files["data"].parent / "more.jsonl"
    more.write_text(files["data"].read_text() + json.dumps({"text": "a new one"}) + "\n")
    calls = server.calls
    capsys.readouterr()
    args = parser().parse_args(["estimate", "--data", str(more), *common])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert server.calls == calls  # estimating makes no call
    assert "tasks with text: 8  already cached: 7  to label: 1" in out
    assert next(x for x in out.splitlines() if x.startswith("logprobs")).endswith(
        "<- this endpoint")


def test_estimate_a_stored_project(files, monkeypatch, capsys) -> None:
    clean_env(monkeypatch)
    storage = open_storage(f"sqlite:///{files['dir'] / 'labelloop.db'}")
    with storage.write() as tx:
        tx.save_project(5, title="p", label_config=CONFIG)
        tx.upsert_tasks(5, [{"id": i, "data": {"text": t}} for i, t in enumerate(GOLD, 1)])
        tx.upsert_annotations([Annotation(
            id=1, task_id=1, project_id=5, completed_by=1, was_cancelled=False,
            ground_truth=False, lead_time=None, ls_updated_at="x",
            result=[{"from_name": "sentiment", "to_name": "text", "type": "choices",
                     "value": {"choices": ["positive"]}}])], source="resync")
    storage.close()
    args = parser().parse_args(["estimate", "--project", "5", "--data-dir", str(files["dir"]),
                                "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
    assert args.func(args) == 0
    assert "tasks with text: 5  already cached: 0  to label: 5" in capsys.readouterr().out
