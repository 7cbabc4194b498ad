"""The dashboard of media projects in a real headless Chromium (issue 19): it says what an image
project's config holds that labelloop does not serve, and its queue head shows labelloop's
thumbnails of the tasks' images (placeholders for audio and for media that will not fetch)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.labelconfig.schema import parse_label_config
from labelloop.storage.base import Storage
from tests.dashboard.browser import Chromium, LiveServer, Page
from tests.dashboard.test_browser import ARTIFACTS, _open, page, seeded  # noqa: F401 - fixtures
from tests.dashboard.test_thumbnails import FILES, media_app, media_server
from tests.loop.media_data import KEY, FakeLabelStudioMedia

IMAGE = """<View><Image name="image" value="$image"/>
<Choices name="label" toName="image"><Choice value="cat"/><Choice value="dog"/></Choices>
<RectangleLabels name="box" toName="image"><Label value="cat"/></RectangleLabels></View>"""


def test_the_summary_says_what_is_not_served(page: tuple[Page, str],  # noqa: F811
                                             storage: Storage) -> None:
    p, url = page
    _open(p, f"{url}/#project=2")
    assert p.evaluate("document.querySelector('[data-not-served]')") is None  # text: no line
    schema = parse_label_config(IMAGE)
    with storage.write() as tx:
        tx.save_project(2, label_config=IMAGE, schema=schema.to_json(), supported=True)
    _open(p, f"{url}/?again#project=2")
    line = p.evaluate("document.querySelector('[data-not-served]').textContent")
    assert line == "Not served: RectangleLabels 'box' on Image: bounding boxes are not served yet."
    assert p.problems() == []


@pytest.fixture
def media_page(storage: Storage, tmp_path: Path
               ) -> Iterator[tuple[Page, str, FakeLabelStudioMedia]]:
    with media_server() as ls, LiveServer(media_app(storage, ls, tmp_path)) as server, \
            Chromium() as browser:
        yield browser.page(), server.url, ls


THUMBS = "[...document.querySelectorAll('img[data-thumbnail]')]"
SETTLED = (f"{THUMBS}.every(i => i.complete && i.naturalWidth > 0) && "
           "document.querySelectorAll('[data-table=queue] tbody tr').length === 9 && "
           f"{THUMBS}.length + document.querySelectorAll('[data-placeholder]').length === 9")


def test_the_queue_head_shows_labelloops_thumbnails_never_label_studio(
        media_page: tuple[Page, str, FakeLabelStudioMedia]) -> None:
    p, url, ls = media_page
    _open(p, f"{url}/#project=1")
    p.wait_for(SETTLED)
    shown = p.evaluate(f"{THUMBS}.map(i => [+i.dataset.thumbnail, i.src, i.naturalWidth, "
                       "i.naturalHeight, i.alt])")
    assert shown == [
        [1, f"{url}/api/projects/1/tasks/1/thumbnail", 32, 32, FILES[1]],
        [2, f"{url}/api/projects/1/tasks/2/thumbnail", 128, 96, FILES[2]],  # 400 × 300 shrunk
    ]
    # the tasks whose media will not fetch (or is no image, or has no value) show a placeholder
    placeholders = p.evaluate("[...document.querySelectorAll('[data-placeholder]')]"
                              ".map(e => +e.closest('tr').dataset.task)")
    assert sorted(placeholders) == [3, 4, 5, 6, 7, 8, 9]
    assert p.evaluate("document.querySelector('[data-table=queue] thead th:last-child')"
                      ".textContent") == "image"
    # the browser asked labelloop only; Label Studio's URL, paths and token never reached it
    asked = [e["params"]["request"]["url"] for e in p.events
             if e.get("method") == "Network.requestWillBeSent"]
    assert asked and all(u.startswith(url) for u in asked), asked
    html = p.evaluate("document.documentElement.outerHTML")
    for secret in (KEY, ls.url, "/data/upload", "169.254", "sig=secret"):
        assert secret not in html
    assert all(r.headers.get("authorization") == f"Token {KEY}" for r in ls.requests)
    # the only problems: the thumbnails that answered 404 (no_thumbnail), each seen as such
    problems = p.problems()
    failed = [re.fullmatch(r"log error: Failed to load resource: the server responded with a "
                           r"status of 404 \(Not Found\) " + re.escape(url)
                           + r"/api/projects/1/tasks/(\d)/thumbnail", x) for x in problems]
    assert all(failed), problems
    assert sorted(int(m.group(1)) for m in failed if m) == [3, 4, 5, 6, 7, 8]
    p.screenshot(ARTIFACTS / "dashboard-media.png")


def test_an_audio_project_shows_a_placeholder_and_asks_for_no_thumbnail(
        media_page: tuple[Page, str, FakeLabelStudioMedia]) -> None:
    p, url, ls = media_page
    _open(p, f"{url}/#project=2")
    cell = p.evaluate("(() => { const e = document.querySelector('[data-placeholder]'); "
                      "return [e.dataset.placeholder, e.textContent, "
                      "e.closest('td').textContent]; })()")
    assert cell == ["audio", "♪", "♪bbbb0050-tone.wav"]
    assert p.evaluate("document.querySelectorAll('img').length") == 0
    assert not any("thumbnail" in e["params"]["request"]["url"] for e in p.events
                   if e.get("method") == "Network.requestWillBeSent")
    assert ls.requests == [] and p.problems() == []
