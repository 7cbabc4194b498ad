"""GET /api/projects/{id}/dataset and ``labelloop export``: both formats parse back, every human
label as given and every other task with a machine label, the card, a 10,000-task project
streamed in pieces, and the errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.predict.spans_seed import seed_ner
from tests.quality.seed import LABELS, new_project, seed_big_project, seed_project

from labelloop.cli import export as export_cli
from labelloop.cli.main import main
from labelloop.quality.dataset import prepare_export
from labelloop.quality.dataset_card import dataset_card
from labelloop.quality.dataset_rows import COLUMNS
from labelloop.settings import Settings
from labelloop.storage.base import Storage


def expected(storage: Storage, project_id: int = 1) -> list[dict[str, object]]:
    return [{c: getattr(r, c) for c in COLUMNS} for r in prepare_export(storage, project_id).rows()]


def from_csv(text: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for row in csv.DictReader(io.StringIO(text)):
        out.append({
            "task_id": int(row["task_id"]), "data": json.loads(row["data"]),
            "label": row["label"] or None, "source": row["source"] or None,
            "p_correct": float(row["p_correct"]) if row["p_correct"] else None,
            "n_annotations": int(row["n_annotations"]), "llm_label": row["llm_label"] or None,
            "model_label": row["model_label"] or None, "accepted": row["accepted"] == "true"})
    return out


def test_jsonl_and_csv_over_http(storage: Storage, client_factory) -> None:
    s = seed_project(storage, n_tasks=200, seed=1, with_ops=False)
    client = client_factory()
    want = expected(storage)
    r = client.get("/api/projects/1/dataset")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    assert "project-1-dataset.jsonl" in r.headers["content-disposition"]
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert rows == want and len(rows) == 200
    r = client.get("/api/projects/1/dataset", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    back = from_csv(r.text)
    assert [{**b, "p_correct": pytest.approx(b["p_correct"])} for b in back] == want
    # every human label as given, every other task with a machine label
    humans = {t for t, _ in s.human}
    for row in rows:
        if row["task_id"] in humans:
            assert row["source"] in ("human", "consensus") and row["p_correct"] == 1.0
        else:
            assert row["source"] in ("llm", "model", "ensemble") and row["label"] in LABELS


def test_card_over_http(storage: Storage, client_factory) -> None:
    seed_project(storage, n_tasks=200, seed=2, with_ops=True)
    r = client_factory().get("/api/projects/1/dataset", params={"card": "1"})
    assert r.status_code == 200
    assert r.json() == dataset_card(storage, 1)
    assert r.json()["size"] == 200


def test_errors(storage: Storage, client_factory) -> None:
    new_project(storage, 2, n_tasks=1, config="<View><Image name='i' value='$i'/></View>")
    new_project(storage, 1, n_tasks=1)
    client = client_factory()
    r = client.get("/api/projects/9/dataset")
    assert (r.status_code, r.json()["error"]) == (404, "unknown_project")
    r = client.get("/api/projects/9/dataset", params={"card": "1"})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_project")
    r = client.get("/api/projects/2/dataset")
    assert (r.status_code, r.json()["error"]) == (422, "unsupported_config")
    r = client.get("/api/projects/1/dataset", params={"format": "xml"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")
    r = client.get("/api/projects/1/dataset", params={"format": "parquet"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")
    assert "pyarrow" in r.json()["message"]


def test_ten_thousand_tasks_stream_in_pieces(storage: Storage, client_factory) -> None:
    ids = seed_big_project(storage, 10_000)
    client = client_factory()
    with client.stream("GET", "/api/projects/1/dataset") as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers  # a streamed answer, not one body
        pieces, buffered, seen = 0, "", []
        for chunk in r.iter_text():
            pieces += 1
            buffered += chunk
            *lines, buffered = buffered.split("\n")
            seen += [json.loads(line)["task_id"] for line in lines]
    assert buffered == "" and seen == ids
    assert pieces >= 10_000 // 500  # at least one piece per page of tasks


def test_cli_export(settings: Settings, storage: Storage, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed_project(storage, n_tasks=150, seed=3, with_ops=True)
    want = expected(storage)
    monkeypatch.setattr(export_cli, "settings_from", lambda _args: settings)
    out, card = tmp_path / "d.csv", tmp_path / "card.json"
    assert main(["export", "--project", "1", "--format", "csv", "--output", str(out),
                 "--card", str(card)]) == 0
    assert f"wrote 150 rows to {out}" in capsys.readouterr().out
    back = from_csv(out.read_text(encoding="utf-8"))
    assert [{**b, "p_correct": pytest.approx(b["p_correct"])} for b in back] == want
    assert json.loads(card.read_text()) == dataset_card(storage, 1)
    jsonl = tmp_path / "d.jsonl"
    assert main(["export", "--project", "1", "--output", str(jsonl)]) == 0
    assert [json.loads(x) for x in jsonl.read_text().splitlines()] == want
    assert not (tmp_path / "d.jsonl.part").exists()

    assert main(["export", "--project", "1", "--format", "parquet", "--output",
                 str(tmp_path / "d.parquet")]) == 2
    assert "pyarrow" in capsys.readouterr().err and not (tmp_path / "d.parquet").exists()
    assert main(["export", "--project", "9", "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "project 9 is not known" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.part").exists()


@pytest.mark.parametrize("pid", ["-5", "0", str(2**63), "١٢", "1e3"])
def test_bad_ids_are_422(client_factory, pid: str) -> None:
    r = client_factory().get(f"/api/projects/{pid}/dataset")
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")


def test_a_remote_client_is_refused_without_basic_auth(storage: Storage, client_factory) -> None:
    new_project(storage, 1, n_tasks=1)
    r = client_factory(client=("192.0.2.7", 50000)).get("/api/projects/1/dataset")
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")


def test_span_project_over_http(storage: Storage, client_factory) -> None:
    seed_ner(storage)
    want = expected(storage)
    client = client_factory()
    rows = [json.loads(x) for x in client.get("/api/projects/1/dataset").text.splitlines()]
    assert rows == want and [r["source"] for r in rows] == ["llm", "model", "model", None,
                                                            "llm", None]
    back = list(csv.DictReader(io.StringIO(
        client.get("/api/projects/1/dataset", params={"format": "csv"}).text)))
    assert [json.loads(b["label"]) if b["label"] else None for b in back] == \
        [r["label"] for r in rows]
    card = client.get("/api/projects/1/dataset", params={"card": "1"}).json()
    assert card["task_type"] == "text_spans" and card["labelled"] == 4
