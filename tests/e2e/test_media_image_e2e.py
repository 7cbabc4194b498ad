"""An image-classification project on a real Label Studio 1.23.2 (issue 19 §5).

Digit PNGs (sklearn's bundled digits, made here) are uploaded through Label Studio's import API,
so tasks hold relative ``/data/upload/…`` paths that only answer with ``Authorization: Token``.
labelloop connects, fetches every image with the token, embeds it with the built-in image
embedder (the text model is never needed), skips the upload that is not an image with its
reason, and publishes a cold-start queue; an annotator takes what Label Studio serves and labels
it through the API; the retrain learns, publishes a new version, and Label Studio serves its
ranking, with pre-labels that name the digits.
"""

from __future__ import annotations

import httpx
import pytest
from tests.e2e.media_harness import (
    annotate_served,
    assert_clean_log,
    check_published_prelabels,
    choice_result,
    first_queue,
    retrained,
    upload,
)
from tests.e2e.test_foundation_e2e import connect, storage_of
from tests.loop.media_data import digit_pngs

from labelloop.labelconfig.schema import parse_label_config

pytestmark = pytest.mark.e2e

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="digit" toName="image"><Choice value="0"/><Choice value="1"/><Choice value="7"/>
</Choices></View>"""


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
        first = first_queue(st, pid, timeout=180)
        with st.read() as tx:
            queue = [e.task_id for e in tx.get_queue(pid, first)]
            skipped = {s.task_id: s.reason for s in tx.skipped_items(pid)}
            lineage = tx.get_model_version(pid, first).lineage  # type: ignore[union-attr]
        assert set(queue) == set(truth)  # every image fetched with the token; not the broken one
        assert skipped[broken].startswith("media not fetched: wrong_type:")
        assert lineage["strategy"] == "cold_start"
        status = httpx.get(f"{proc.url}/api/projects/{pid}/status").json()
        assert status["schema"]["modality"] == "image" and status["skipped"]["count"] == 1

        served = annotate_served(label_studio, pid, 12,
                                 lambda tid: choice_result("digit", "image", truth[tid]))
        assert served == queue[:12]  # Label Studio served labelloop's cold-start order
        assert {truth[t] for t in served} == {"0", "1", "7"}  # a seed set spanning the classes
        second, lineage, ranked = retrained(st, pid, first, n=12, timeout=180)
        assert lineage["n_labeled"] == 12 and lineage["cv_accuracy"] is not None
        assert lineage["model"]["embedder"].startswith("labelloop/image-builtin-v1")
        assert label_studio.gateway.get_project(pid)["model_version"] == second
        assert set(ranked) == set(truth) - set(served)
        # the published pre-labels name the digits (the built-in features separate 0/1/7),
        # and Label Studio now serves the new ranking's head
        mine = check_published_prelabels(label_studio, parse_label_config(CONFIG), pid, second,
                                         ranked, truth)
        assert all(p["result"][0]["to_name"] == "image" for p in mine)
        # the uploads are in labelloop's media cache (the retrain read them from there): the
        # 30 images and the file that is not one (cached bytes, refused by their type)
        assert len(list((proc.data_dir / "media").glob("*.bin"))) == 31
    finally:
        st.close()
    assert_clean_log(proc)
