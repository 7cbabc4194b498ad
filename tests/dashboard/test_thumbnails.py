"""The dashboard's thumbnail endpoint (issue 19 §5): a task's picture fetched from a loopback
Label Studio that wants the token, decoded and drawn again by labelloop, bounded in size; the
token and Label Studio's URL never reach the browser; unknown or foreign tasks are 404s, media
that will not fetch or decode a clean ``no_thumbnail`` 404, SVG and HTML never served."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from labelloop.api.app import Overrides, create_app
from labelloop.events.projects import record_project
from labelloop.labelconfig.schema import parse_label_config
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.conftest import LOOPBACK_CLIENT, make_settings
from tests.loop.media_data import KEY, FakeLabelStudioMedia, digit_pngs
from tests.media.test_thumbnail import picture
from tests.media.video_synth import ENCODERS, encode

IMAGE = """<View><Image name="image" value="$image"/>
<Choices name="digit" toName="image"><Choice value="0"/><Choice value="1"/></Choices></View>"""
AUDIO = """<View><Audio name="audio" value="$audio"/>
<Choices name="pitch" toName="audio"><Choice value="low"/><Choice value="high"/></Choices></View>"""
TEXT = """<View><Text name="text" value="$text"/>
<Choices name="s" toName="text"><Choice value="a"/><Choice value="b"/></Choices></View>"""
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
       b"<script>alert(document.cookie)</script></svg>")
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
# task id -> file name served by the loopback Label Studio (None: a value set below)
FILES = {1: "aaaa0001-digit.png", 2: "aaaa0002-photo.png", 3: "aaaa0003-gone.png",
         4: "aaaa0004-busy.png", 5: "aaaa0005-drawing.svg", 6: "aaaa0006-page.png"}


@dataclass
class Setup:
    client: TestClient
    server: FakeLabelStudioMedia
    photo: np.ndarray
    digit: bytes
    photo_png: bytes


def image_project(storage: Storage, server: FakeLabelStudioMedia) -> None:
    """Project 1 (image, a published queue over tasks 1-8), project 2 (audio), project 3
    (text), each with tasks of its own."""
    values = {tid: server.value(name) for tid, name in FILES.items()}
    values[7] = "data:image/svg+xml;base64," + base64.b64encode(SVG).decode()
    values[8] = "http://169.254.169.254/latest/meta-data/x.png?sig=secret"
    with storage.write() as tx:
        record_project(tx, 1, label_config=IMAGE, title="Digits")
        tx.upsert_tasks(1, [{"id": tid, "data": {"image": v}} for tid, v in values.items()]
                        + [{"id": 9, "data": {"other": "no image"}}])
        record_project(tx, 2, label_config=AUDIO)
        tx.upsert_tasks(2, [{"id": 50, "data": {"audio": server.value("bbbb0050-tone.wav")}}])
        record_project(tx, 3, label_config=TEXT)
        tx.upsert_tasks(3, [{"id": 60, "data": {"text": "a text"}}])
        tx.save_queue([QueueEntry(1, "q1", tid, r, 1 - r / 10, "uncertainty")
                       for r, tid in enumerate(range(1, 10))])
        tx.save_project(1, published_version="q1")
        tx.save_queue([QueueEntry(2, "q2", 50, 0, 0.5, "cold_start")])
        tx.save_project(2, published_version="q2")


def media_server() -> FakeLabelStudioMedia:
    """The loopback Label Studio of :data:`FILES` (not started): a digit, a 400 × 300 photo, a
    missing upload, one answering 503, an SVG and an HTML page."""
    files = {FILES[1]: digit_pngs((7,), 1)[0][0], FILES[2]: picture(400, 300)[0],
             FILES[4]: picture(400, 300)[0], FILES[5]: SVG, FILES[6]: HTML}
    server = FakeLabelStudioMedia(1, files, missing=(FILES[3],))
    server.fail[FILES[4]] = 503
    return server


def media_app(storage: Storage, server: FakeLabelStudioMedia, tmp_path: Path) -> FastAPI:
    image_project(storage, server)
    s = make_settings(tmp_path, label_studio_url=server.url, label_studio_api_key=KEY)
    return create_app(s, Overrides(storage=storage, start_worker=False, preload_libraries=False))


@pytest.fixture
def setup(storage: Storage, tmp_path: Path) -> Iterator[Setup]:
    with media_server() as server, TestClient(media_app(storage, server, tmp_path),
                                              client=LOOPBACK_CLIENT) as client:
        photo_png, photo = picture(400, 300)
        yield Setup(client, server, photo, server.files[FILES[1]], photo_png)


def decoded(body: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(body))
    img.load()
    return img


def no_secret(response) -> None:
    text = response.content + repr(dict(response.headers)).encode()
    assert KEY.encode() not in text and b"Token" not in text


def test_a_task_image_comes_back_decoded_shrunk_and_drawn_again(setup: Setup) -> None:
    c, server = setup.client, setup.server
    r = c.get("/api/projects/1/tasks/2/thumbnail")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "private, max-age=300"
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    img = decoded(r.content)
    assert img.format == "JPEG" and img.size == (128, 96)  # 400 × 300 fitted to 128 px
    small = np.asarray(Image.fromarray(setup.photo).resize((128, 96), Image.Resampling.BOX),
                       dtype=np.float64)
    assert np.abs(np.asarray(img.convert("RGB"), dtype=np.float64) - small).mean() < 6
    assert r.content != setup.photo_png and len(r.content) < len(setup.photo_png)
    no_secret(r)
    # labelloop fetched it from Label Studio with the token (the loopback server wants it)
    asked = [q for q in server.requests if q.path.endswith(FILES[2])]
    assert asked and all(q.headers["authorization"] == f"Token {KEY}" for q in asked)
    small_one = c.get("/api/projects/1/tasks/1/thumbnail")
    assert small_one.status_code == 200 and decoded(small_one.content).size == (32, 32)


def test_the_same_file_is_drawn_once_and_an_etag_answers_304(setup: Setup) -> None:
    c = setup.client
    first = c.get("/api/projects/1/tasks/2/thumbnail")
    cache = c.app.state.thumbnail_cache  # type: ignore[attr-defined]
    assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
    again = c.get("/api/projects/1/tasks/2/thumbnail")
    assert again.content == first.content and (cache.hits, len(cache)) == (1, 1)
    etag = first.headers["etag"]
    same = c.get("/api/projects/1/tasks/2/thumbnail", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    other = c.get("/api/projects/1/tasks/1/thumbnail", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag


@pytest.mark.parametrize(("path", "code"), [
    ("/api/projects/1/tasks/50/thumbnail", "not_found"),    # project 2's task
    ("/api/projects/1/tasks/60/thumbnail", "not_found"),    # project 3's task
    ("/api/projects/1/tasks/12345/thumbnail", "not_found"),  # nobody's
    ("/api/projects/77/tasks/1/thumbnail", "unknown_project"),
])
def test_a_task_of_another_project_or_none_is_a_404(setup: Setup, path: str, code: str) -> None:
    r = setup.client.get(path)
    assert r.status_code == 404 and r.json()["error"] == code, r.text
    assert setup.server.requests == []  # nothing fetched for them


@pytest.mark.parametrize(("task", "reason", "transient"), [
    (3, "missing", False),       # Label Studio's 500 for a missing upload
    (4, "http_error", True),     # its 503: may pass
    (5, "wrong_type", False),    # an SVG upload: not an image by its bytes
    (6, "wrong_type", False),    # an HTML page named .png
    (7, "wrong_type", False),    # a data: URL of an SVG
    (8, "refused", False),       # a metadata address (SSRF)
])
def test_media_that_will_not_fetch_is_a_clean_no_thumbnail(setup: Setup, task: int,
                                                          reason: str, transient: bool) -> None:
    r = setup.client.get(f"/api/projects/1/tasks/{task}/thumbnail")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json", r.text
    body = r.json()
    assert body["error"] == "no_thumbnail" and body["detail"]["reason"] == reason, body
    assert body["detail"]["transient"] is transient
    assert "://" not in body["message"] and "secret" not in body["message"]  # no URL in it
    assert b"<svg" not in r.content and b"<script" not in r.content
    no_secret(r)


def test_projects_and_tasks_without_a_picture_say_why(setup: Setup) -> None:
    c = setup.client
    for path, reason in [("/api/projects/1/tasks/9/thumbnail", "no_value"),
                         ("/api/projects/2/tasks/50/thumbnail", "audio"),
                         ("/api/projects/3/tasks/60/thumbnail", "text")]:
        r = c.get(path)
        assert r.status_code == 404 and r.json()["error"] == "no_thumbnail", r.text
        assert r.json()["detail"]["reason"] == reason
    assert not any("tone" in q.path for q in setup.server.requests)  # nothing fetched for audio
    assert c.get("/api/projects/1/tasks/0/thumbnail").status_code == 422


def test_a_picture_that_will_not_decode_is_a_clean_no_thumbnail(setup: Setup) -> None:
    setup.server.files[FILES[1]] = setup.digit[:60]  # a PNG signature, then cut short
    r = setup.client.get("/api/projects/1/tasks/1/thumbnail")
    assert r.status_code == 404 and r.json()["detail"]["reason"] == "undecodable", r.text


def test_the_dashboard_data_names_files_and_thumbnails_never_the_stored_value(
        setup: Setup) -> None:
    r = setup.client.get("/api/projects/1/dashboard")
    assert r.status_code == 200, r.text
    head = r.json()["queue"]["head"]
    by_task = {e["task_id"]: e for e in head}
    assert by_task[2]["media"] == "image" and by_task[2]["text"] is None
    assert by_task[2]["name"] == FILES[2]
    assert by_task[2]["thumbnail"] == "api/projects/1/tasks/2/thumbnail"
    assert by_task[7]["name"] == "data:image/svg+xml"
    assert by_task[8]["name"] == "x.png"  # no host, no signature
    assert by_task[9]["thumbnail"] is None and by_task[9]["name"] is None
    no_secret(r)
    assert setup.server.url.encode() not in r.content and b"sig=secret" not in r.content
    assert b"/data/upload" not in r.content and b"169.254" not in r.content
    page = setup.client.get("/")
    no_secret(page)
    audio = setup.client.get("/api/projects/2/dashboard").json()["queue"]["head"]
    assert [(e["media"], e["name"], e["thumbnail"], e["text"]) for e in audio] == [
        ("audio", "bbbb0050-tone.wav", None, None)]


@pytest.mark.skipif(not ENCODERS, reason="this PyAV build encodes no test codec")
def test_a_video_task_shows_its_middle_frame(storage: Storage, tmp_path: Path) -> None:
    levels = [20, 120, 220]  # three seconds at 2 frames/s: the middle one is mid-grey
    clip = encode(lambda i: np.full((48, 64, 3), levels[i // 2], dtype=np.uint8), 6, fps=2)
    # a video schema as the label layer records it once <Choices> on <Video> is served
    schema = {**parse_label_config(IMAGE).to_json(), "modality": "video"}
    with FakeLabelStudioMedia(4, {"cccc0001-clip.mp4": clip}) as ls:
        with storage.write() as tx:
            tx.save_project(4, label_config=IMAGE, schema=schema, supported=True)
            tx.upsert_tasks(4, [{"id": 70, "data": {"image": ls.value("cccc0001-clip.mp4")}}])
        s = make_settings(tmp_path, label_studio_url=ls.url, label_studio_api_key=KEY)
        app = create_app(s, Overrides(storage=storage, start_worker=False,
                                      preload_libraries=False))
        with TestClient(app, client=LOOPBACK_CLIENT) as client:
            r = client.get("/api/projects/4/tasks/70/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
    img = decoded(r.content)
    assert img.size == (64, 48) and abs(np.asarray(img.convert("L")).mean() - 120) < 12
