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
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.loop.media_data import digit_pngs

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
                   files=[(f"f{i}", (name, data, "image/png"))
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

    proc = connect(label_studio, labelloop_process, pid, LABELLOOP_BATCH_SIZE="10",
                   LABELLOOP_RETRAIN_EVERY_N="9", LABELLOOP_COLD_START_MIN_PER_CLASS="2")
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
        for _ in range(9):
            task = label_studio.gateway.next_task(pid)
            served.append(task["id"])
            label_studio.sdk.annotations.create(id=task["id"],
                                                result=digit_result(truth[task["id"]]))
        assert served == queue[:9]  # Label Studio served labelloop's cold-start order
        assert {truth[t] for t in served} == {"0", "1", "7"}  # a seed set spanning the classes
        second = wait_for("the retrain after 9 labels",
                          lambda: (v := published(st, pid)) != first and v, timeout=180)
        wait_for("jobs to settle", lambda: idle(st), timeout=180)
        with st.read() as tx:
            lineage = tx.get_model_version(pid, second).lineage  # type: ignore[union-attr]
            ranked = [e.task_id for e in tx.get_queue(pid, second)]
        assert lineage["n_labeled"] == 9 and lineage["cv_accuracy"] is not None
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
