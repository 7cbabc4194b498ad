"""An image- and a video-classification project on a real Label Studio 1.23.2 (issue 19 §5, §6).

Digit PNGs (sklearn's bundled digits, made here) are uploaded through Label Studio's import API,
so tasks hold relative ``/data/upload/…`` paths that only answer with ``Authorization: Token``.
labelloop connects, fetches every image with the token, embeds it with the built-in image
embedder (the text model is never needed), skips the upload that is not an image with its
reason, and publishes a cold-start queue; an annotator takes what Label Studio serves and labels
it through the API; the retrain learns, publishes a new version, and Label Studio serves its
ranking, with pre-labels that name the digits.

The video project uploads synthesised MP4 and WebM clips (Label Studio takes both), which
labelloop fetches with the token, shows to a loopback vision LLM as frames and embeds as pooled
frame vectors; a clip cut in half is skipped with its reason; annotations retrain the model and
Label Studio serves the new queue.

The audio project uploads synthesised WAV tones (three pitches per class) and a file named
``.wav`` that is text; a loopback LLM hears each tone's pitch through ``input_audio`` and names
its class; the text file is skipped by its bytes; annotations retrain the model on the built-in
audio embedder and Label Studio serves the new queue.
"""

from __future__ import annotations

import io
import mimetypes
import wave
from typing import Any

import httpx
import numpy as np
import pytest
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_behaviour import request_labels
from tests.fakes.vision_llm import FakeVisionLLM
from tests.loop.media_data import digit_pngs
from tests.loop.video_data import GOLD, SCENES, VIDEO_CONFIG, scene, scene_clips
from tests.media.video_synth import encode

from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import parse_label_config

pytestmark = pytest.mark.e2e

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="digit" toName="image"><Choice value="0"/><Choice value="1"/><Choice value="7"/>
</Choices></View>"""


def digit_result(label: str) -> list[dict]:
    return [{"from_name": "digit", "to_name": "image", "type": "choices",
             "value": {"choices": [label]}}]


def upload(label_studio, project_id: int, files: dict[str, bytes]) -> list[int]:
    """Multipart upload through the import API; the new task ids."""
    r = httpx.post(f"{label_studio.url}/api/projects/{project_id}/import",
                   params={"return_task_ids": "true"},
                   headers={"Authorization": f"Token {label_studio.token}"},
                   files=[(f"f{i}", (name, data, mimetypes.guess_type(name)[0] or "image/png"))
                          for i, (name, data) in enumerate(files.items())], timeout=60)
    assert r.status_code == 201, r.text
    return list(r.json()["task_ids"])


def test_an_uploaded_image_project_runs_the_loop(label_studio, labelloop_process) -> None:
    digits = digit_pngs((0, 1, 7), 10)  # 30 images
    files = {f"d{i:02d}_{label}.png": png for i, (png, label) in enumerate(digits)}
    files["broken.png"] = b"not an image at all, but named .png"
    project = label_studio.sdk.projects.create(title="e2e digits", label_config=CONFIG)
    pid = project.id
    ids = upload(label_studio, pid, files)
    assert len(ids) == 31
    tasks = {t["id"]: t for t in label_studio.gateway.iter_tasks(pid)}
    # what Label Studio stores: a relative upload path behind its token
    truth = {tid: t["data"]["image"].rsplit("_", 1)[1][0] for tid, t in tasks.items()
             if not t["data"]["image"].endswith("broken.png")}
    broken = next(tid for tid, t in tasks.items() if t["data"]["image"].endswith("broken.png"))
    assert all(t["data"]["image"].startswith(f"/data/upload/{pid}/") for t in tasks.values())
    assert httpx.get(label_studio.url + tasks[broken]["data"]["image"]).status_code == 401

    proc = connect(label_studio, labelloop_process, pid, LABELLOOP_BATCH_SIZE="12",
                   LABELLOOP_RETRAIN_EVERY_N="12", LABELLOOP_COLD_START_MIN_PER_CLASS="2")
    st = storage_of(proc)
    try:
        first = wait_for("the first published queue", lambda: published(st, pid), timeout=180)
        wait_for("jobs to settle", lambda: idle(st), timeout=180)
        with st.read() as tx:
            queue = [e.task_id for e in tx.get_queue(pid, first)]
            skipped = {s.task_id: s.reason for s in tx.skipped_items(pid)}
            lineage = tx.get_model_version(pid, first).lineage  # type: ignore[union-attr]
        assert set(queue) == set(truth)  # every image fetched with the token; not the broken one
        assert skipped[broken].startswith("media not fetched: wrong_type:")
        assert lineage["strategy"] == "cold_start"
        status = httpx.get(f"{proc.url}/api/projects/{pid}/status").json()
        assert status["schema"]["modality"] == "image" and status["skipped"]["count"] == 1

        served: list[int] = []
        for _ in range(12):
            task = label_studio.gateway.next_task(pid)
            served.append(task["id"])
            label_studio.sdk.annotations.create(id=task["id"],
                                                result=digit_result(truth[task["id"]]))
        assert served == queue[:12]  # Label Studio served labelloop's cold-start order
        assert {truth[t] for t in served} == {"0", "1", "7"}  # a seed set spanning the classes
        second = wait_for("the retrain after 12 labels",
                          lambda: (v := published(st, pid)) != first and v, timeout=180)
        wait_for("jobs to settle", lambda: idle(st), timeout=180)
        with st.read() as tx:
            lineage = tx.get_model_version(pid, second).lineage  # type: ignore[union-attr]
            ranked = [e.task_id for e in tx.get_queue(pid, second)]
        assert lineage["n_labeled"] == 12 and lineage["cv_accuracy"] is not None
        assert lineage["model"]["embedder"].startswith("labelloop/image-builtin-v1")
        assert label_studio.gateway.get_project(pid)["model_version"] == second
        assert set(ranked) == set(truth) - set(served)
        # the published pre-labels name the digits (the built-in features separate 0/1/7)
        preds = httpx.get(f"{label_studio.url}/api/predictions/", params={"project": pid},
                          headers={"Authorization": f"Token {label_studio.token}"},
                          timeout=60).json()
        mine = [p for p in preds if p["model_version"] == second and p["result"]]
        right = [p["result"][0]["value"]["choices"] == [truth[p["task"]]] for p in mine]
        assert len(mine) == len(ranked) and sum(right) >= 0.85 * len(right)
        assert all(p["result"][0]["to_name"] == "image" for p in mine)
        # and Label Studio now serves the new ranking's head
        nxt = label_studio.gateway.next_task(pid)
        assert nxt["id"] == ranked[0]
        # the uploads are in labelloop's media cache (the retrain read them from there): the
        # 30 images and the file that is not one (cached bytes, refused by their type)
        assert len(list((proc.data_dir / "media").glob("*.bin"))) == 31
    finally:
        st.close()
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]


def video_files() -> dict[str, bytes]:
    """12 MP4 and 3 WebM clips named ``<n>_<label>.<ext>``, and a clip cut in half."""
    clips = scene_clips(4, seed=3)
    files = {f"v{i:02d}_{label}.mp4": data for i, (data, label) in enumerate(clips)}
    rng = np.random.default_rng(4)
    for i, label in enumerate(SCENES, len(clips)):
        files[f"v{i:02d}_{label}.webm"] = encode(scene(label, rng), 20, codec="libvpx", fmt="webm")
    files["cut_cat.mp4"] = clips[0][0][: len(clips[0][0]) // 2]
    return files


def n_llm_labels(st, project_id: int) -> int:
    with st.read() as tx:
        return sum(lab.labels is not None for lab in tx.get_llm_labels(project_id).values())


def check_published_prelabels(label_studio, schema, pid: int, version: str,
                              ranked: list[int], truth: dict[int, str]) -> None:
    """The retrain's pre-labels in Label Studio: one valid prediction per ranked task, at least
    85 % naming the true class, and the queue's head is what Label Studio serves next."""
    preds = httpx.get(f"{label_studio.url}/api/predictions/", params={"project": pid},
                      headers={"Authorization": f"Token {label_studio.token}"}, timeout=60).json()
    mine = [p for p in preds if p["model_version"] == version and p["result"]]
    assert len(mine) == len(ranked) and {p["task"] for p in mine} == set(ranked)
    for p in mine:
        validate_result(schema, p["result"], text=None)
    right = [p["result"][0]["value"]["choices"] == [truth[p["task"]]] for p in mine]
    assert sum(right) >= 0.85 * len(right)
    assert label_studio.gateway.next_task(pid)["id"] == ranked[0]


def test_an_uploaded_video_project_gets_vision_prelabels_and_its_queue(
        label_studio, labelloop_process) -> None:
    files = video_files()
    project = label_studio.sdk.projects.create(title="e2e clips", label_config=VIDEO_CONFIG)
    pid = project.id
    assert len(upload(label_studio, pid, files)) == 16
    tasks = {t["id"]: t for t in label_studio.gateway.iter_tasks(pid)}
    assert all(t["data"]["video"].startswith(f"/data/upload/{pid}/") for t in tasks.values())
    cut = next(tid for tid, t in tasks.items() if t["data"]["video"].endswith("cut_cat.mp4"))
    truth = {tid: t["data"]["video"].rsplit("_", 1)[1].split(".")[0]
             for tid, t in tasks.items() if tid != cut}
    assert httpx.get(label_studio.url + tasks[cut]["data"]["video"]).status_code == 401
    schema = parse_label_config(VIDEO_CONFIG)

    with FakeVisionLLM(GOLD) as llm:
        proc = connect(label_studio, labelloop_process, pid, OPENAI_BASE_URL=llm.url,
                       OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="vision-model",
                       LABELLOOP_LLM_VIDEO_FRAMES="2", LABELLOOP_BATCH_SIZE="10",
                       LABELLOOP_RETRAIN_EVERY_N="6", LABELLOOP_COLD_START_MIN_PER_CLASS="2")
        st = storage_of(proc)
        try:
            wait_for("every clip's LLM label", lambda: n_llm_labels(st, pid) == 15, timeout=120)
            first = wait_for("the first published queue", lambda: published(st, pid),
                             timeout=120)
            wait_for("jobs to settle", lambda: idle(st), timeout=120)
            with st.read() as tx:
                llm_labels = tx.get_llm_labels(pid)
                queue = [e.task_id for e in tx.get_queue(pid, first)]
                skipped = [s.reason for s in tx.skipped_items(pid) if s.task_id == cut]
            # the vision LLM saw 2 frames of each clip (MP4 and WebM) and named its scene
            assert {t: lab.labels for t, lab in llm_labels.items() if lab.labels} == \
                {t: [label] for t, label in truth.items()}
            frames = [size for _, _, size in llm.images if size != (32, 32)]  # not the probes
            assert len(frames) == 2 * 15 and set(frames) == {(64, 48)}
            assert set(queue) == set(truth)  # every clip fetched with the token; not the cut one
            assert skipped and all("decoded" in why for why in skipped)
            status = httpx.get(f"{proc.url}/api/projects/{pid}/status").json()
            assert status["supported"] and status["schema"]["modality"] == "video"
            assert status["llm_prelabels_off"] is None

            served: list[int] = []
            for _ in range(6):
                task = label_studio.gateway.next_task(pid)
                served.append(task["id"])
                label_studio.sdk.annotations.create(id=task["id"], result=[{
                    "from_name": "animal", "to_name": "clip", "type": "choices",
                    "value": {"choices": [truth[task["id"]]]}}])
            assert served == queue[:6]  # Label Studio served labelloop's order
            second = wait_for("the retrain after 6 labels",
                              lambda: (v := published(st, pid)) != first and v, timeout=120)
            wait_for("jobs to settle", lambda: idle(st), timeout=120)
            with st.read() as tx:
                lineage = tx.get_model_version(pid, second).lineage  # type: ignore[union-attr]
                ranked = [e.task_id for e in tx.get_queue(pid, second)]
        finally:
            st.close()
    assert lineage["n_labeled"] == 6
    assert lineage["model"]["embedder"].startswith("labelloop/video-mean-v1:")
    assert set(ranked) == set(truth) - set(served)
    check_published_prelabels(label_studio, schema, pid, second, ranked, truth)
    assert len(list((proc.data_dir / "media").glob("*.bin"))) == 16  # fetched once, cached
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]


AUDIO_CONFIG = """<View><Audio name="audio" value="$audio"/>
<Choices name="pitch" toName="audio"><Choice value="low"/><Choice value="mid"/>
<Choice value="high"/></Choices></View>"""
PITCH_CLASSES = {"low": (220.0, 262.0, 311.0), "mid": (740.0, 880.0, 1047.0),
                 "high": (2349.0, 2794.0, 3322.0)}  # Hz: three notes per class


def pitched_wavs(per_pitch: int, *, seed: int) -> dict[str, bytes]:
    """0.3 s mono 16 kHz WAVs named ``a<n>_<label>.wav``: each class's notes, per-file phase,
    level and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(4800) / 16000
    files: dict[str, bytes] = {}
    for _ in range(per_pitch):
        for label, notes in PITCH_CLASSES.items():
            for hz in notes:
                x = rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6.3))
                x += rng.normal(0, 0.01, t.size)
                buf = io.BytesIO()
                with wave.open(buf, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(16000)
                    w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
                files[f"a{len(files):02d}_{label}.wav"] = buf.getvalue()
    return files


class PitchLLM(FakeVisionLLM):
    """Hears a tone's pitch (the spectrum's peak, as the nearest note of :data:`PITCH_CLASSES`)
    and names its class; labelloop's capability probe (tone or silence?) is heard as before."""

    def __init__(self) -> None:
        super().__init__({f"{hz:.0f}hz": label for label, notes in PITCH_CLASSES.items()
                          for hz in notes})
        self._probe = False

    async def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
        self._probe = "tone" in (request_labels(body)[0] or ())  # read before any await
        return await super()._chat(body)

    def _listen(self, part: dict[str, Any]) -> tuple[str, int]:
        name, tokens = super()._listen(part)
        if self._probe or name != "tone":
            return name, tokens
        with wave.open(io.BytesIO(self.audio[-1][1])) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
            rate = w.getframerate()
        peak = np.argmax(np.abs(np.fft.rfft(x))) * rate / x.size
        hz = min((h for notes in PITCH_CLASSES.values() for h in notes),
                 key=lambda h: abs(h - peak))
        return f"{hz:.0f}hz", tokens


def test_an_uploaded_audio_project_gets_prelabels_and_its_queue(
        label_studio, labelloop_process) -> None:
    files = pitched_wavs(2, seed=5)  # 18 tones
    files["notes.wav"] = b"meeting notes, saved as .wav by mistake\n" * 20
    project = label_studio.sdk.projects.create(title="e2e tones", label_config=AUDIO_CONFIG)
    pid = project.id
    assert len(upload(label_studio, pid, files)) == 19
    tasks = {t["id"]: t for t in label_studio.gateway.iter_tasks(pid)}
    assert all(t["data"]["audio"].startswith(f"/data/upload/{pid}/") for t in tasks.values())
    bad = next(tid for tid, t in tasks.items() if t["data"]["audio"].endswith("notes.wav"))
    truth = {tid: t["data"]["audio"].rsplit("_", 1)[1].split(".")[0]
             for tid, t in tasks.items() if tid != bad}
    assert httpx.get(label_studio.url + tasks[bad]["data"]["audio"]).status_code == 401
    schema = parse_label_config(AUDIO_CONFIG)

    with PitchLLM() as llm:
        proc = connect(label_studio, labelloop_process, pid, OPENAI_BASE_URL=llm.url,
                       OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="audio-model",
                       LABELLOOP_BATCH_SIZE="10", LABELLOOP_RETRAIN_EVERY_N="6",
                       LABELLOOP_COLD_START_MIN_PER_CLASS="2")
        st = storage_of(proc)
        try:
            wait_for("every tone's LLM label", lambda: n_llm_labels(st, pid) == 18, timeout=120)
            first = wait_for("the first published queue", lambda: published(st, pid),
                             timeout=120)
            wait_for("jobs to settle", lambda: idle(st), timeout=120)
            with st.read() as tx:
                llm_labels = tx.get_llm_labels(pid)
                queue = [e.task_id for e in tx.get_queue(pid, first)]
                skipped = {s.task_id: s.reason for s in tx.skipped_items(pid)}
            # the LLM heard each WAV (sent as input_audio) and named its class by its pitch
            assert {t: lab.labels for t, lab in llm_labels.items() if lab.labels} == \
                {t: [label] for t, label in truth.items()}
            heard = [raw for fmt, raw in llm.audio if fmt == "wav" and raw in files.values()]
            assert len(heard) == 18
            assert set(queue) == set(truth)  # every tone fetched with the token; not the text
            assert skipped[bad].startswith("media not fetched: wrong_type:")
            status = httpx.get(f"{proc.url}/api/projects/{pid}/status").json()
            assert status["supported"] and status["schema"]["modality"] == "audio"
            assert status["llm_prelabels_off"] is None and status["skipped"]["count"] == 1

            served: list[int] = []
            for _ in range(6):
                task = label_studio.gateway.next_task(pid)
                served.append(task["id"])
                label_studio.sdk.annotations.create(id=task["id"], result=[{
                    "from_name": "pitch", "to_name": "audio", "type": "choices",
                    "value": {"choices": [truth[task["id"]]]}}])
            assert served == queue[:6]  # Label Studio served labelloop's cold-start order
            assert {truth[t] for t in served} == set(PITCH_CLASSES)
            second = wait_for("the retrain after 6 labels",
                              lambda: (v := published(st, pid)) != first and v, timeout=120)
            wait_for("jobs to settle", lambda: idle(st), timeout=120)
            with st.read() as tx:
                lineage = tx.get_model_version(pid, second).lineage  # type: ignore[union-attr]
                ranked = [e.task_id for e in tx.get_queue(pid, second)]
        finally:
            st.close()
    assert lineage["n_labeled"] == 6 and lineage["cv_accuracy"] is not None
    assert lineage["model"]["embedder"].startswith("labelloop/audio-builtin-v1:")
    assert set(ranked) == set(truth) - set(served)
    check_published_prelabels(label_studio, schema, pid, second, ranked, truth)
    assert len(list((proc.data_dir / "media").glob("*.bin"))) == 19  # fetched once, cached
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]
