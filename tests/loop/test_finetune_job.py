"""The fine_tune job: when it is due, the auto rule, and the atomic switch of a project's
encoder (a retrain during the re-embedding still uses the old one). The encoder is a tiny
random-weight sentence-transformer built offline (tests/embeddings/st_tiny.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import make_settings
from tests.embeddings.st_tiny import build_tiny_sentence_transformer
from tests.loop.test_retrain import label, project, run_retrain

from labelloop.embeddings import Embedder, SentenceTransformerEmbedder
from labelloop.embeddings.finetune import directory_hash
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.encoders import EncoderManifest, current_encoder, last_round_labels
from labelloop.loop.finetune_job import handle_fine_tune
from labelloop.loop.finetune_plan import cross_fitted_gate, finetune_due
from labelloop.loop.resources import Resources
from labelloop.loop.retrain import handle_retrain
from labelloop.models.logistic import predict_proba
from labelloop.predict.classify import Classifier

__all__ = ["project"]  # the fixture


@pytest.mark.parametrize(("n", "last", "mode", "due"), [
    (99, None, "auto", False), (100, None, "auto", True), (100, None, "off", False),
    (100, None, "on", True), (250, 100, "auto", False), (300, 100, "auto", True),
    (300, 100, "off", False)])
def test_a_round_is_due_at_n_labels_and_every_m_more(n, last, mode, due) -> None:
    assert finetune_due(n, last, mode=mode, min_labels=100, every_n=200) is due


def _labels(n: int = 60) -> np.ndarray:
    return np.arange(n) % 3


def test_auto_keeps_frozen_vectors_when_fine_tuned_ones_do_not_pay() -> None:
    y = _labels()
    rng = np.random.default_rng(0)
    frozen = np.eye(3)[y] + rng.normal(0, 0.8, (y.size, 3))  # informative, noisy
    noise = lambda train: np.random.default_rng(train.size).normal(size=(y.size, 3))
    gate = cross_fitted_gate(y, frozen, noise, mode="auto", rng=np.random.default_rng(1))
    assert not gate.adopt and gate.tuned < gate.frozen and gate.n_items == y.size
    assert gate.to_json()["adopt"] is False and "rule" in gate.to_json()
    forced = cross_fitted_gate(y, frozen, noise, mode="on", rng=np.random.default_rng(1))
    assert forced.adopt and forced.tuned == gate.tuned  # on: adopted, comparison recorded


def test_auto_adopts_fine_tuned_vectors_that_pay_and_never_shows_them_their_fold() -> None:
    y = _labels()
    frozen = np.random.default_rng(0).normal(size=(y.size, 3))  # uninformative
    seen: list[np.ndarray] = []

    def separable(train: np.ndarray) -> np.ndarray:
        seen.append(train)
        return np.eye(3)[y] * 3 + np.random.default_rng(1).normal(0, 0.1, (y.size, 3))

    gate = cross_fitted_gate(y, frozen, separable, mode="auto", rng=np.random.default_rng(2))
    assert gate.adopt and gate.tuned == 1.0 and gate.folds == 3
    # each fold's encoder was tuned on the other folds: together they cover every item once
    held_out = np.concatenate([np.setdiff1d(np.arange(y.size), t) for t in seen])
    assert sorted(held_out.tolist()) == list(range(y.size))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


class RetrainDuringReembedding(Resources):
    """Resources whose fine-tuned encoder, at its first encode (the job's re-embedding of the
    pool), runs a whole retrain job first — as another worker would meanwhile."""

    def __init__(self, *args, retrain, **kw) -> None:
        super().__init__(*args, **kw)
        self.retrain = retrain
        self.during: list[str] = []

    def text_encoder(self, manifest: EncoderManifest | None, *, request: bool = False
                     ) -> Embedder:
        inner = super().text_encoder(manifest, request=request)
        if manifest is None:
            return inner
        outer = self

        class Spy:
            name, dim = inner.name, inner.dim

            def encode(self, texts):
                if not outer.during:
                    outer.during.append(outer.retrain())
                return inner.encode(texts)

        return Spy()


def test_a_round_switches_the_encoder_only_after_the_pool_is_embedded(
        storage, project, tmp_path, tiny) -> None:
    label(project, storage, list(range(1, 31)))
    kw = {"finetune": "on", "finetune_min_labels": 30, "finetune_budget_s": 30.0,
          "embedding_threads": 1}
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10,
                      **kw)
    base = SentenceTransformerEmbedder(tiny, name="tiny-st", torch_threads=1)
    gateways = GatewayProvider(s, lambda *_: project)

    def retrain() -> str:
        worker = Worker(storage, s, {JobKind.RETRAIN: handle_retrain}, gateways=gateways,
                        resources=Resources(s, embedder=base))
        with storage.write() as tx:
            tx.enqueue(JobSpec(JobKind.RETRAIN, 1))
        job = worker.run_once()
        assert job is not None
        with storage.read() as tx:
            assert tx.get_job(job.id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
            newest = [v for v in tx.list_model_versions(1) if v.kind == "retrain"][-1]
        return newest.lineage["model"]["embedder"]

    # the retrain at 30 labels queues the round (its hook), once
    assert retrain() == "tiny-st"
    with storage.read() as tx:
        queued = [j for j in tx.list_jobs(project_id=1) if j.kind is JobKind.FINE_TUNE]
    assert len(queued) == 1 and queued[0].status is JobStatus.QUEUED
    resources = RetrainDuringReembedding(s, embedder=base, retrain=retrain)
    worker = Worker(storage, s, {JobKind.FINE_TUNE: handle_fine_tune}, gateways=gateways,
                    resources=resources)
    job = worker.run_once()
    with storage.read() as tx:
        assert tx.get_job(job.id).status is JobStatus.SUCCEEDED, tx.get_job(job.id).last_error
        manifest = current_encoder(tx, 1)
        assert manifest is not None and last_round_labels(tx, 1) == 30
        version = [v for v in tx.list_model_versions(1) if v.kind == "encoder"][-1]
        n_tasks = len(tx.get_tasks(1))
        assert tx.count_embeddings(manifest.name) == n_tasks  # all embedded before the switch
        # the round queued the retrain that moves the model onto the new encoder
        assert any(j.kind is JobKind.RETRAIN and j.status is JobStatus.QUEUED
                   for j in tx.list_jobs(project_id=1))
    assert resources.during == ["tiny-st"]  # the retrain during the re-embedding: old encoder
    lineage = version.lineage
    assert lineage["adopted"] is True and lineage["labels"] == 30 and lineage["gate"] is None
    assert lineage["sha256"] == manifest.sha256 == directory_hash(Path(manifest.path))
    assert lineage["training"]["steps"] >= 1 and lineage["base"] == "tiny-st"
    assert manifest.name == f"tiny-st+ft-{manifest.sha256[:12]}"
    # /classify serves the model with the encoder it was trained on: the old one until the
    # retrain after the switch, then the fine-tuned one
    classifier = Classifier(storage, Resources(s, embedder=base), s)
    texts = ["great movie", "awful plot"]

    def served_with(embedder) -> bool:
        got = classifier.classify(1, [{"text": t} for t in texts])
        model = classifier.model_for(1)[1]
        want = predict_proba(model, embedder.encode(texts))
        return np.allclose([list(r.probabilities.values()) for r in got.results], want,
                           atol=1e-6)

    tuned = SentenceTransformerEmbedder(Path(manifest.path), name=manifest.name)
    assert served_with(base) and not served_with(tuned)
    # the next retrain trains on the fine-tuned encoder's vectors
    assert retrain() == manifest.name
    assert served_with(tuned) and not served_with(base)


def test_the_retrain_queues_no_round_below_the_threshold_or_when_off(
        storage, project, tmp_path) -> None:
    label(project, storage, list(range(1, 30)))
    run_retrain(storage, project, tmp_path, finetune_min_labels=30)
    label(project, storage, [30])
    run_retrain(storage, project, tmp_path, finetune_min_labels=30, finetune="off")
    with storage.read() as tx:
        assert not [j for j in tx.list_jobs(project_id=1) if j.kind is JobKind.FINE_TUNE]
    run_retrain(storage, project, tmp_path, finetune_min_labels=30)
    with storage.read() as tx:
        assert [j.kind for j in tx.list_jobs(project_id=1)].count(JobKind.FINE_TUNE) == 1
