"""The served model: the label and probabilities of new items from a project's local model.

:class:`Classifier` answers ``POST /api/projects/{id}/classify``. The model served is the
``"local"`` artefact (:mod:`labelloop.models.artifact`) of the project's newest version that
has one (a retrain stores it with every text-classification version that has a model:
:mod:`labelloop.loop.artifacts`). Not the version published to Label Studio: a retrain
publishes only when it has a queue to show, so once every task is labelled (as in a stream-only
project whose selected items are all annotated), or while Label Studio is down, the published
version lags the newest model — and the served model should be the best one trained. Each item's
text is prepared as the retrain prepares a task's (:mod:`labelloop.text`'s cleaning, then the
config's ``$field``, :func:`labelloop.labelconfig.kinds.task_text`) and embedded by the
process's model — in a request on threads of its own at ``LABELLOOP_CLASSIFY_THREADS`` torch
threads (:attr:`labelloop.loop.resources.Resources.request_embedder`), in a job as the jobs
embed — not through the embedding cache: nothing is written on the request path.

A loaded model is kept per (project, version) in the instance (one per app, never at module
level); a project's older versions are dropped when a newer one is loaded. Per call: one read
of the project and of the newest version's name, the embedding, one matrix product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelloop.embeddings.base import Embedder
from labelloop.errors import InvalidInput, NoModelYet, UnknownProject, UnsupportedConfig
from labelloop.events.projects import schema_of
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.encoders import EncoderManifest, encoder_named, served_embedder_name
from labelloop.loop.resources import Resources
from labelloop.models.artifact import load_local_model
from labelloop.models.logistic import LocalModel, predict_proba
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Project
from labelloop.text import clean_json

KIND = "local"


@dataclass(frozen=True)
class ItemClass:
    """One item's answer: ``labels`` (one for single choice; for multiple choice those at
    p >= 0.5, else the likeliest), ``probability`` (of the label; the mean over the chosen
    ones) and every label's probability, in config order."""

    labels: tuple[str, ...]
    probability: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class ClassifyResult:
    version: str
    multiple: bool
    results: list[ItemClass]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "source": "model", "results": [
            {"label": list(r.labels) if self.multiple else r.labels[0],
             "probability": r.probability, "probabilities": r.probabilities}
            for r in self.results]}


def item_classes(model: LocalModel, probas: np.ndarray) -> list[ItemClass]:
    """Per row of ``probas`` ``(n, k)`` (over ``model.labels``) its :class:`ItemClass`."""
    out: list[ItemClass] = []
    for row in probas:
        best = int(np.argmax(row))
        chosen = [best]
        if model.multi_label:
            chosen = [int(c) for c in np.flatnonzero(row >= 0.5)] or [best]
        out.append(ItemClass(tuple(model.labels[c] for c in chosen),
                             float(np.mean(row[chosen])),
                             {c: float(p) for c, p in zip(model.labels, row)}))
    return out


class Classifier:
    """``embedder``: the text embedder to use (None: the jobs',
    :attr:`~labelloop.loop.resources.Resources.embedder`); the API's classifier is given
    :attr:`~labelloop.loop.resources.Resources.request_embedder`."""

    def __init__(self, storage: Storage, resources: Resources, settings: Settings, *,
                 embedder: Embedder | None = None) -> None:
        self.storage = storage
        self.resources = resources
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()
        self._models: dict[tuple[int, str], LocalModel] = {}
        self._without: set[tuple[int, str]] = set()  # versions stored without an artefact
        self._encoders: dict[tuple[int, str], EncoderManifest | None] = {}

    def served_version(self, project_id: int) -> str | None:
        """The version :meth:`classify` answers with (None: no model yet)."""
        found = self.model_for(project_id)
        return found[0] if found is not None else None

    def model_for(self, project_id: int) -> tuple[str, LocalModel] | None:
        """``(version, model)`` served for the project; None before any model was stored.
        Raises :class:`UnknownProject` or :class:`UnsupportedConfig` (not text
        classification)."""
        with self.storage.read() as tx:
            project, _ = self._project(tx, project_id)
            return self._served(tx, project)

    def classify(self, project_id: int, datas: list[dict[str, Any]]) -> ClassifyResult:
        """The served model's answer for each item's ``data`` (a task's data: the text under
        the config's ``$field``), in order. Raises :class:`UnknownProject` (404),
        :class:`UnsupportedConfig` (422: not text classification), :class:`NoModelYet` (409)
        and :class:`InvalidInput` (422, naming every item without its text)."""
        with self.storage.read() as tx:
            project, schema = self._project(tx, project_id)
            served = self._served(tx, project)
            tuned = self._encoder(tx, project_id, served[0]) if served else None
        texts = _texts(schema, datas)
        if served is None:
            raise NoModelYet(f"project {project_id} has no trained model yet: a retrain stores "
                             "one once at least two tasks are labelled")
        version, model = served
        embedder = self.resources.text_encoder(tuned, request=self._embedder is not None) \
            if tuned is not None else self._embedder or self.resources.embedder
        x = embedder.encode(texts) if texts else np.zeros((0, model.dim))
        if x.shape[1] != model.dim:
            raise NoModelYet(f"the served model {version} takes {model.dim}-dimensional "
                             f"embeddings; the configured embedder gives {x.shape[1]}: a "
                             "retrain with this embedder makes a model to serve")
        return ClassifyResult(version, model.multi_label,
                              item_classes(model, predict_proba(model, x)))

    def _encoder(self, tx: Tx, pid: int, version: str) -> EncoderManifest | None:
        """The encoder ``version`` was trained on when it is a fine-tuned one
        (:mod:`labelloop.loop.encoders`; it stays in use until a retrain on the next encoder
        replaces the model), else None. Read once per version — versions never change — and
        kept with the loaded model, so a request does not read and parse the version's lineage."""
        key = (pid, version)
        with self._lock:
            if key in self._encoders:
                return self._encoders[key]
        got = tx.get_model_version(pid, version)
        name = served_embedder_name(got.lineage if got else None)
        tuned = encoder_named(tx, pid, name) if name else None
        with self._lock:
            for old in [k for k in self._encoders if k[0] == pid]:
                del self._encoders[old]
            self._encoders[key] = tuned
        return tuned

    def _project(self, tx: Tx, project_id: int) -> tuple[Project, LabelSchema]:
        project = tx.get_project(project_id)
        if project is None:
            raise UnknownProject(f"project {project_id} is unknown to labelloop")
        schema = schema_of(project)
        if schema is None or not schema.supported or \
                schema.task_type != "text_classification" or schema.modality != "text":
            what = "not a supported" if schema is None or not schema.task_type else \
                f"a {schema.task_type}" if schema.modality == "text" else \
                f"an {schema.modality} classification"  # image, audio
            raise UnsupportedConfig(f"project {project_id} is {what} project: /classify "
                                    "serves text classification models only")
        return project, schema

    def _served(self, tx: Tx, project: Project) -> tuple[str, LocalModel] | None:
        """The newest stored model (see the module docstring)."""
        newest = tx.latest_model_artifact_version(project.id, KIND)
        got = self._load(tx, project.id, newest) if newest is not None else None
        return (newest, got) if newest is not None and got is not None else None

    def _load(self, tx: Tx, pid: int, version: str) -> LocalModel | None:
        key = (pid, version)
        with self._lock:
            if key in self._models:
                return self._models[key]
            if key in self._without:
                return None
        blob = tx.get_model_artifact(pid, version, KIND)
        model = load_local_model(blob) if blob is not None else None
        with self._lock:
            if model is None:
                # artefacts are stored with their version, never later: none will appear
                self._without.add(key)
            else:
                for old in [k for k in self._models if k[0] == pid]:
                    del self._models[old]
                self._models[key] = model
        return model


def _texts(schema: LabelSchema, datas: list[dict[str, Any]]) -> list[str]:
    """Each item's text, as the retrain reads a task's; every item without one is named."""
    texts: list[str] = []
    bad: list[dict[str, Any]] = []
    for i, data in enumerate(datas):
        cleaned, _ = clean_json(data)
        text = task_text(schema, cleaned if isinstance(cleaned, dict) else None)
        if text is None or not text.strip():
            bad.append({"loc": ["body", "items", i, "data", schema.data_key],
                        "msg": "the project's text: a non-empty string"})
        texts.append(text or "")
    if bad:
        first = bad[0]["loc"]
        raise InvalidInput(f"{len(bad)} item(s) without text; items[{first[2]}].data."
                           f"{schema.data_key}: the project's text, a non-empty string",
                           detail=bad)
    return texts
