"""``labelloop label`` and ``labelloop estimate`` on a span config (``<Labels>`` on ``<Text>``),
against the fake server; the few-shot pool of a stored span project; migration 13."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.llm.pool import example_pool
from labelloop.storage.base import open_storage
from labelloop.storage.records import Annotation
from labelloop.storage.records_llm import LlmLabel
from tests.llm.test_cli import clean_env, parser
from tests.llm.test_spans import ENTITIES, EXPECTED, NER_CONFIG, REPEATED


def ner_region(start: int, end: int, text: str, label: str) -> dict:
    return {"from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def ann(aid: int, task_id: int, result: list[dict]) -> Annotation:
    return Annotation(id=aid, task_id=task_id, project_id=1, completed_by=1, result=result,
                      was_cancelled=False, ground_truth=False, lead_time=None,
                      ls_updated_at=None)


@pytest.fixture
def span_files(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "ner.xml"
    config.write_text(NER_CONFIG)
    data = tmp_path / "tasks.jsonl"
    data.write_text("".join(json.dumps({"id": 10 + i, "data": {"text": t}}) + "\n"
                            for i, t in enumerate(ENTITIES)))
    examples = tmp_path / "annotated.json"
    examples.write_text(json.dumps([
        {"id": 1, "data": {"text": "Maria lives in Oslo."}, "annotations": [{"result": [
            ner_region(0, 5, "Maria", "PER"), ner_region(15, 19, "Oslo", "LOC")]}]},
        {"id": 2, "data": {"text": "Broken offsets."}, "annotations": [{"result": [
            ner_region(0, 99, "Broken", "PER")]}]},
    ]))
    return {"config": config, "data": data, "examples": examples,
            "out": tmp_path / "out.jsonl", "dir": tmp_path / "state"}


def test_label_writes_valid_span_predictions(fake_llm, span_files, monkeypatch,
                                             capsys) -> None:
    clean_env(monkeypatch)
    server = fake_llm({}, entities=ENTITIES, confidence=0.9)
    common = ["--config", str(span_files["config"]), "--data-dir", str(span_files["dir"]),
              "--model", "m", "--base-url", server.url]
    args = parser().parse_args(["label", "--data", str(span_files["data"]), "--output",
                                str(span_files["out"]), "--no-progress",
                                "--examples", str(span_files["examples"]), *common])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "labeled 5/5 tasks with llm-m-p" in out
    assert "entities dropped: not_found=1, unknown_label=1" in out
    schema = parse_label_config(NER_CONFIG)
    rows = [json.loads(x) for x in span_files["out"].read_text().splitlines()]
    for row in rows:
        text = row["data"]["text"]
        spans = [Span(s["start"], s["end"], s["label"]) for s in row["llm"]["spans"]]
        assert spans == EXPECTED[text]
        validate_spans(text, spans, labels=schema.labels)
        for pred in row["predictions"]:
            validate_result(schema, pred["result"], text=text)
            assert all(r["score"] == pytest.approx(0.9) for r in pred["result"])
    assert rows[0]["predictions"][0]["result"][0]["value"] == {
        "start": 0, "end": 5, "text": "Paris", "labels": ["LOC"]}
    assert any(d["reason"] == "not_found" for r in rows for d in r["llm"]["dropped"])
    # the annotated example (the broken one left out) is shown as an answer
    assert '"text": "Maria", "label": "Person"' in server.requests[-1]["messages"][1]["content"]
    assert "Broken offsets." not in server.requests[-1]["messages"][1]["content"]

    calls = server.calls
    args = parser().parse_args(["estimate", "--data", str(span_files["data"]), *common])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert server.calls == calls
    assert "tasks with text: 5  already cached: 0  to label: 5" in out  # other examples
    args = parser().parse_args(["label", "--data", str(span_files["data"]), "--output",
                                str(span_files["out"]), "--no-progress", *common])
    args.func(args)
    capsys.readouterr()
    args = parser().parse_args(["estimate", "--data", str(span_files["data"]), *common])
    args.func(args)
    out = capsys.readouterr().out
    assert "already cached: 5  to label: 0" in out
    assert next(x for x in out.splitlines() if x.startswith("logprobs")).endswith(
        "<- this endpoint")


def test_estimate_a_span_file_before_any_call(span_files, monkeypatch, capsys) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("LABELLOOP_LLM_PRICES", '{"gpt-4o-mini": [0.15, 0.6]}')
    args = parser().parse_args([
        "estimate", "--data", str(span_files["data"]), "--config", str(span_files["config"]),
        "--data-dir", str(span_files["dir"]), "--model", "gpt-4o-mini",
        "--base-url", "http://127.0.0.1:9/v1", "--samples", "3"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "tasks with text: 5" in out
    line = next(x for x in out.splitlines() if x.startswith("logprobs"))
    calls, prompt, output = (int(x) for x in line.split()[1:4])
    assert calls == 5 and prompt > 5 * 60 and output >= 5 * 16
    sc = next(x for x in out.splitlines() if x.startswith("self-consistency, 3 calls"))
    assert int(sc.split()[3]) == 15


def test_stored_project_pool_uses_consensus_spans_and_llm_mistakes(tmp_path: Path) -> None:
    schema = parse_label_config(NER_CONFIG)
    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    texts = {1: REPEATED, 2: "Maria lives in Oslo.", 3: "Nothing here."}
    try:
        with storage.write() as tx:
            tx.save_project(1, label_config=NER_CONFIG, supported=True,
                            schema=schema.to_json())
            tx.upsert_tasks(1, [{"id": i, "data": {"text": t}} for i, t in texts.items()])
            tx.upsert_annotations([
                ann(11, 1, [ner_region(0, 5, "Paris", "LOC"), ner_region(10, 14, "Anna", "PER")]),
                ann(12, 2, [ner_region(15, 19, "Oslo", "LOC")]),
                ann(13, 3, []),
            ], source="test")
            tx.save_llm_labels([LlmLabel(1, 1, "v", ["LOC", "PER"], None, None, "unknown",
                                         spans={"spans": [{"start": 0, "end": 5,
                                                           "label": "LOC", "score": None},
                                                          {"start": 10, "end": 14,
                                                           "label": "PER", "score": None}],
                                                "dropped": []}),
                                LlmLabel(1, 2, "v", [], None, None, "unknown",
                                         spans={"spans": [], "dropped": []})])
        with storage.read() as tx:
            pool = example_pool(tx, 1, schema, model_version="v")
    finally:
        storage.close()
    assert pool.texts == [REPEATED, "Maria lives in Oslo."]  # no entities: not an example
    assert pool.entities == [[("Paris", "LOC"), ("Anna", "PER")], [("Oslo", "LOC")]]
    assert pool.labels == [["LOC", "PER"], ["LOC"]]
    assert pool.llm_wrong is not None and list(pool.llm_wrong) == [False, True]


def test_migration_13_adds_the_spans_column_to_an_older_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    open_storage(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE llm_labels DROP COLUMN spans"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 13"))
    engine.dispose()
    storage = open_storage(url)
    try:
        with storage.write() as tx:
            tx.save_llm_labels([LlmLabel(1, 1, "v", ["PER"], None, 0.5, "logprobs",
                                         spans={"spans": [], "dropped": []})])
        with storage.read() as tx:
            assert tx.get_llm_labels(1)[1].spans == {"spans": [], "dropped": []}
    finally:
        storage.close()
