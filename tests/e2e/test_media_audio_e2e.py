"""An audio-classification project on a real Label Studio 1.23.2 (issue 19 §5).

Synthesised WAV tones (three pitches per class) and a file named ``.wav`` that is text are
uploaded; a loopback LLM hears each tone's pitch through ``input_audio`` and names its class;
the text file is skipped by its bytes; annotations retrain the model on the built-in audio
embedder and Label Studio serves the new queue.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import httpx
import numpy as np
import pytest
from tests.e2e.media_harness import (
    annotate_served,
    assert_clean_log,
    check_published_prelabels,
    choice_result,
    first_queue,
    n_llm_labels,
    retrained,
    upload,
)
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_behaviour import request_labels
from tests.fakes.vision_llm import FakeVisionLLM

from labelloop.labelconfig.schema import parse_label_config

pytestmark = pytest.mark.e2e

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
            first = first_queue(st, pid, timeout=120)
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

            served = annotate_served(label_studio, pid, 6,
                                     lambda tid: choice_result("pitch", "audio", truth[tid]))
            assert served == queue[:6]  # Label Studio served labelloop's cold-start order
            assert {truth[t] for t in served} == set(PITCH_CLASSES)
            second, lineage, ranked = retrained(st, pid, first, n=6, timeout=120)
        finally:
            st.close()
    assert lineage["n_labeled"] == 6 and lineage["cv_accuracy"] is not None
    assert lineage["model"]["embedder"].startswith("labelloop/audio-builtin-v1:")
    assert set(ranked) == set(truth) - set(served)
    check_published_prelabels(label_studio, schema, pid, second, ranked, truth)
    assert len(list((proc.data_dir / "media").glob("*.bin"))) == 19  # fetched once, cached
    assert_clean_log(proc)
