"""The stream_decide job (labelloop.stream.decide) after a deferred ingest: every stored item
decided in arrival order, the local model's utilities on a sample of a backlog, the job queued
once and again while items wait, safe to run twice, the same decisions from the same items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG, make_settings
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.events.projects import record_project
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.models.artifact import dump_local_model
from labelloop.models.logistic import fit_local_model
from labelloop.selection.stream import StreamState
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage
from labelloop.stream.decide import handle_stream_decide
from labelloop.stream.decide_plan import NOT_SCORED
from labelloop.stream.ingest import StreamIngest, stream_decide_spec

CLASSES = list(WORDS)  # positive, negative, neutral: CONFIG's choices


class CountingEmbedder(ToyEmbedder):
    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        return super().encode(texts)


def settings_for(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {"label_studio_url": "http://ls",
                               "label_studio_api_key": SecretStr("k"), "stream_budget": "0.1"}
    return make_settings(tmp_path, **{**base, **kw})


def texts(start: int, n: int, *, mixed: bool = True) -> list[dict]:
    """Items whose class word is clear, or (every third, ``mixed``) two words: unsure."""
    out = []
    for i in range(start, start + n):
        c = CLASSES[i % 3]
        words = f"{WORDS[c]} and {WORDS[CLASSES[(i + 1) % 3]]}" if mixed and i % 3 == 0 \
            else WORDS[c]
        out.append({"key": f"k{i}", "data": {"text": f"{words} review {i}"}})
    return out


def with_model(storage: Storage, version: str = "v1") -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = ToyEmbedder().encode([f"{WORDS[CLASSES[c]]} seen {i}" for i, c in enumerate(y)])
    with storage.write() as tx:
        tx.save_model_artifact(1, version, "local",
                               dump_local_model(fit_local_model(x, y, labels=CLASSES)))


@pytest.fixture
def project(storage: Storage) -> Storage:
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
    return storage


def queued(storage: Storage, kind: JobKind) -> int:
    with storage.read() as tx:
        return sum(j.kind is kind for j in tx.list_jobs(status=JobStatus.QUEUED, limit=500))


def drain(storage: Storage, s: Settings, embedder=None) -> int:
    """Run the decide jobs until none is due; how many ran (each must succeed)."""
    worker = Worker(storage, s, {JobKind.STREAM_DECIDE: handle_stream_decide},
                    gateways=GatewayProvider(s, lambda *_: None),
                    resources=Resources(s, embedder=embedder or ToyEmbedder()))
    ran = 0
    while (job := worker.run_once()) is not None:
        with storage.read() as tx:
            done = tx.get_job(job.id)
        assert done is not None and done.status is JobStatus.SUCCEEDED, done
        ran += 1
    return ran


def decisions(storage: Storage) -> list[tuple]:
    with storage.read() as tx:
        return [(it.key, it.status, it.selected, it.reason, it.utility, it.threshold,
                 it.model_label, it.model_version) for it in tx.get_stream_items(1)]


def state(storage: Storage) -> StreamState:
    with storage.write() as tx:
        raw = tx.lock_stream_state(1)
    assert raw is not None
    return StreamState.from_json(raw)


def test_the_job_is_registered(tmp_path: Path) -> None:
    assert default_handlers(make_settings(tmp_path))[JobKind.STREAM_DECIDE] \
        is handle_stream_decide


def test_without_a_model_every_item_is_decided_on_uniform_draws(project: Storage,
                                                                tmp_path: Path) -> None:
    s = settings_for(tmp_path)
    ingest = StreamIngest(project, s, seed=0)
    first = ingest.ingest(1, {"items": texts(0, 200)})
    second = ingest.ingest(1, {"items": texts(200, 200)})
    assert (first.deciding, second.deciding, first.selected) == (200, 200, [])
    assert queued(project, JobKind.STREAM_DECIDE) == 1  # queued once for both batches
    assert queued(project, JobKind.STREAM_EXPORT) == 0
    assert drain(project, s) == 1
    got = decisions(project)
    assert [g[0] for g in got] == [f"k{i}" for i in range(400)]  # arrival order kept
    assert {g[1] for g in got} <= {"pending", "ignored"} and "deciding" not in {g[3] for g in got}
    assert all(g[1] == ("pending" if g[2] else "ignored") for g in got)
    assert all(0 <= g[4] < 1 and g[6] is None for g in got)  # uniform draws, no model label
    n = sum(g[2] for g in got)
    assert 36 <= n <= 44  # 10 % of 400 within the band
    with project.read() as tx:
        counts = tx.stream_counts(1)
    assert (counts.received, counts.selected, counts.deciding, counts.pending) == (400, n, 0, n)
    assert "deciding" not in counts.by_reason and sum(counts.by_reason.values()) == 400
    st = state(project)
    assert st.seen == 400 and st.scorer is None
    assert queued(project, JobKind.STREAM_EXPORT) == 1


def test_with_a_model_the_local_model_scores_and_its_uncertain_items_are_picked(
        project: Storage, tmp_path: Path) -> None:
    with_model(project)
    s = settings_for(tmp_path)
    StreamIngest(project, s).ingest(1, {"items": texts(0, 600)})
    embedder = CountingEmbedder()
    assert drain(project, s, embedder) == 1 and sum(embedder.calls) == 600
    got = decisions(project)
    assert all(g[6] in CLASSES and g[7] == "v1" for g in got)
    picks = [g for g in got if g[3] == "uncertain"]
    assert len(picks) > 20
    mixed = {f"k{i}" for i in range(0, 600, 3)}  # two class words: the model is unsure
    assert sum(g[0] in mixed for g in picks) > 0.8 * len(picks)
    assert state(project).scorer == "local"
    # a retrained model: the next items are decided by it, the ring of the same kind goes on
    with_model(project, "v2")
    StreamIngest(project, s).ingest(1, {"items": texts(600, 90)})
    drain(project, s)
    assert {g[7] for g in decisions(project)[600:]} == {"v2"}
    st = state(project)
    assert st.scorer == "local" and st.utility_array().size == 690 and st.seen == 690


def test_a_backlog_is_decided_in_chunks_with_a_sample_embedded(project: Storage,
                                                               tmp_path: Path) -> None:
    with_model(project)
    s = settings_for(tmp_path, stream_decide_chunk=300, stream_decide_max_embed=100)
    StreamIngest(project, s).ingest(1, {"items": texts(0, 700)})
    embedder = CountingEmbedder()
    assert drain(project, s, embedder) == 3  # 300 + 300 + 100: the job queued itself again
    assert embedder.calls == [100, 100, 100]
    got = decisions(project)
    scored = [g for g in got if g[4] != NOT_SCORED]
    assert len(scored) == 300 and all(g[6] is not None for g in scored)
    rest = [g for g in got if g[4] == NOT_SCORED]
    assert all(g[6] is None and g[7] is None for g in rest)
    assert "uncertain" not in {g[3] for g in rest}
    assert 63 <= sum(g[2] for g in got) <= 77 and state(project).seen == 700


def test_feedback_is_taken_first(project: Storage, tmp_path: Path) -> None:
    s = settings_for(tmp_path)
    batch = texts(0, 300)
    for i in (10, 100, 200):
        batch[i]["feedback"] = "negative"
    StreamIngest(project, s).ingest(1, {"items": batch})
    drain(project, s)
    reasons = {g[0]: g[3] for g in decisions(project)}
    assert {reasons[f"k{i}"] for i in (10, 100, 200)} <= {"feedback", "audit"}
    assert "feedback" in {reasons[f"k{i}"] for i in (10, 100, 200)}


def test_run_twice_changes_nothing_and_the_same_items_get_the_same_decisions(
        tmp_path: Path) -> None:
    got = []
    for copy in ("a", "b"):
        s = settings_for(tmp_path / copy)
        storage = open_storage(s.resolved_database_url)
        try:
            with storage.write() as tx:
                record_project(tx, 1, label_config=CONFIG)
            with_model(storage)
            StreamIngest(storage, s).ingest(1, {"items": texts(0, 500)})
            drain(storage, s)
            once, st = decisions(storage), state(storage)
            exports = queued(storage, JobKind.STREAM_EXPORT)
            with storage.write() as tx:  # a second run (a retry after its commit)
                tx.enqueue(stream_decide_spec(1))
            assert drain(storage, s) == 1
            assert decisions(storage) == once and state(storage) == st
            assert queued(storage, JobKind.STREAM_EXPORT) == exports == 1
            got.append(once)
        finally:
            storage.close()
    assert got[0] == got[1]  # seeded from the items: a run redone decides the same way


def test_drift_is_queued_as_decisions_cross_every_n(project: Storage, tmp_path: Path) -> None:
    s = settings_for(tmp_path, drift_every_n=250)
    ingest = StreamIngest(project, s)
    ingest.ingest(1, {"items": texts(0, 200)})
    drain(project, s)
    assert queued(project, JobKind.DRIFT) == 0
    ingest.ingest(1, {"items": texts(200, 100)})
    drain(project, s)
    assert queued(project, JobKind.DRIFT) == 1


def test_items_are_embedded_with_the_encoder_the_model_was_trained_on(
        project: Storage, tmp_path: Path) -> None:
    """A model trained on a fine-tuned encoder's vectors is fed that encoder's vectors, as
    /classify does (loop/encoders.py)."""
    from labelloop.loop.encoders import ENCODER_KIND, EncoderManifest, encoder_version

    sha = "ab" * 32
    manifest = EncoderManifest(name=f"toy-embedder+ft-{sha[:12]}", path=str(tmp_path / "enc"),
                               sha256=sha, base="toy-embedder")
    with_model(project)
    with project.write() as tx:
        tx.add_model_version(1, "v1", kind="retrain",
                             lineage={"model": {"embedder": manifest.name}})
        tx.add_model_version(1, encoder_version(sha), kind=ENCODER_KIND, lineage={})
        tx.save_model_artifact(1, encoder_version(sha), ENCODER_KIND, manifest.to_bytes())
    s = settings_for(tmp_path)
    StreamIngest(project, s).ingest(1, {"items": texts(0, 50)})
    tuned = CountingEmbedder()
    tuned.name = manifest.name  # its own cache name, as a fine-tuned encoder has

    asked: list[EncoderManifest | None] = []

    class Encoders(Resources):
        def text_encoder(self, m, *, request=False):
            asked.append(m)
            return tuned if m is not None else super().text_encoder(m, request=request)

    worker = Worker(project, s, {JobKind.STREAM_DECIDE: handle_stream_decide},
                    gateways=GatewayProvider(s, lambda *_: None),
                    resources=Encoders(s, embedder=ToyEmbedder()))
    assert worker.run_once() is not None
    assert asked == [manifest] and sum(tuned.calls) == 50
    assert all(g[7] == "v1" for g in decisions(project))


def test_the_periodic_timer_queues_a_decision_for_projects_with_undecided_items(
        project: Storage, tmp_path: Path) -> None:
    from labelloop.jobs.worker import WorkerPool

    s = settings_for(tmp_path, label_studio_url=None, label_studio_api_key=None)
    with project.write() as tx:
        record_project(tx, 2, label_config=CONFIG)  # nothing waiting
    StreamIngest(project, s).ingest(1, {"items": texts(0, 20)})
    with project.write() as tx:  # taken by a worker that died: none queued, items wait
        assert tx.claim("dead-worker", lease_s=3600, kinds=[JobKind.STREAM_DECIDE]) is not None
    assert queued(project, JobKind.STREAM_DECIDE) == 0
    pool = WorkerPool(project, s, default_handlers(s),
                      gateways=GatewayProvider(s, lambda *_: None), threads=1)
    pool.enqueue_periodic_resync()
    pool.enqueue_periodic_resync()  # deduplicated while queued
    with project.read() as tx:
        waiting = [j for j in tx.list_jobs(status=JobStatus.QUEUED, limit=50)
                   if j.kind is JobKind.STREAM_DECIDE]
    assert [(j.project_id, j.dedupe_key) for j in waiting] == [(1, "stream_decide:1")]
