"""The dashboard says what an image project's config holds that labelloop does not serve, and
why the LLM does not pre-label it, in a real headless Chromium (issue 19)."""

from __future__ import annotations

from labelloop.labelconfig.schema import parse_label_config
from labelloop.storage.base import Storage
from tests.dashboard.browser import Page
from tests.dashboard.test_browser import _open, page, seeded  # noqa: F401 - fixtures

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
