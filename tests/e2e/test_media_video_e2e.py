"""A video-classification project on a real Label Studio 1.23.2 (issue 19 §6).

Synthesised MP4 and WebM clips are uploaded (Label Studio takes both); labelloop fetches them
with the token, shows a loopback vision LLM a few frames of each and embeds them as pooled frame
vectors; a clip cut in half is skipped with its reason; annotations retrain the model and Label
Studio serves the new queue.
"""

from __future__ import annotations

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
from tests.fakes.vision_llm import FakeVisionLLM
from tests.loop.video_data import GOLD, SCENES, VIDEO_CONFIG, scene, scene_clips
from tests.media.video_synth import encode

from labelloop.labelconfig.schema import parse_label_config

pytestmark = pytest.mark.e2e


def video_files() -> dict[str, bytes]:
    """12 MP4 and 3 WebM clips named ``<n>_<label>.<ext>``, and a clip cut in half."""
    clips = scene_clips(4, seed=3)
    files = {f"v{i:02d}_{label}.mp4": data for i, (data, label) in enumerate(clips)}
    rng = np.random.default_rng(4)
    for i, label in enumerate(SCENES, len(clips)):
        files[f"v{i:02d}_{label}.webm"] = encode(scene(label, rng), 20, codec="libvpx", fmt="webm")
    files["cut_cat.mp4"] = clips[0][0][: len(clips[0][0]) // 2]
    return files


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
            first = first_queue(st, pid, timeout=120)
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

            served = annotate_served(label_studio, pid, 6,
                                     lambda tid: choice_result("animal", "clip", truth[tid]))
            assert served == queue[:6]  # Label Studio served labelloop's order
            second, lineage, ranked = retrained(st, pid, first, n=6, timeout=120)
        finally:
            st.close()
    assert lineage["n_labeled"] == 6
    assert lineage["model"]["embedder"].startswith("labelloop/video-mean-v1:")
    assert set(ranked) == set(truth) - set(served)
    check_published_prelabels(label_studio, schema, pid, second, ranked, truth)
    assert len(list((proc.data_dir / "media").glob("*.bin"))) == 16  # fetched once, cached
    assert_clean_log(proc)
