"""``labelloop triplets corpus|mine|finetune|status`` and ``labelloop model export`` of a triplet
project's adopted encoder (a tiny sentence-transformer built offline)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labelloop.cli.main import main
from labelloop.embeddings.finetune import load_encoder, save_encoder
from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind
from labelloop.loop.encoders import (
    ENCODER_KIND,
    EncoderManifest,
    encoder_version,
    encoders_dir,
    finetuned_name,
)
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage
from tests.conftest import CONFIG, make_settings
from tests.embeddings.st_tiny import build_tiny_sentence_transformer
from tests.triplets.configs import TRIPLET_CONFIG


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Settings, Storage, list[str]]]:
    s = make_settings(tmp_path)
    storage = open_storage(s.resolved_database_url)
    with storage.write() as tx:
        record_project(tx, 1, label_config=TRIPLET_CONFIG)
        record_project(tx, 2, label_config=CONFIG)
    yield s, storage, ["--data-dir", str(tmp_path), "--project"]
    storage.close()


def test_corpus_files_mine_finetune_and_status(db, tmp_path: Path, capsys) -> None:
    _, storage, args = db
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"cat {i}", "group": "cats"})
                               for i in range(3)) + "\n\n")
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("text,group\ndog 1,dogs\ndog 2,\ncat 0,cats\n")
    txt = tmp_path / "c.txt"
    txt.write_text("a bird\n\nanother bird\n")
    assert main(["triplets", "corpus", str(jsonl), *args, "1"]) == 0
    assert "3 texts added (0 already there), 3 in the corpus; first mining round queued" in \
        capsys.readouterr().out
    assert main(["triplets", "corpus", str(csv_file), *args, "1"]) == 0
    assert "2 texts added (1 already there), 5 in the corpus" in capsys.readouterr().out
    assert main(["triplets", "corpus", str(txt), *args, "1"]) == 0
    with storage.read() as tx:
        corpus = tx.get_corpus(1)
    assert [(c.text, c.group) for c in corpus][3:] == [("dog 1", "dogs"), ("dog 2", None),
                                                      ("a bird", None), ("another bird", None)]
    assert main(["triplets", "mine", *args, "1"]) == 0
    assert "mining round 1 queued" in capsys.readouterr().out
    assert main(["triplets", "finetune", *args, "1"]) == 0
    with storage.read() as tx:
        kinds = sorted(j.kind.value for j in tx.list_jobs(project_id=1))
    assert kinds == [JobKind.TRIPLET_FINETUNE.value, JobKind.TRIPLET_MINE.value]
    assert main(["triplets", "status", *args, "1"]) == 0
    out = capsys.readouterr().out
    assert "corpus: 7 texts, 4 with a group" in out and "judgements: 0" in out
    assert main(["triplets", "status", "--json", *args, "1"]) == 0
    assert json.loads(capsys.readouterr().out)["corpus"]["items"] == 7


def test_bad_files_and_projects_say_why(db, tmp_path: Path, capsys) -> None:
    _, _, args = db
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n["not", "an object"]\n')
    assert main(["triplets", "corpus", str(bad), *args, "1"]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert main(["triplets", "corpus", str(tmp_path / "missing.txt"), *args, "1"]) == 2
    good = tmp_path / "ok.txt"
    good.write_text("a\nb\nc\n")
    assert main(["triplets", "corpus", str(good), *args, "2"]) == 2
    assert "not a triplet project" in capsys.readouterr().err
    assert main(["triplets", "status", *args, "9"]) == 2
    assert "not known" in capsys.readouterr().err


def test_model_export_writes_the_adopted_encoder(db, tmp_path: Path, capsys) -> None:
    s, storage, args = db
    out = tmp_path / "export"
    assert main(["model", "export", "--output", str(out), *args, "1"]) == 2
    assert "no adopted fine-tuned encoder" in capsys.readouterr().err
    model = load_encoder(build_tiny_sentence_transformer(tmp_path / "tiny"))
    saved = save_encoder(model, encoders_dir(s, 1))
    version = encoder_version(saved.sha256)
    name = finetuned_name("tiny", saved.sha256)
    with storage.write() as tx:
        tx.add_model_version(1, version, kind=ENCODER_KIND, lineage={
            "task": "triplets", "after": {"recall_at_10": 0.8}, "adopted": True})
        tx.save_model_artifact(1, version, ENCODER_KIND, EncoderManifest(
            name=name, path=str(saved.path), sha256=saved.sha256, base="tiny").to_bytes())
    assert main(["model", "export", "--output", str(out), *args, "1"]) == 0
    assert f"wrote model {version} of project 1" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["version"] == version and card["lineage"]["after"]["recall_at_10"] == 0.8
    assert (out / "README.md").is_file()
    texts = ["the movie was good", "a dull plot"]
    exported = load_encoder(out)
    assert np.array_equal(exported.encode(texts), model.encode(texts))  # bit for bit
    assert main(["model", "export", "--output", str(out), *args, "1"]) == 2  # not empty
    assert main(["model", "export", "--output", str(out), "--force", *args, "1"]) == 0
    (saved.path / "modules.json").write_text("[]")  # changed since it was saved
    assert main(["model", "export", "--output", str(tmp_path / "e2"), *args, "1"]) == 2
    assert "missing or changed" in capsys.readouterr().err
