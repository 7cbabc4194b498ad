"""The pre-label job on an image and an audio project (issue 19 §4): media fetched from a
loopback Label Studio with the token, shown to a loopback vision LLM through the real openai
client, labels stored under the media prompts' version and answered by /predict; a file that
is missing is a recorded skip, one whose fetch may pass later makes the job retry it; an
endpoint that refuses audio turns audio pre-labels off with the reason in /status."""

from __future__ import annotations

import io

from PIL import Image
from tests.conftest import make_settings
from tests.fakes.label_studio import FakeGateway
from tests.fakes.vision_llm import PALETTE, FakeVisionLLM
from tests.loop.media_data import tone_wavs
from tests.loop.test_media_retrain import (
    AUDIO_CONFIG,
    Project,
    run,
    serve,
    status_of,
    worker,
)

from labelloop.jobs.types import JobKind, JobStatus
from labelloop.labelstudio.sync import resync_project
from labelloop.llm import LLMLabeler
from labelloop.storage.base import Storage

COLOUR_CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="animal" toName="image"><Choice value="cat"/><Choice value="dog"/>
<Choice value="bird"/></Choices></View>"""
GOLD = {"red": "cat", "blue": "dog", "green": "bird"}


def pictures() -> list[tuple[bytes, str]]:
    out = []
    for i, colour in enumerate(["red", "blue", "green"] * 3):
        buf = io.BytesIO()
        Image.new("RGB", (300 + i, 200), PALETTE[colour]).save(buf, format="PNG")
        out.append((buf.getvalue(), GOLD[colour]))
    return out


def test_image_project_gets_vision_prelabels(storage: Storage, fake_ls: FakeGateway, tmp_path,
                                             client_factory) -> None:
    items = pictures()
    with FakeVisionLLM(GOLD) as llm, serve(items, "png") as server:
        p = Project(fake_ls, server, COLOUR_CONFIG, "image", items, "png")
        fake_ls.add_task(1, 10, {"image": server.value("gone.png")})  # not on the server
        server.fail["0a1b2c3d-f9.png"] = 503  # a proxy restarting: worth trying again
        resync_project(storage, fake_ls, 1)
        llm_kw = {"openai_base_url": llm.url, "llm_model": "vision-model"}
        w = worker(storage, fake_ls, server, tmp_path, **llm_kw)
        first = status_of(storage, run(storage, w, JobKind.PRELABEL))
        assert first.status is not JobStatus.SUCCEEDED  # task 9 is left for the next attempt
        assert "1 of 10 tasks got no answer" in (first.last_error or "")
        del server.fail["0a1b2c3d-f9.png"]
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        sent = [mime for mime, _, size in llm.images if size != (32, 32)]  # not the probes
        assert len(sent) == 9 and set(sent) == {"image/png"}
        labeler = LLMLabeler(make_settings(tmp_path, **llm_kw), storage)
        client = client_factory(**llm_kw)
        res = client.post("/predict", json={"tasks": [{"id": 2, "data": {
            "image": server.value("0a1b2c3d-f2.png")}}], "project": "1.1"}).json()
        st = client.get("/api/projects/1/status").json()
    with storage.read() as tx:
        stored = tx.get_llm_labels(1, model_version=labeler.version_for(p.schema))
        skips = tx.skip_summary(1).to_json()
    assert sorted(stored) == list(range(1, 10))
    assert all(stored[t].labels == [p.truth[t]] for t in stored)
    answer = res["results"][0]["result"]  # the stored LLM label (no model trained yet)
    assert answer[0]["value"]["choices"] == ["dog"] and answer[0]["score"] > 0.5
    assert st["llm_prelabels_off"] is None
    assert "media not fetched: missing" in str(skips)


def test_an_endpoint_refusing_audio_turns_audio_prelabels_off(storage: Storage,
                                                              fake_ls: FakeGateway,
                                                              tmp_path, client_factory) -> None:
    tones = tone_wavs(2)
    with FakeVisionLLM({}, audio="refuse", labels=["low", "mid", "high"]) as llm, \
            serve(tones, "wav") as server:
        Project(fake_ls, server, AUDIO_CONFIG, "audio", tones, "wav")
        resync_project(storage, fake_ls, 1)
        llm_kw = {"openai_base_url": llm.url, "llm_model": "text-model"}
        w = worker(storage, fake_ls, server, tmp_path, **llm_kw)
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        calls = llm.calls
        assert status_of(storage, run(storage, w, JobKind.PRELABEL)).status is \
            JobStatus.SUCCEEDED
        assert llm.calls == calls  # off: the job does not ask again
        st = client_factory(**llm_kw).get("/api/projects/1/status").json()
    assert st["llm_prelabels_off"].startswith("audio pre-labels are off for this LLM endpoint")
    assert "does not support audio input" in st["llm_prelabels_off"]
    with storage.read() as tx:
        assert tx.get_llm_labels(1) == {}


def test_a_video_is_shown_as_frames_spread_over_the_clip(storage: Storage, tmp_path) -> None:
    import numpy as np
    from tests.media.video_synth import encode

    from labelloop.labelconfig.schema import Choice, LabelSchema
    from labelloop.llm.media_requests import media_label_requests
    from labelloop.loop.prelabel_media import video_frames

    colours = [PALETTE["red"]] * 10 + [PALETTE["green"]] * 10 + [PALETTE["blue"]] * 10
    clip = encode(lambda i: np.full((48, 64, 3), colours[i], dtype=np.uint8), 30)
    schema = LabelSchema(supported=True, task_type="text_classification", from_name="c",
                         to_name="video", data_key="video", modality="video",
                         choices=(Choice("start", "start"), Choice("end", "end")))

    class One:
        def fetch_many(self, values, *, task_ids=None, project_id=None, kind=None):
            from labelloop.media.types import Media

            assert kind == "video"
            return [Media(clip, "video/mp4", "external", v, False, len(clip)) for v in values]

    with FakeVisionLLM({"red": "start", "blue": "end"}) as llm:
        settings = make_settings(tmp_path, openai_base_url=llm.url, llm_model="vision-model",
                                 llm_video_frames=3, llm_image_max_side=32)
        built = media_label_requests(One(), schema, [1], ["clip.mp4"],
                                     frames=video_frames(settings))
        media = built.requests[0].media
        assert media is not None and media.kind == "video" and len(media.items) == 3
        outcome = LLMLabeler(settings, storage).label_many_sync(schema, built.requests)[0]
        body = llm.requests[-1]
    assert outcome.labels == ["start"]  # the fake answers from the first frame
    seen = llm.images[-3:]  # the item's frames (the capability probes came first)
    assert [size for _, _, size in seen] == [(32, 24)] * 3  # frames within the bound
    parts = [p for m in body["messages"] if isinstance(m["content"], list)
             for p in m["content"] if p["type"] == "image_url"]
    assert len(parts) == 3
    firsts = [Image.open(io.BytesIO(raw)).convert("RGB").getpixel((8, 8)) for _, raw, _ in seen]
    nearest = [min(PALETTE, key=lambda c: sum((a - b) ** 2 for a, b in zip(PALETTE[c], px)))
               for px in firsts]
    assert nearest == ["red", "green", "blue"]
