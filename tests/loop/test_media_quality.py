"""An image project's second annotations, LLM committee member and agreement report run as for
text once LLM labels exist (stored here as the vision path will store them), and /setup accepts
image configs, served or not, saying what it serves."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tests.fakes.label_studio import FakeGateway
from tests.loop.media_data import digit_pngs
from tests.loop.test_media_retrain import (
    IMAGE_CONFIG,
    Project,
    published,
    run,
    serve,
    worker,
)

from labelloop.jobs.types import JobKind
from labelloop.labelstudio.sync import resync_project
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmLabel


def test_disputed_image_labels_go_back_to_a_second_annotator(storage: Storage,
                                                             fake_ls: FakeGateway, tmp_path,
                                                             client_factory) -> None:
    digits = digit_pngs((0, 1, 7), 14)  # 42 images
    with serve(digits, "png") as server:
        p = Project(fake_ls, server, IMAGE_CONFIG, "image", digits, "png")
        resync_project(storage, fake_ls, 1)
        for tid in range(1, 19):  # two annotators, right labels
            p.annotate(storage, [tid], user=1 + tid % 2)
        w = worker(storage, fake_ls, server, tmp_path)
        run(storage, w, JobKind.RETRAIN)  # stores the model's predictions (made before labels)
        with storage.write() as tx:
            tx.save_llm_labels([LlmLabel(1, tid, "llm-vision", [p.truth[tid]],
                                         {c: 0.95 if c == p.truth[tid] else 0.025
                                          for c in p.schema.labels}, 0.95, "logprobs")
                                for tid in range(19, 43)])
        p.annotate(storage, list(range(19, 22)), user=1, wrong=True)  # both machines disagree
        for tid in range(22, 28):  # doubly annotated: the two agree but on task 27
            p.annotate(storage, [tid], user=1)
            p.annotate(storage, [tid], user=2, wrong=tid == 27)
        run(storage, w, JobKind.RETRAIN)
    version, queue, _ = published(storage)
    assert version is not None
    reopened = [e.task_id for e in queue if e.reason == "second_opinion"]
    assert sorted(reopened) == [19, 20, 21] and [e.reason for e in queue[:3]] == \
        ["second_opinion"] * 3
    assert all(fake_ls.tasks[t].get("overlap") == 2 for t in reopened)
    # the LLM is a committee member, measured on the human labels (6 agreed, 3 disputed)
    assert version.lineage["llm_compared"] == 9
    assert version.lineage["llm_human_agreement"] == pytest.approx(5 / 9)
    client = client_factory()
    report = client.get("/api/projects/1/quality").json()
    assert report["n_human_labelled"] == 27 and report["llm"]["n"] == 9
    agreement = report["agreement"]
    assert agreement["annotations_per_task"] == {"1": 21, "2": 6}
    assert agreement["percent_agreement"] == pytest.approx(5 / 6)
    assert agreement["krippendorff_alpha"] is not None
    # the labelled dataset: one row per image, its best label from humans or the machines
    rows = [json.loads(line) for line in client.get("/api/projects/1/dataset").text.splitlines()]
    assert len(rows) == 42 and all(r["data"]["image"].startswith("/data/upload/1/") for r in rows)
    right = [r["label"] == p.truth[r["task_id"]] for r in rows if r["task_id"] > 27]
    assert sum(right) >= 0.9 * len(right)


def setup(client: TestClient, xml: str, project: str):
    return client.post("/setup", json={"project": project, "schema": xml,
                                       "hostname": "http://ls.example", "access_token": "t" * 12,
                                       "extra_params": None})


def test_setup_serves_image_audio_and_video_choices_and_reports_what_it_does_not(
        client: TestClient) -> None:
    boxes_too = IMAGE_CONFIG.replace("</View>", '<RectangleLabels name="box" toName="image">'
                                     '<Label value="cat"/></RectangleLabels></View>')
    assert setup(client, boxes_too, "1.17").status_code == 200
    st = client.get("/api/projects/1/status").json()
    assert st["supported"] and st["schema"]["modality"] == "image"
    assert st["not_served"] == [("RectangleLabels 'box' on Image: bounding boxes are not served "
                                "yet")]
    assert st["llm_prelabels_off"] is None  # no LLM configured: nothing to say
    audio = IMAGE_CONFIG.replace("<Image", "<Audio").replace('value="$image"', 'value="$a"')
    assert setup(client, audio, "2.17").status_code == 200
    st = client.get("/api/projects/2/status").json()
    assert st["supported"] and st["schema"]["modality"] == "audio"
    video = IMAGE_CONFIG.replace("<Image", "<Video").replace(
        "</View>", '<VideoRectangle name="box" toName="image"/></View>')
    assert setup(client, video, "3.17").status_code == 200
    st = client.get("/api/projects/3/status").json()
    assert st["supported"] and st["schema"]["modality"] == "video"
    assert st["unsupported_reason"] is None
    assert st["not_served"] == ["VideoRectangle 'box' on Video: video boxes are not served yet"]
    boxes_only = '<View><Video name="v" value="$v"/><VideoRectangle name="b" toName="v"/></View>'
    assert setup(client, boxes_only, "4.17").status_code == 200
    st = client.get("/api/projects/4/status").json()
    assert not st["supported"] and "video boxes are not served yet" in st["unsupported_reason"]
