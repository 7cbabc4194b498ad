"""An image project and an audio project through the whole loop (issue 19 §5): retrain fetches
each task's media from a loopback Label Studio (token, uploads cached), embeds it with the
built-in embedder of its modality (never the text model), trains, ranks, publishes the queue
with validated pre-labels; /predict answers the model's stored predictions; a task whose media
will not fetch or decode is a recorded skip (a transient one fetched again by the embed job);
the LLM pre-label step stands aside with its reason where the endpoint does not see images."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_settings
from tests.fakes.label_studio import FakeGateway
from tests.fakes.llm_server import FakeLLM
from tests.loop.media_data import KEY, FakeLabelStudioMedia, digit_pngs, tone_wavs

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.kinds import read_label, validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.embed import handle_embed
from labelloop.loop.prelabel import handle_prelabel
from labelloop.loop.resources import Resources
from labelloop.loop.retrain import handle_retrain
from labelloop.storage.base import Storage

IMAGE_CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="digit" toName="image"><Choice value="0"/><Choice value="1"/><Choice value="7"/>
</Choices></View>"""
AUDIO_CONFIG = """<View><AudioPlus name="audio" value="$audio"/>
<Choices name="pitch" toName="audio"><Choice value="low"/><Choice value="mid"/>
<Choice value="high"/></Choices></View>"""


class NoText:
    """The text embedder: a media project must never load or call it."""

    name, dim = "no-text", 4

    def encode(self, texts):
        raise AssertionError("the text embedder was used for media")


class Project:
    """A media project in the fake Label Studio, its files on the loopback server, the truth."""

    def __init__(self, ls: FakeGateway, server: FakeLabelStudioMedia, config: str, key: str,
                 items: list[tuple[bytes, str]], ext: str) -> None:
        self.ls, self.server, self.key = ls, server, key
        self.truth: dict[int, str] = {}
        self.schema = parse_label_config(config)
        ls.add_project(1, config)
        for i, (_, label) in enumerate(items, 1):
            ls.add_task(1, i, {key: server.value(f"0a1b2c3d-f{i}.{ext}")})
            self.truth[i] = label

    def annotate(self, storage: Storage, task_ids: list[int], *, user: int = 1,
                 wrong: bool = False) -> None:
        labels = self.schema.labels
        for tid in task_ids:
            right = self.truth[tid]
            choice = labels[(labels.index(right) + 1) % len(labels)] if wrong else right
            ann = self.ls.annotate(tid, choice, from_name=self.schema.from_name or "", user=user)
            ann["result"][0]["to_name"] = self.schema.to_name  # the media object, not "text"
        resync_project(storage, self.ls, 1)


def serve(items: list[tuple[bytes, str]], ext: str,
          extra: dict[str, bytes] | None = None) -> FakeLabelStudioMedia:
    files = {f"0a1b2c3d-f{i}.{ext}": data for i, (data, _) in enumerate(items, 1)}
    return FakeLabelStudioMedia(1, {**files, **(extra or {})})


def worker(storage: Storage, ls: FakeGateway, server: FakeLabelStudioMedia, tmp_path,
           **kw: object) -> Worker:
    s = make_settings(tmp_path, label_studio_url=server.url, label_studio_api_key=KEY,
                      job_backoff_scale=0.0, **kw)
    return Worker(storage, s, {JobKind.RETRAIN: handle_retrain, JobKind.EMBED: handle_embed,
                               JobKind.PRELABEL: handle_prelabel},
                  gateways=GatewayProvider(s, lambda *_: ls),
                  resources=Resources(s, embedder=NoText()))  # type: ignore[arg-type]


def run(storage: Storage, w: Worker, kind: JobKind) -> int:
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(kind, 1))
    while (job := w.run_once()) is not None and job.id != jid:
        pass
    return jid


def queued(storage: Storage, kind: JobKind) -> list:
    with storage.read() as tx:
        return [j for j in tx.list_jobs(project_id=1, status=JobStatus.QUEUED) if j.kind is kind]


def run_kind(w: Worker, kind: JobKind) -> int:
    """Run due jobs until one of ``kind`` ran; its id."""
    while (job := w.run_once()) is not None:
        if job.kind is kind:
            return job.id
    raise AssertionError(f"no {kind.value} job ran")


def status_of(storage: Storage, jid: int):
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job is not None
    return job


def published(storage: Storage):
    with storage.read() as tx:
        p = tx.get_project(1)
        assert p is not None and p.published_version
        return (tx.get_model_version(1, p.published_version),
                tx.get_queue(1, p.published_version),
                tx.latest_predictions(1, list(range(1, 200)), source="model"))


@pytest.fixture
def digits():
    return digit_pngs((0, 1, 7), 12)  # 36 images, classes interleaved


def test_an_image_project_cold_starts_then_learns_and_publishes_its_queue(
        storage: Storage, fake_ls: FakeGateway, tmp_path, digits) -> None:
    extra = {"0a1b2c3d-f37.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40}  # a PNG that won't decode
    with serve(digits, "png", extra) as server:
        server.routes["/data/upload/1/0a1b2c3d-f38.png"] = \
            lambda req: (500, {}, b'{"detail":"gone"}')  # Label Studio's missing upload
        p = Project(fake_ls, server, IMAGE_CONFIG, "image", digits + [(b"", "0"), (b"", "1")],
                    "png")
        resync_project(storage, fake_ls, 1)
        w = worker(storage, fake_ls, server, tmp_path)
        assert status_of(storage, run(storage, w, JobKind.RETRAIN)).status is JobStatus.SUCCEEDED
        version, queue, _ = published(storage)
        assert version is not None and version.lineage["strategy"] == "cold_start"
        assert {e.task_id for e in queue} == set(range(1, 37))  # the two bad ones left out
        with storage.read() as tx:
            skipped = {s.task_id: s.reason for s in tx.skipped_items(1, job_kind="retrain")}
        assert skipped[37].startswith("media not decoded:")
        assert skipped[38] == "media not fetched: missing: HTTP 500"
        cold = [p.truth[e.task_id] for e in queue[:9] if e.reason == "cold_start"]
        assert set(cold) == {"0", "1", "7"}  # the seed set spans the classes

        p.annotate(storage, list(range(1, 13)))  # 4 per class
        asked = len(server.requests)
        assert status_of(storage, run(storage, w, JobKind.RETRAIN)).status is JobStatus.SUCCEEDED
        # uploads come from the media cache: only the missing one is asked for again
        assert {r.path for r in server.requests[asked:]} == {"/data/upload/1/0a1b2c3d-f38.png"}
        version, queue, predictions = published(storage)
        assert version is not None and version.lineage["cv_accuracy"] is not None
        assert version.lineage["model"]["embedder"].startswith("labelloop/image-builtin-v1")
        assert version.lineage["strategy"] != "cold_start"
        assert {e.task_id for e in queue} == set(range(13, 37))
        # the model's predictions of the unlabelled images are right (digits separate well)
        right = [read_label(p.schema, predictions[t].result, text=None) == (p.truth[t],)
                 for t in range(13, 37)]
        assert np.mean(right) >= 0.9
        assert 37 not in predictions and 38 not in predictions  # never a made-up prediction
        # the published pre-labels are valid for the image config
        sent = [pr for pr in fake_ls.predictions if pr["model_version"] == version.version]
        assert {pr["task"] for pr in sent} == set(range(13, 37))
        for pr in sent:
            validate_result(p.schema, pr["result"], text=None)
            assert pr["result"][0]["to_name"] == "image"


def test_predict_answers_an_image_task_from_the_model(storage: Storage, fake_ls: FakeGateway,
                                                      tmp_path, client_factory, digits) -> None:
    with serve(digits, "png") as server:
        p = Project(fake_ls, server, IMAGE_CONFIG, "image", digits, "png")
        resync_project(storage, fake_ls, 1)
        p.annotate(storage, list(range(1, 13)))
        w = worker(storage, fake_ls, server, tmp_path)
        run(storage, w, JobKind.RETRAIN)
    _, _, predictions = published(storage)
    client = client_factory()
    tasks = [{"id": t, "data": {"image": server.value(f"0a1b2c3d-f{t}.png")}} for t in (20, 21)]
    res = client.post("/predict", json={"tasks": tasks, "project": "1.1"}).json()["results"]
    for t, entry in zip((20, 21), res):
        assert entry["result"] == predictions[t].result and entry["result"][0]["to_name"] == \
            "image"


def test_a_transient_fetch_failure_is_fetched_again_by_the_embed_job(
        storage: Storage, fake_ls: FakeGateway, tmp_path, digits) -> None:
    with serve(digits[:9], "png") as server:
        Project(fake_ls, server, IMAGE_CONFIG, "image", digits[:9], "png")
        resync_project(storage, fake_ls, 1)
        server.fail["0a1b2c3d-f4.png"] = 503
        w = worker(storage, fake_ls, server, tmp_path)
        with storage.write() as tx:
            retrain, _ = tx.enqueue(JobSpec(JobKind.RETRAIN, 1))
        w.run_once()
        assert status_of(storage, retrain).status is JobStatus.SUCCEEDED
        _, queue, _ = published(storage)
        assert 4 not in {e.task_id for e in queue}
        # the retrain queued the embed job for the transient failure
        [embed] = queued(storage, JobKind.EMBED)
        assert queued(storage, JobKind.RETRAIN) == []
        assert run_kind(w, JobKind.EMBED) == embed.id  # Label Studio still answers 503
        job = status_of(storage, embed.id)
        assert job.status is JobStatus.QUEUED and job.attempts == 1  # to be retried
        assert "could not be fetched for now" in (job.last_error or "")
        assert queued(storage, JobKind.RETRAIN) == []  # nothing new to rank
        del server.fail["0a1b2c3d-f4.png"]
        assert run_kind(w, JobKind.EMBED) == embed.id
        assert status_of(storage, embed.id).status is JobStatus.SUCCEEDED
        [again] = queued(storage, JobKind.RETRAIN)  # the new vector needs a place in the queue
        assert run_kind(w, JobKind.RETRAIN) == again.id
    _, queue, _ = published(storage)
    assert 4 in {e.task_id for e in queue}
    with storage.read() as tx:
        assert tx.skipped_items(1) == []  # processed since: its skip is forgotten


def test_an_audio_project_learns_pitch_from_uploaded_wavs(storage: Storage,
                                                          fake_ls: FakeGateway,
                                                          tmp_path) -> None:
    tones = tone_wavs(8)  # 24 recordings
    with serve(tones, "wav") as server:
        p = Project(fake_ls, server, AUDIO_CONFIG, "audio", tones, "wav")
        assert p.schema.modality == "audio"
        resync_project(storage, fake_ls, 1)
        p.annotate(storage, list(range(1, 7)))
        w = worker(storage, fake_ls, server, tmp_path)
        assert status_of(storage, run(storage, w, JobKind.RETRAIN)).status is JobStatus.SUCCEEDED
    version, queue, predictions = published(storage)
    assert version is not None
    assert version.lineage["model"]["embedder"].startswith("labelloop/audio-builtin-v1")
    assert {e.task_id for e in queue} == set(range(7, 25))
    right = [read_label(p.schema, predictions[t].result, text=None) == (p.truth[t],)
             for t in range(7, 25)]
    assert np.mean(right) >= 0.9


def test_llm_prelabels_stand_aside_for_media_with_the_reason(storage: Storage,
                                                             fake_ls: FakeGateway, tmp_path,
                                                             client_factory, digits) -> None:
    with FakeLLM({}, labels=["0", "1", "7"]) as llm, serve(digits[:6], "png") as server:
        Project(fake_ls, server, IMAGE_CONFIG, "image", digits[:6], "png")
        resync_project(storage, fake_ls, 1)
        llm_kw = {"openai_base_url": llm.url, "openai_api_key": "sk-test-123456",
                  "llm_model": "fake-model"}
        w = worker(storage, fake_ls, server, tmp_path, **llm_kw)
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        # a text-only endpoint: the job's image check (red or blue?) finds it blind, once
        checked = llm.calls
        assert checked > 0
        client = client_factory(**llm_kw)
        res = client.post("/predict", json={"tasks": [{"id": 1, "data": {
            "image": server.value("0a1b2c3d-f1.png")}}], "project": "1.1"}).json()
        assert res["results"] == [[]]  # no model yet, and the LLM is not asked
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        assert llm.calls == checked  # not asked again: image pre-labels are off
        st = client.get("/api/projects/1/status").json()
    assert st["schema"]["modality"] == "image"
    assert st["llm_prelabels_off"].startswith(
        "image pre-labels are off for this LLM endpoint: the model does not see the images")
    with storage.read() as tx:
        assert tx.get_llm_labels(1) == {}
