"""A video project through the whole loop (issue 19 §6): ``<Choices>`` on ``<Video>`` is served
like an image project. The retrain fetches each clip from a loopback Label Studio that wants the
token, samples its frames, embeds them with the built-in image embedder, pools them, trains,
ranks, publishes the queue with valid pre-labels; /predict answers the model's stored
predictions; a clip that does not decode is a recorded skip with its reason, never a
prediction. The pre-label job shows the vision LLM ``LABELLOOP_LLM_VIDEO_FRAMES`` frames of
each clip as image parts."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_settings
from tests.fakes.label_studio import FakeGateway
from tests.fakes.vision_llm import FakeVisionLLM
from tests.loop.test_media_retrain import Project, published, run, serve, status_of, worker
from tests.loop.video_data import GOLD, VIDEO_CONFIG, scene_clips

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.labelconfig.kinds import read_label, validate_result
from labelloop.labelstudio.sync import resync_project
from labelloop.llm import LLMLabeler
from labelloop.storage.base import Storage


@pytest.fixture(scope="module")
def clips() -> list[tuple[bytes, str]]:
    return scene_clips(6)  # 18 two-second MP4 clips, classes interleaved


def broken(clips: list[tuple[bytes, str]]) -> bytes:
    """A clip cut in half: MP4 magic bytes, but the index (written last) is gone."""
    data = clips[0][0]
    return data[: len(data) // 2]


def test_a_video_project_learns_from_its_clips_and_publishes_its_queue(
        storage: Storage, fake_ls: FakeGateway, tmp_path, client_factory, clips) -> None:
    with serve(clips, "mp4", {"0a1b2c3d-f19.mp4": broken(clips)}) as server:
        p = Project(fake_ls, server, VIDEO_CONFIG, "video", clips + [(b"", "cat")], "mp4")
        assert p.schema.supported and p.schema.modality == "video"
        resync_project(storage, fake_ls, 1)
        w = worker(storage, fake_ls, server, tmp_path)
        assert status_of(storage, run(storage, w, JobKind.RETRAIN)).status is JobStatus.SUCCEEDED
        version, queue, _ = published(storage)
        assert version is not None and version.lineage["strategy"] == "cold_start"
        assert {e.task_id for e in queue} == set(range(1, 19))  # the broken clip left out
        with storage.read() as tx:
            skipped = {s.task_id: s.reason for s in tx.skipped_items(1, job_kind="retrain")}
        assert list(skipped) == [19] and skipped[19].startswith("media not decoded:")
        assert "video" in skipped[19]
        assert all(r.headers.get("authorization") == "Token media-test-key-123"
                   for r in server.requests)

        p.annotate(storage, list(range(1, 10)))  # three clips per class: past the cold start
        asked = len(server.requests)
        assert status_of(storage, run(storage, w, JobKind.RETRAIN)).status is JobStatus.SUCCEEDED
        assert len(server.requests) == asked  # every clip came from the media cache
        version, queue, predictions = published(storage)
        assert version is not None and version.lineage["strategy"] != "cold_start"
        assert version.lineage["model"]["embedder"].startswith(
            "labelloop/video-mean-v1:fps1-max32-")
        assert "+labelloop/image-builtin-v1" in version.lineage["model"]["embedder"]
        assert {e.task_id for e in queue} == set(range(10, 19))
        right = [read_label(p.schema, predictions[t].result, text=None) == (p.truth[t],)
                 for t in range(10, 19)]
        assert np.mean(right) >= 0.9
        assert 19 not in predictions  # never a made-up prediction
        sent = [pr for pr in fake_ls.predictions if pr["model_version"] == version.version]
        assert {pr["task"] for pr in sent} == set(range(10, 19))
        for pr in sent:
            validate_result(p.schema, pr["result"], text=None)
            assert pr["result"][0]["to_name"] == "clip"

        client = client_factory()
        tasks = [{"id": t, "data": {"video": server.value(f"0a1b2c3d-f{t}.mp4")}}
                 for t in (12, 13, 19)]
        res = client.post("/predict", json={"tasks": tasks, "project": "1.1"}).json()["results"]
        st = client.get("/api/projects/1/status").json()
    assert [r["result"] for r in res[:2]] == [predictions[12].result, predictions[13].result]
    assert res[2] == []  # the broken clip: no prediction
    assert st["supported"] and st["schema"]["modality"] == "video" and st["not_served"] == []


def test_video_prelabels_show_the_llm_frames_of_each_clip(storage: Storage,
                                                          fake_ls: FakeGateway, tmp_path,
                                                          client_factory, clips) -> None:
    items = clips[:6]
    with FakeVisionLLM(GOLD) as llm, serve(items, "mp4", {"0a1b2c3d-f7.mp4": broken(clips)}) \
            as server:
        p = Project(fake_ls, server, VIDEO_CONFIG, "video", items + [(b"", "cat")], "mp4")
        resync_project(storage, fake_ls, 1)
        llm_kw = {"openai_base_url": llm.url, "llm_model": "vision-model",
                  "llm_video_frames": 3, "llm_image_max_side": 32}
        w = worker(storage, fake_ls, server, tmp_path, **llm_kw)
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        labeler = LLMLabeler(make_settings(tmp_path, **llm_kw), storage)
        st = client_factory(**llm_kw).get("/api/projects/1/status").json()
    with storage.read() as tx:
        stored = tx.get_llm_labels(1, model_version=labeler.version_for(p.schema))
        skipped = {s.task_id: s.reason for s in tx.skipped_items(1)}
    assert sorted(stored) == list(range(1, 7))
    assert all(stored[t].labels == [p.truth[t]] for t in stored)
    assert skipped[7].startswith("video frames not decoded:")
    # each clip reached the LLM as 3 frames within the image bound (the probes are 32 x 32)
    frames = [size for _, _, size in llm.images if size != (32, 32)]
    assert frames == [(32, 24)] * 18
    assert st["llm_prelabels_off"] is None
