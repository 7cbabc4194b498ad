"""The served model: POST /api/projects/{id}/classify and the Classifier behind it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labelloop.api.app import Overrides, create_app
from labelloop.errors import NoModelYet
from labelloop.events.projects import record_project
from labelloop.loop.resources import Resources
from labelloop.models import fit_local_model, predict_proba
from labelloop.models.artifact import dump_local_model, load_local_model
from labelloop.predict.classify import Classifier
from labelloop.storage.base import Storage
from tests.conftest import CONFIG, LOOPBACK_CLIENT, make_settings
from tests.loop.test_retrain import WORDS, ToyEmbedder, label, project, run_retrain
from tests.predict.spans_seed import NER_CONFIG

__all__ = ["project"]  # the fixture
TEXTS = ["a great film", "an awful film", "the plot of the film"]
MULTI = CONFIG.replace('toName="text">', 'toName="text" choice="multiple">')


@pytest.fixture
def app_client(storage: Storage, tmp_path) -> Iterator[TestClient]:
    s = make_settings(tmp_path, stream_max_batch=5)
    app = create_app(s, Overrides(storage=storage, embedder=ToyEmbedder(), start_worker=False,
                                  preload_libraries=False))
    with TestClient(app, client=LOOPBACK_CLIENT) as c:
        yield c


def classifier(storage: Storage, tmp_path) -> Classifier:
    s = make_settings(tmp_path)
    return Classifier(storage, Resources(s, embedder=ToyEmbedder()), s)


def test_classify_answers_the_trained_models_labels(storage, project, tmp_path,
                                                    app_client) -> None:
    label(project, storage, list(range(1, 31)))
    version, _ = run_retrain(storage, project, tmp_path)
    r = app_client.post("/api/projects/1/classify",
                        json={"items": [{"data": {"text": t}} for t in TEXTS]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == version.version and body["source"] == "model"
    assert [x["label"] for x in body["results"]] == list(WORDS)
    with storage.read() as tx:
        model = load_local_model(tx.get_model_artifact(1, version.version, "local"))
    want = predict_proba(model, ToyEmbedder().encode(TEXTS))
    got = np.array([[x["probabilities"][c] for c in WORDS] for x in body["results"]])
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert [x["probability"] for x in body["results"]] == pytest.approx(want.max(axis=1))


def test_4xx(storage, project, tmp_path, app_client) -> None:
    def post(pid: int, body: object):
        return app_client.post(f"/api/projects/{pid}/classify", json=body)

    one = {"items": [{"data": {"text": "great"}}]}
    assert post(99, one).status_code == 404
    r = post(1, one)  # known project, not trained yet
    assert r.status_code == 409 and r.json()["error"] == "no_model_yet"
    label(project, storage, list(range(1, 31)))
    run_retrain(storage, project, tmp_path)
    r = post(1, {"items": [{"data": {"text": "great"}}, {"data": {"other": "x"}},
                           {"data": {"text": "  "}}]})
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "items", 1, "data", "text"],
                                                      ["body", "items", 2, "data", "text"]]
    assert "items[1].data.text" in r.json()["message"]
    r = post(1, {"items": [{"data": {"text": "x"}}] * 6})
    assert r.status_code == 413 and "at most 5" in r.json()["message"]
    for bad in ({"items": []}, {"items": [{"text": "x"}]}, {"items": "x"}, {"other": 1}):
        assert post(1, bad).status_code == 422, bad
    assert app_client.post("/api/projects/1/classify", content=b"{nope").status_code == 400
    with storage.write() as tx:
        record_project(tx, 2, label_config=NER_CONFIG)
    r = post(2, one)
    assert r.status_code == 422 and "text_spans" in r.json()["message"]


def _store(storage: Storage, version: str, labels: list[str], *, multi: bool = False,
           shift: int = 0, artefact: bool = True):
    x = ToyEmbedder().encode([f"{w} {i}" for i in range(30) for w in WORDS.values()])
    y = np.tile(np.arange(3), 30)
    t = np.eye(3, dtype=np.int8)[(y + shift) % 3] if multi else (y + shift) % 3
    if multi:
        t[y == 0, 2] = 1  # the positive items are neutral too
    model = fit_local_model(x, t, labels=labels, multi_label=multi)
    with storage.write() as tx:
        tx.add_model_version(1, version, kind="retrain", lineage={})
        if artefact:
            tx.save_model_artifact(1, version, "local", dump_local_model(model))
    return model


def test_the_newest_version_with_a_model_is_served_published_or_not(storage, tmp_path) -> None:
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
    c = classifier(storage, tmp_path)
    assert c.served_version(1) is None and c.model_for(1) is None
    with pytest.raises(NoModelYet):
        c.classify(1, [{"text": "great"}])
    labels = list(WORDS)
    _store(storage, "v1", labels)
    _store(storage, "v2", labels, shift=1)  # labels rotated: answers tell versions apart
    assert c.served_version(1) == "v2"  # nothing published: the newest
    assert c.classify(1, [{"text": "great"}]).results[0].labels == ("negative",)
    with storage.write() as tx:  # Label Studio shows v1 (v2 had no queue to publish): still v2
        tx.save_project(1, published_version="v1")
    assert c.served_version(1) == "v2"
    assert c.classify(1, [{"text": "great"}]).results[0].labels == ("negative",)
    _store(storage, "v3", labels, artefact=False)
    with storage.write() as tx:  # a published version without a model: the newest with one
        tx.save_project(1, published_version="v3")
    assert c.served_version(1) == "v2"
    with storage.write() as tx:  # cached: the artefact is not read again
        tx.save_model_artifact(1, "v2", "local", b"garbage")
    assert c.classify(1, [{"text": "awful"}]).version == "v2"


def test_multiple_choice_answers_lists(storage, tmp_path, app_client) -> None:
    with storage.write() as tx:
        record_project(tx, 1, label_config=MULTI)
    model = _store(storage, "v1", list(WORDS), multi=True)
    r = app_client.post("/api/projects/1/classify",
                        json={"items": [{"data": {"text": t}} for t in TEXTS]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    p = predict_proba(model, ToyEmbedder().encode(TEXTS))
    for row, got in zip(p, results):
        chosen = [c for c, q in zip(WORDS, row) if q >= 0.5] or [list(WORDS)[row.argmax()]]
        assert got["label"] == chosen
    assert [x["label"] for x in results] == [["positive", "neutral"], ["negative"], ["neutral"]]


class ThreadsSeen(ToyEmbedder):
    """ToyEmbedder recording the thread and torch thread count of each encode."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def encode(self, texts):
        import torch

        self.seen.append((threading.current_thread().name, torch.get_num_threads()))
        return super().encode(texts)


@pytest.mark.parametrize("classify_threads", [1, 0])
def test_a_request_encodes_on_threads_of_its_own_at_classify_threads(
        storage, tmp_path, classify_threads: int) -> None:
    """LABELLOOP_CLASSIFY_THREADS (default 1): /classify encodes on the request embedder's
    threads, at that many torch threads; 0: as the jobs, in the request's own thread. The jobs'
    embedder is the one given, its settings untouched."""
    pytest.importorskip("torch")
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
    _store(storage, "v1", list(WORDS))
    emb = ThreadsSeen()
    s = make_settings(tmp_path, classify_threads=classify_threads)
    app = create_app(s, Overrides(storage=storage, embedder=emb, start_worker=False,
                                  preload_libraries=False))
    with TestClient(app, client=LOOPBACK_CLIENT) as c:
        for t in TEXTS:
            r = c.post("/api/projects/1/classify", json={"items": [{"data": {"text": t}}]})
            assert r.status_code == 200, r.text
        resources = c.app.state.services.resources
        assert resources.embedder is emb
    names = {name for name, _ in emb.seen}
    assert len(emb.seen) == len(TEXTS)
    if classify_threads:
        assert all(n.startswith("embed-pinned") for n in names), names
        assert {count for _, count in emb.seen} == {classify_threads}
    else:
        assert not any(n.startswith("embed-pinned") for n in names), names


def test_the_request_embedder_shares_the_jobs_model_and_leaves_their_threads(tmp_path) -> None:
    from labelloop.embeddings import SentenceTransformerEmbedder
    from labelloop.embeddings.pinned import PinnedThreadsEmbedder

    r = Resources(make_settings(tmp_path, embedding_threads=2))
    job = r.embedder
    request = r.request_embedder
    assert isinstance(job, SentenceTransformerEmbedder) and job.torch_threads == 2
    assert isinstance(request, PinnedThreadsEmbedder) and request.torch_threads == 1
    assert isinstance(request.inner, SentenceTransformerEmbedder)
    assert request.inner.torch_threads is None and request.inner.name == job.name
    assert r.request_embedder is request  # built once
    assert not job.loaded and not request.inner.loaded  # nothing loaded by asking
    off = Resources(make_settings(tmp_path, classify_threads=0))
    assert off.request_embedder is off.embedder


@pytest.mark.parametrize("choice", ["float32", "bfloat16"])
def test_the_request_embedder_runs_in_the_configured_precision_and_the_jobs_in_float32(
        tmp_path, choice: str) -> None:
    from labelloop.embeddings.pinned import PinnedThreadsEmbedder

    r = Resources(make_settings(tmp_path, classify_precision=choice))
    request = r.request_embedder
    assert isinstance(request, PinnedThreadsEmbedder)
    assert request.inner.precision == choice
    assert r.embedder.precision == "float32"  # what the models train on
